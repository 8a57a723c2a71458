"""``followups check [--repair]``: the calendars against the follow-ups, for administrators."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import IO, Any

from server.cli.common import Context, Progress, add_json
from server.services import check

EXIT_DIFFERS = 1
SLOW = 1.0
"""Seconds after which a walk draws its progress bar (when stderr is a terminal)."""

DESCRIPTION = """\
Verify that the calendars clients sync (the calendar projection) match the follow-ups, users and
resources in the store: every follow-up has exactly its objects (the owner's meeting or to-do,
each invited user's copy, each booked resource's booking) with the text it would be rendered
with now, no object is left without its follow-up, and revisions and sync tokens are
consistent; on SQLite the file's own integrity is checked too. Prints one line per problem
and a summary; exits 0 when all is well, 1 when something differs.

Run it after restoring a backup, after a crash or a kill -9 of the server or of a load,
after a disk filled up, after an upgrade of followup-caldav, when someone's calendar client
shows something the CRM does not, and from cron (e.g. weekly). It only reads, so it is safe
while the server runs; it walks the store in batches, in time proportional to the number of
follow-ups.

--repair re-renders what differs in one transaction, under the same locks as a client's
write, so it too may run while the server runs; repaired objects get new revisions and
clients fetch them on their next sync (a calendar whose revisions were inconsistent is
synced afresh by every client). It then checks again. A problem in the SQLite file itself
('integrity') cannot be repaired: restore a backup (docs/backup.md)."""


class _Slow:
    """A progress bar that appears only once the walk has taken :data:`SLOW` seconds."""

    def __init__(self, label: str) -> None:
        self.bar = Progress(label)
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if time.monotonic() - self.started >= SLOW:
            self.bar(done, total)

    def finish(self) -> None:
        self.bar.finish()


class _JsonList:
    """A JSON array of problems written as they are found, so memory stays flat."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.first = True

    def __call__(self, problem: check.Problem) -> None:
        self.out.write(("\n    " if self.first else ",\n    ") + json.dumps(problem.as_dict(), ensure_ascii=False))
        self.first = False


def _walk(ctx: Context, label: str, report: Any) -> check.Report:
    bar = _Slow(label)

    def found(problem: check.Problem) -> None:
        bar.finish()  # a problem's line goes below the bar, which is drawn again after it
        report(problem)

    try:
        return check.check(ctx.engine(), found, bar)
    finally:
        bar.finish()


def _repair(ctx: Context, found: check.Report) -> int:
    bar = _Slow("repairing")
    try:
        return check.repair(ctx.engine(), found.damage, bar)
    finally:
        bar.finish()


def _line(problem: check.Problem) -> None:
    print(problem.line())


def cmd_check(ctx: Context) -> int:
    out = sys.stdout
    if ctx.json:
        return _check_json(ctx, out)
    found = _walk(ctx, "checking", _line)
    print(found.summary())
    if found.unrepairable:
        print("the SQLite file itself is damaged: restore a backup (see docs/backup.md)")
    if found.ok or not ctx.args.repair:
        return 0 if found.ok else EXIT_DIFFERS
    repaired = _repair(ctx, found)
    print(f"repaired {repaired} follow-up(s), object(s) and collection(s); checking again")
    after = _walk(ctx, "checking again", _line)
    print(after.summary())
    return 0 if after.ok else EXIT_DIFFERS


def _check_json(ctx: Context, out: IO[str]) -> int:
    """``{"problems": [...], "summary": {...}}``, and with --repair ``"repaired"`` and
    ``"after"`` (the second check, in the same shape)."""
    out.write('{\n  "problems": [')
    found = _walk(ctx, "checking", _JsonList(out))
    out.write(f'\n  ],\n  "summary": {json.dumps(found.as_dict())}')
    ok = found.ok
    if not found.ok and ctx.args.repair:
        repaired = _repair(ctx, found)
        out.write(f',\n  "repaired": {repaired},\n  "after": {{\n  "problems": [')
        after = _walk(ctx, "checking again", _JsonList(out))
        out.write(f'\n  ],\n  "summary": {json.dumps(after.as_dict())}\n  }}')
        ok = after.ok
    out.write("\n}\n")
    return 0 if ok else EXIT_DIFFERS


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="verify that the calendars match the follow-ups (and repair them)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repair", action="store_true",
                   help="re-render what differs (in one transaction, under the usual locks), then check again")
    add_json(p)
    p.set_defaults(handler=cmd_check)
