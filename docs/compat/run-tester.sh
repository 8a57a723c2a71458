#!/bin/sh
# Run caldav-server-tester against a CalDAV server and write a report.
# Usage: run-tester.sh URL USER PASSWORD OUTFILE [CALENDAR_DISPLAYNAME [TASKS_CALENDAR_URL]]
#   Writes OUTFILE (flat feature list + verbose text report) and OUTFILE.json.
#   Give CALENDAR_DISPLAYNAME if the server refuses MKCALENDAR (uses that
#   existing calendar; only csc_* test objects are added/removed in it).
#   Give TASKS_CALENDAR_URL too if that calendar takes no VTODO: the run then
#   goes through tester_split_calendars.py (beside this script), which tells
#   the tester to keep its to-dos in that calendar.
# Requires caldav-server-tester and vobject on PATH/in the Python running it
# (pip install caldav-server-tester==1.7.0 vobject).
set -eu
[ $# -ge 4 ] || { echo "usage: $0 URL USER PASSWORD OUTFILE [CALENDAR [TASKS_URL]]" >&2; exit 2; }
URL=$1 USER=$2 PASS=$3 OUT=$4 CAL=${5:-} TASKS=${6:-}
HERE=$(cd "$(dirname "$0")" && pwd)
set -- --caldav-url "$URL" --caldav-username "$USER" --caldav-password "$PASS"
if [ -n "$CAL" ]; then set -- "$@" --caldav-calendar "$CAL"; fi
tester() {
  if [ -n "$TASKS" ]; then
    python "$HERE/tester_split_calendars.py" --tasks-calendar-url "$TASKS" "$@"
  else
    caldav-server-tester "$@"
  fi
}
{
  echo "# caldav-server-tester $(caldav-server-tester --version | awk '{print $NF}') against $URL ($(date -u +%FT%TZ))"
  if [ -n "$TASKS" ]; then echo "# to-dos kept in $TASKS (tester_split_calendars.py)"; fi
  echo "# Part 1: all probed features (--format hints)"
  tester "$@" --format hints
  echo
  echo "# Part 2: verbose report (--verbose --diff)"
  tester "$@" --verbose --diff
} > "$OUT" 2> "$OUT.stderr"
tester "$@" --format json > "$OUT.json" 2>> "$OUT.stderr"
echo "wrote $OUT $OUT.json (stderr in $OUT.stderr)"
