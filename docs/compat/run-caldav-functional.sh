#!/bin/sh
# Run the caldav library's functional tests (tests/test_caldav.py) against a
# CalDAV server that allows MKCALENDAR, and write a summary.
# Usage: run-caldav-functional.sh CALDAV_SRC URL USER PASSWORD OUTFILE [FEATURES]
#   CALDAV_SRC  an unpacked caldav source tree of the version installed
#               (pip download caldav==3.6.0 --no-binary :all: --no-deps; tar xzf)
#   FEATURES    the features the tests assume: a compatibility_hints profile
#               name (default radicale), or a YAML flow mapping such as
#               '{base: radicale, scheduling: {support: full}}'
#   Writes OUTFILE (summary: counts, then every test with its outcome and, for
#   failures and skips, the reason), OUTFILE.log (pytest output) and
#   OUTFILE.xml (JUnit XML).
# Requires, in the Python running it: caldav, pytest, pytest-asyncio, manuel,
# proxy.py, tzlocal, pyfakefs, httpx, httpxyz, vobject (caldav's "test" extra
# without xandikos and radicale), and caldav-server-tester for the one test
# that runs it (testCheckCompatibility).
# The tests create calendars named pythoncaldav-test* (and the tester's probe
# calendars) and delete them at the end. Do not point this at a production account.
set -eu
[ $# -ge 5 ] || { echo "usage: $0 CALDAV_SRC URL USER PASSWORD OUTFILE [FEATURES]" >&2; exit 2; }
SRC=$1 URL=$2 USER=$3 PASS=$4 OUT=$5 FEATURES=${6:-radicale}
HERE=$(cd "$(dirname "$0")" && pwd)
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
# The test suite reads its servers from tests/caldav_test_servers.yaml; this
# one names a single external server, taken from the environment.
{ cat <<'YAML'
test-servers:
  target:
    type: external
    enabled: true
    url: ${CALDAV_URL}
    username: ${CALDAV_USERNAME}
    password: ${CALDAV_PASSWORD}
YAML
  printf '    features: %s\n' "$FEATURES"
} > "$SRC/tests/caldav_test_servers.yaml"
cd "$SRC"
set +e
PYTHON_CALDAV_TEST_EMBEDDED=0 PYTHON_CALDAV_TEST_DOCKER=0 \
CALDAV_URL=$URL CALDAV_USERNAME=$USER CALDAV_PASSWORD=$PASS \
  python -m pytest tests/test_caldav.py -k TestForServer -p no:cacheprovider \
    -o asyncio_default_fixture_loop_scope=function -rA \
    --junitxml="$OUT.xml" > "$OUT.log" 2>&1
status=$?
set -e
python "$HERE/caldav_functional_summary.py" "$OUT.xml" \
  "caldav $(python -c 'import caldav; print(caldav.__version__)') tests/test_caldav.py against $URL, features $FEATURES ($(date -u +%FT%TZ)), pytest exit status $status" \
  > "$OUT"
echo "wrote $OUT (pytest output in $OUT.log, JUnit XML in $OUT.xml)"
