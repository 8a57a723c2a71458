"""``followups import``: a calendar file (Google Calendar, Outlook, Apple Calendar,
Thunderbird, or this server's own export) into one user's calendars.

The work is :func:`server.services.importer.import_calendar`; this module reads
the file (or stdin), draws the progress bar and prints the summary: counts,
then one line per skipped object with its reason, so a user can fix or
ignore each. A file that does not parse changes nothing and is one error line
(exit 2); skips are not errors (exit 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from server.cli.common import Context, Progress, UsageError, emit_json
from server.services.errors import InvalidCalendarData
from server.services.importer import ImportReport, import_calendar

SUMMARY_WIDTH = 60


def _read(path: str) -> tuple[bytes, str]:
    """The file's bytes and the name to show; ``-`` is stdin."""
    if path == "-":
        return sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8"), "stdin"
    try:
        return Path(path).read_bytes(), path
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_WIDTH else text[:SUMMARY_WIDTH - 3] + "..."


def print_report(report: ImportReport, name: str) -> None:
    counts = report.counts()
    verb = "would import" if report.dry_run else "imported"
    print(f"{verb} {name} into {report.owner}'s calendars: {counts['created']} created, {counts['updated']} updated, "
          f"{counts['unchanged']} unchanged, {counts['skipped']} skipped"
          + (" (dry run: nothing was written)" if report.dry_run else ""))
    for item in report.skipped:
        print(f"skipped {item.uid or '(no UID)'} {_shown(item.summary) or '(no title)'!r}: {item.reason}")
    for outcome in ("created", "updated"):
        for item in getattr(report, outcome):
            for note in item.notes:
                print(f"note: {item.uid} {_shown(item.summary) or '(no title)'!r}: {note}")


def cmd_import(ctx: Context) -> int:
    data, name = _read(ctx.args.file)
    bar = Progress("importing")
    try:
        report = import_calendar(ctx.engine(), ctx.args.owner, data, progress=bar, dry_run=ctx.args.dry_run,
                                 max_object_bytes=ctx.settings.max_body)
    except InvalidCalendarData as exc:
        raise UsageError(f"{name} is not a calendar file this server can read: {exc}; nothing was imported") from None
    finally:
        bar.finish()
    if ctx.json:
        emit_json(report.as_dict())
    else:
        print_report(report, name)
    return 0


def register(sub: Any, parser_class: Any) -> None:
    """Add ``followups import`` to the `followups` parser."""
    p = sub.add_parser(
        "import", help="import a calendar file (.ics) into a user's calendars",
        description="Import the events and to-dos of an iCalendar file, as Google Calendar, Outlook, Apple "
                    "Calendar, Thunderbird or `followups export` write it, into USER's meetings (events) and "
                    "to-dos (tasks), with the same checks as a calendar client's upload. Importing the same file "
                    "again changes nothing; an object whose UID USER already has is updated when it differs. "
                    "Objects that cannot be stored (journal entries, free/busy, invalid data, another user's "
                    "meeting) are skipped, each with its reason. A file that does not parse changes nothing.",
        epilog="Exit codes: 0 the file was read (even with skips), 2 it does not parse or USER is unknown.")
    p.add_argument("file", metavar="FILE.ics", help="the calendar file; - reads standard input")
    p.add_argument("--owner", required=True, metavar="USER", help="the user whose calendars receive the follow-ups")
    p.add_argument("--dry-run", action="store_true",
                   help="report what would be created, updated, unchanged or skipped, writing nothing")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print the report as JSON for scripts: owner, dry_run, counts, and the created, updated, "
                        "unchanged and skipped objects (uid, summary, component; reason for skips; notes)")
    p.set_defaults(handler=cmd_import)
