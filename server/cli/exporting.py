"""``followups export``: a user's calendars or a record's Activities as one .ics file.

The file is what :mod:`server.services.export` writes (one VCALENDAR, each
VTIMEZONE once), to stdout or, atomically, to a file: a reader never sees
half an export, and a failed export leaves an earlier file as it was.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from server.cli.common import Context, Progress, UsageError, emit_json, lookup, parse_day
from server.services import diary, export
from server.services.transaction import transaction

RECORDS = export.RECORDS
LONG = 200
"""Follow-ups from which an export on a terminal draws a progress bar."""


def cmd_export(ctx: Context) -> int:
    a = ctx.args
    if a.out is None and ctx.json:
        raise UsageError("--json prints a summary of the file written: give -o FILE too "
                         "(without -o the calendar itself goes to stdout)")
    sel = _selection(ctx)
    bar = Progress("exporting")
    try:
        result = export.export(ctx.engine(), sel, progress=_throttled(bar))
    finally:
        bar.finish()
    data = result.text.encode("utf-8")
    if a.out is None:
        binary = getattr(sys.stdout, "buffer", None)
        if binary is None:  # stdout replaced by a text stream (a script calling main())
            sys.stdout.write(result.text)
            return 0
        sys.stdout.flush()
        binary.write(data)
        binary.flush()
        return 0
    write_atomically(Path(a.out), data)
    summary = {"file": str(a.out), "followups": result.followups, "components": result.components,
               "bytes": len(data)}
    if ctx.json:
        emit_json(summary)
    else:
        print(f"wrote {result.followups} follow-up(s) ({result.components} component(s), {len(data)} bytes) "
              f"to {a.out}")
    return 0


def _selection(ctx: Context) -> export.Selection:
    """The selection the options name, records looked up by name or id."""
    a = ctx.args
    start, end = _window(a.start, a.to)
    with transaction(ctx.engine(), write=False) as uow:
        if a.viewer is not None:
            uow.users.by_login(a.viewer)
        if a.user is not None:
            uow.users.by_login(a.user)
            what = "meetings" if a.meetings else "tasks" if a.tasks else "all"
            viewer = a.viewer if a.viewer is not None else a.user
            return export.Selection(viewer, what, owner=a.user, start=start, end=end)
        if a.meetings or a.tasks:
            raise UsageError("--meetings and --tasks choose among a user's calendars: use them with --user "
                             "(a record's export holds all its follow-ups)")
        repos: dict[str, Any] = {"company": uow.companies, "person": uow.persons, "sale": uow.sales,
                                 "project": uow.projects}
        for kind in RECORDS:
            value = getattr(a, kind)
            if value is not None:
                record = lookup(repos[kind].by_name, value.strip(), kind, kind)
                return export.Selection(a.viewer, kind, record_id=record.id, start=start, end=end)
    raise UsageError("name what to export: --user USER, or one of --company, --person, --sale, --project")


def _window(start_text: str | None, to_text: str | None) -> tuple[date | None, date | None]:
    """--from (inclusive) and --to (inclusive, as people say it) as the
    selection's [start, end)."""
    start = parse_day(start_text) if start_text is not None else None
    last = parse_day(to_text) if to_text is not None else None
    if start is not None:
        diary.check_day(start, f"--from {start_text}")
    if last is not None:
        diary.check_day(last, f"--to {to_text}")
    if start is not None and last is not None and last < start:
        raise UsageError(f"--to {to_text} is before --from {start_text}: give a --to on or after --from")
    return start, last + timedelta(days=1) if last is not None else None


def _throttled(bar: Progress) -> Any:
    """The bar, drawn about a hundred times, and only for a long export."""

    def progress(done: int, total: int) -> None:
        if total >= LONG and (done == total or done % max(1, total // 100) == 0):
            bar(done, total)

    return progress


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it
    over ``path`` (one step on POSIX): readers see the old file or the new,
    never a part. The file gets the permissions a new file normally gets."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"cannot write {path}: the folder {directory} does not exist")
    umask = os.umask(0)
    os.umask(umask)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def register(sub: Any, parser_class: Any) -> None:
    """Add ``followups export`` to the `followups` parser."""
    p = sub.add_parser(
        "export", help="write a user's calendars or a record's Activities as one .ics file",
        description="Write one iCalendar file (RFC 5545: one VCALENDAR, each time zone once) that any calendar "
                    "program imports: a user's meetings and/or to-dos and calls (--user), or every follow-up "
                    "of a company, person, sale or project, whoever owns it (its Activities). Private "
                    "follow-ups are shown in full only to whose eyes the export is for (--as): for --user, "
                    "the user themself; for a record, nobody unless --as names someone, so by default every "
                    "private follow-up is a busy block titled 'Private'. A recurring series that overlaps "
                    "the --from/--to window comes whole; an undated to-do comes in every window that ends "
                    "after it was created.",
        epilog="Examples: followups export --user anna -o anna.ics;  followups export --company 'Nordlys AS' "
               "--from 2026-01-01 --to 2026-12-31 > nordlys.ics")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--user", metavar="USER", help="export this user's calendars (login)")
    for kind in RECORDS:
        which.add_argument(f"--{kind}", metavar="NAME|ID", help=f"export the Activities of this {kind}")
    part = p.add_mutually_exclusive_group()
    part.add_argument("--meetings", action="store_true", help="with --user: only the meetings calendar")
    part.add_argument("--tasks", action="store_true", help="with --user: only the to-dos and calls")
    p.add_argument("--from", dest="start", metavar="DATE",
                   help="first day, YYYY-MM-DD, in the user's time zone (for a record: the --as user's, else UTC; "
                        "default: no limit)")
    p.add_argument("--to", metavar="DATE", help="last day, YYYY-MM-DD, included (default: no limit)")
    p.add_argument("--as", dest="viewer", metavar="USER",
                   help="whose privacy rights apply, a login (default: the --user; for a record nobody, so "
                        "private follow-ups are masked)")
    p.add_argument("-o", "--output", dest="out", metavar="FILE",
                   help="write to FILE (replaced in one step) instead of stdout")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="with -o: print a summary (file, followups, components, bytes) as JSON")
    p.set_defaults(handler=cmd_export)
