#!/bin/sh
# Run caldav-server-tester against a CalDAV server and write a report.
# Usage: run-tester.sh URL USER PASSWORD OUTFILE [CALENDAR_DISPLAYNAME]
#   Writes OUTFILE (flat feature list + verbose text report) and OUTFILE.json.
#   Give CALENDAR_DISPLAYNAME if the server refuses MKCALENDAR (uses that
#   existing calendar; only csc_* test objects are added/removed in it).
# Requires caldav-server-tester on PATH (pip install caldav-server-tester).
set -eu
[ $# -ge 4 ] || { echo "usage: $0 URL USER PASSWORD OUTFILE [CALENDAR]" >&2; exit 2; }
URL=$1 USER=$2 PASS=$3 OUT=$4 CAL=${5:-}
set -- --caldav-url "$URL" --caldav-username "$USER" --caldav-password "$PASS"
if [ -n "$CAL" ]; then set -- "$@" --caldav-calendar "$CAL"; fi
{
  echo "# caldav-server-tester $(caldav-server-tester --version | awk '{print $NF}') against $URL ($(date -u +%FT%TZ))"
  echo "# Part 1: all probed features (--format hints)"
  caldav-server-tester "$@" --format hints
  echo
  echo "# Part 2: verbose report (--verbose --diff)"
  caldav-server-tester "$@" --verbose --diff
} > "$OUT" 2> "$OUT.stderr"
caldav-server-tester "$@" --format json > "$OUT.json" 2>> "$OUT.stderr"
echo "wrote $OUT $OUT.json (stderr in $OUT.stderr)"
