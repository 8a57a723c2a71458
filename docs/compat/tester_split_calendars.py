"""Run caldav-server-tester against a server whose calendars split components.

caldav-server-tester 1.7.0 looks for to-dos first in the calendar it was
given (``--caldav-calendar``), then in a calendar at the fixed id
``caldav-server-checker-calendar_tasks``, which it creates with MKCALENDAR if
it is missing.  followup-caldav refuses both by its contract (a VTODO in
``meetings`` answers 403 supported-calendar-component; MKCALENDAR answers
403), so the unmodified tester stops in its set-up.

This wrapper changes one thing: a request for the calendar id
``caldav-server-checker-calendar_tasks`` is answered with the URL given in
``--tasks-calendar-url`` (the user's existing VTODO calendar).  That is the
path the tester already takes for servers where to-dos need a calendar of
their own (it then reports ``save-load.todo.mixed-calendar`` unsupported);
everything else is the tester from PyPI, unchanged.

Usage:
    python tester_split_calendars.py --tasks-calendar-url URL [tester options]
"""

import sys

import caldav.collection
from caldav_server_tester.caldav_server_tester import check_server_compatibility

TASKS_ID = "caldav-server-checker-calendar_tasks"


def main(argv):
    if "--tasks-calendar-url" not in argv:
        sys.exit("usage: tester_split_calendars.py --tasks-calendar-url URL [caldav-server-tester options]")
    at = argv.index("--tasks-calendar-url")
    tasks_url = argv[at + 1]
    rest = argv[:at] + argv[at + 2:]
    original = caldav.collection.Principal.calendar

    def calendar(self, name=None, cal_id=None, cal_url=None):
        if cal_id == TASKS_ID:
            return original(self, cal_url=tasks_url)
        return original(self, name=name, cal_id=cal_id, cal_url=cal_url)

    caldav.collection.Principal.calendar = calendar
    check_server_compatibility.main(args=rest, prog_name="caldav-server-tester")


if __name__ == "__main__":
    main(sys.argv[1:])
