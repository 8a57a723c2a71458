"""``followups update|cancel|delete --occurrence``: one occurrence of a series, the
others left as they are.

An occurrence is named by its RECURRENCE-ID (RFC 5545, section 3.8.4.4): changing or
cancelling it stores an override for that instance; deleting it adds an EXDATE.
"""

from __future__ import annotations

from datetime import date, datetime

from server.cli.common import Context, UsageError, parse_moment, read_moment, short
from server.cli.followup_options import end_after, zone_for
from server.cli.views import done_with, warn_clashes
from server.services import followups as services
from store.domain import Followup, Occurrence
from store.localtime import elapsed, is_date, later
from store.uow import UnitOfWork

OCCURRENCE_HELP = ("the occurrence's day (YYYY-MM-DD) in the owner's zone, or its start (YYYY-MM-DDTHH:MM) "
                   "when the series has several a day")

OCCURRENCE_OPTIONS = frozenset({"occurrence", "start", "end", "duration", "title", "location", "agenda", "tz", "json"})
"""What ``update --occurrence`` may change (and read: --tz, --json); the rest belongs to the series."""


def _occurrence(text: str) -> date | datetime:
    """An --occurrence value: a day, or a start (naive: a wall time in the owner's zone)."""
    return read_moment(text, "--occurrence")


def update_occurrence(ctx: Context) -> int:
    a = ctx.args
    flags: dict[str, str] = getattr(a, "option_flags", {})
    series_only = [flag for dest, flag in flags.items()
                   if dest not in OCCURRENCE_OPTIONS and getattr(a, dest, None) not in (None, False)]
    if series_only:
        one = len(series_only) == 1
        raise UsageError(f"{', '.join(series_only)} {'changes' if one else 'change'} the whole series, not one "
                         f"occurrence: give {'it' if one else 'them'} without --occurrence")
    if all(getattr(a, name) is None for name in ("start", "end", "duration", "title", "location", "agenda")):
        raise UsageError("--occurrence needs something to change: --start, --end, --duration, --title, "
                         "--location or --agenda")
    if a.title is not None and not a.title.strip():
        raise UsageError("the title is empty")

    def edit(occ: Occurrence, f: Followup, uow: UnitOfWork) -> None:
        tz = zone_for(a, uow.users.get(f.owner_id))
        for name in ("title", "agenda", "location"):
            if getattr(a, name) is not None:
                setattr(occ, name, getattr(a, name))
        if a.start is None and a.end is None and a.duration is None:
            return
        start = occ.start if occ.start is not None else occ.recurrence_id
        length = elapsed(start, occ.end) if occ.end is not None else f.duration()
        if a.start is not None:
            start = parse_moment(a.start, tz, "--start")
            if is_date(start) != is_date(occ.recurrence_id):
                raise UsageError("an occurrence of an all-day series moves to a day (YYYY-MM-DD), one of a "
                                 "timed series to a date and time")
        end = end_after(start, a, tz)
        if end is None and length is not None:
            end = later(start, length)
        occ.start, occ.end = start, end

    f, occ = services.change_occurrence(ctx.engine(), a.id, _occurrence(a.occurrence), edit, a.tz)
    assert f.id is not None
    warn_clashes(ctx, f.id)
    return done_with(ctx, f, f"updated on {short(occ.recurrence_id)} (the other occurrences stay)")


def cancel_occurrence(ctx: Context) -> int:
    f, occ = services.cancel_occurrence(ctx.engine(), ctx.args.id, _occurrence(ctx.args.occurrence))
    return done_with(ctx, f, f"cancelled on {short(occ.recurrence_id)} (the other occurrences stay)")


def delete_occurrence(ctx: Context) -> int:
    f, rid = services.delete_occurrence(ctx.engine(), ctx.args.id, _occurrence(ctx.args.occurrence))
    return done_with(ctx, f, f"no longer happens on {short(rid)} (the other occurrences stay)")
