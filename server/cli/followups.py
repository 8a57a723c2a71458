"""``followups add|show|update|done|call-made|cancel|delete``: one follow-up at a time,
or one occurrence of a series (``--occurrence``).

Every write goes through :mod:`server.services.followups`, in one transaction, so a
rejected option leaves the store as it was and the calendars stay current. Times are
read in the owner's zone; on daylight-saving days see :func:`server.cli.common.parse_moment`,
and lengths are real elapsed time (:func:`store.domain.later`).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from server.cli.common import (
    PROG,
    Context,
    UsageError,
    add_json,
    emit_json,
    lookup,
    non_negative_int,
    parse_datetime,
    parse_moment,
    positive_int,
    priority_option,
    read_moment,
    record_id,
    short,
    tz_option,
)
from server.cli.views import describe, show_followup
from server.services import conflicts
from server.services import followups as services
from server.services.transaction import transaction
from store.domain import (
    Followup,
    Kind,
    Moment,
    Occurrence,
    Participant,
    Recurrence,
    User,
    as_datetime,
    elapsed,
    is_date,
    later,
    mark_done,
    new_call,
    new_meeting,
    new_todo,
    record_call_made,
    set_custom,
    zone,
)
from store.uow import UnitOfWork

# -- turning options into a follow-up --------------------------------------------------------


def _zone_for(a: argparse.Namespace, owner: User) -> ZoneInfo:
    return a.tz if a.tz is not None else zone(owner.tz)


def _end_after(start: Moment, a: argparse.Namespace, tz: ZoneInfo) -> Moment | None:
    """The end given by --end or --duration, if either was given."""
    if a.end is not None and a.duration is not None:
        raise UsageError("give --end or --duration, not both")
    if a.end is not None:
        return parse_moment(a.end, tz, "--end")
    if a.duration is not None:
        if is_date(start):
            raise UsageError("--duration is for timed follow-ups; an all-day one ends at --end (a date)")
        return later(start, timedelta(minutes=a.duration))
    return None


def _check_rrule(rule: str, start: Moment | None) -> str:
    from dateutil.rrule import rrulestr

    rule = rule.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[6:]
    dtstart = as_datetime(start) if start is not None else None
    try:
        rrulestr(rule, dtstart=dtstart)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--rrule {rule!r} is not a valid RRULE ({exc}); e.g. FREQ=WEEKLY;COUNT=10") from None
    return rule


def _participants(uow: UnitOfWork, specs: list[str], before: list[Participant]) -> list[Participant]:
    """--participant values: a user login, ``person:ID`` or ``Name <address>``.
    Someone already invited keeps their answer."""
    known = {p.key(): p for p in before}
    result: list[Participant] = []
    for spec in specs:
        spec = spec.strip()
        if spec.lower().startswith("person:"):
            number = spec[7:]
            if not number.isdigit():
                raise UsageError(f"--participant {spec!r}: a person is person:ID, e.g. person:12")
            person = lookup(lambda t: uow.persons.get(int(t)), number, "person", "person")
            p = Participant(person_id=person.id, name=person.name, email=person.email)
        elif "@" in spec or "<" in spec:
            name, address = parseaddr(spec)
            if "@" not in address:
                raise UsageError(f"--participant {spec!r} is not an e-mail address (Name <name@example.com>)")
            user = uow.users.by_email(address)
            person = None if user else uow.persons.by_email(address)
            p = Participant(email=address, name=name or None, user_id=user.id if user else None,
                            person_id=person.id if person else None)
        else:
            user = uow.users.by_login(spec)
            p = Participant(user_id=user.id, name=user.name, email=user.email)
        if p.key() in known:
            p.partstat = known[p.key()].partstat
        result.append(p)
    return result


def _apply_common(f: Followup, a: argparse.Namespace, uow: UnitOfWork, tz: ZoneInfo) -> None:
    """Options that mean the same for every kind, on add and on update."""
    for attr in ("title", "agenda", "notes", "location", "conference"):
        value = getattr(a, attr, None)
        if value is not None:
            setattr(f, attr, value)
    refs = (("company", uow.companies), ("person", uow.persons), ("sale", uow.sales), ("project", uow.projects))
    for name, repo in refs:
        if getattr(a, f"no_{name}", False):
            setattr(f, f"{name}_id", None)
        value = getattr(a, name, None)
        if value is not None:
            setattr(f, f"{name}_id", lookup(repo.by_name, value, name, name).id)
    if a.busy:
        f.busy = True
    if a.free:
        f.busy = False
    if getattr(a, "no_alarm", False):
        f.alarm_minutes = None
    if a.alarm is not None:
        f.alarm_minutes = a.alarm
    if getattr(a, "no_priority", False):
        f.priority = None
    if a.priority is not None:
        f.priority = a.priority
    if a.private:
        f.private = True
    if getattr(a, "public", False):
        f.private = False
    if getattr(a, "no_participants", False):
        f.participants = []
    if a.participants:
        f.participants = _participants(uow, a.participants, f.participants)
    if getattr(a, "no_resources", False):
        f.resource_ids = []
    if a.resources:
        f.resource_ids = [lookup(uow.resources.by_login, r, "resource", "resource").id for r in a.resources]
    _apply_recurrence(f, a, tz)
    _apply_fields(f, a, uow)


def _apply_recurrence(f: Followup, a: argparse.Namespace, tz: ZoneInfo) -> None:
    if getattr(a, "no_recurrence", False):
        f.recurrence = None
        f.overrides = []
    if a.rrule is None and a.rdates is None and a.exdates is None:
        return
    rec = f.recurrence or Recurrence()
    if a.rrule is not None:
        rec.rule = _check_rrule(a.rrule, f.start if f.start is not None else f.deadline) if a.rrule.strip() else None
    if a.rdates is not None:
        rec.rdates = [parse_moment(m, tz, "--rdate") for m in a.rdates]
    if a.exdates is not None:
        rec.exdates = [parse_moment(m, tz, "--exdate", as_written=True) for m in a.exdates]
    f.recurrence = None if rec.is_empty() and not rec.exdates else rec
    if f.recurrence is not None and f.recurrence.is_empty():
        raise UsageError("--exdate needs a recurring follow-up: give --rrule or --rdate as well")


def _apply_fields(f: Followup, a: argparse.Namespace, uow: UnitOfWork) -> None:
    for item in a.fields or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--field {item!r}: use NAME=VALUE (NAME= clears it)")
        definition = lookup(uow.fields.by_name, name.strip(), "custom field", "field")
        set_custom(f, {definition.id: definition}, definition.id, value)


def build(uow: UnitOfWork, kind: Kind, a: argparse.Namespace) -> Followup:
    """A new follow-up from ``followups add`` options, checked against the domain's rules."""
    owner = uow.users.by_login(a.owner)
    tz = _zone_for(a, owner)
    ftype = lookup(uow.types.by_name, a.type, "follow-up type", "type") if a.type else uow.types.default(kind)
    type_id: int = ftype.id or 0
    if ftype.kind is not kind:
        raise UsageError(f"type {ftype.name!r} is for {ftype.kind.value}s, not {kind.value}s "
                         "(see `followups type list`)")
    if not a.title.strip():
        raise UsageError("the title is empty")
    start = parse_moment(a.start, tz, "--start") if a.start else None
    deadline = parse_moment(a.deadline, tz, "--deadline") if a.deadline else None
    end = _end_after(start, a, tz) if start is not None else None
    if start is None and (a.end is not None or a.duration is not None):
        raise UsageError("--end and --duration need --start")
    extra: dict[str, Any] = {"busy": ftype.busy}
    if kind is Kind.MEETING:
        if start is None:
            raise UsageError("a meeting needs --start")
        if deadline is not None:
            raise UsageError("a meeting has no deadline; use --start and --end")
        f = new_meeting(owner, a.title, type_id, start, end, **extra)
    elif kind is Kind.TODO:
        f = new_todo(owner, a.title, type_id, deadline, start=start, end=end, **extra)
    elif start is not None:
        if not isinstance(start, datetime):
            raise UsageError("a made call starts at a date and time, e.g. --start 2025-03-14T09:30")
        f = Followup(owner_id=owner.id or 0, kind=Kind.CALL, title=a.title, type_id=type_id,
                     deadline=deadline, **extra)
        length = None if end is None else int(elapsed(start, end).total_seconds() // 60)
        record_call_made(f, owner, start, length)
    else:
        f = new_call(owner, a.title, type_id, deadline, **extra)
    _apply_common(f, a, uow, tz)
    if a.done and not f.completed:
        if f.kind is Kind.CALL:
            record_call_made(f, owner)
        else:
            mark_done(f)
    f.validate()
    return f


def change_from(a: argparse.Namespace) -> Any:
    """The change ``followups update`` makes, for :func:`services.modify`."""

    def change(f: Followup, uow: UnitOfWork) -> None:
        if a.type:
            ftype = lookup(uow.types.by_name, a.type, "follow-up type", "type")
            if ftype.kind is not f.kind:
                raise UsageError(f"type {ftype.name!r} is for {ftype.kind.value}s; follow-up {f.id} is a "
                                 f"{f.kind.value} (see `followups type list`)")
            f.type_id = ftype.id or 0
        if a.owner:
            f.owner_id = uow.users.by_login(a.owner).id or 0
        owner = uow.users.get(f.owner_id)
        tz = _zone_for(a, owner)
        if a.title is not None and not a.title.strip():
            raise UsageError("the title is empty")
        _apply_times(f, a, owner, tz)
        _apply_common(f, a, uow, tz)
        if a.undone:
            f.completed_at = None
            if f.kind is Kind.CALL:
                f.start = f.end = None
        if a.uncancel:
            f.cancelled = False

    return change


def _apply_times(f: Followup, a: argparse.Namespace, owner: User, tz: ZoneInfo) -> None:
    if a.no_start:
        if f.kind is Kind.MEETING:
            raise UsageError("a meeting needs a start; change it with --start")
        f.start = f.end = None
    if a.start is not None:
        start = parse_moment(a.start, tz, "--start")
        end = _end_after(start, a, tz)
        if end is None and f.start is not None and f.end is not None and is_date(f.start) == is_date(start):
            end = later(start, elapsed(f.start, f.end))
        elif end is None and is_date(start):
            end = later(start, timedelta(days=1)) if f.kind is Kind.MEETING else None
        elif end is None and f.kind is Kind.MEETING:
            end = later(start, timedelta(minutes=owner.meeting_minutes))
        elif end is None and f.kind is Kind.CALL and f.completed:
            end = later(start, timedelta(minutes=owner.call_minutes))
        _shift_recurrence(f, start, a)
        f.start, f.end = start, end
    elif a.end is not None or a.duration is not None:
        if f.start is None:
            raise UsageError("--end and --duration need a start: give --start as well")
        f.end = _end_after(f.start, a, tz)
    if a.no_deadline:
        if f.kind is Kind.TODO or (f.kind is Kind.CALL and not f.completed):
            raise UsageError(f"a {'to-do' if f.kind is Kind.TODO else 'planned call'} needs a deadline")
        f.deadline = None
    if a.deadline is not None:
        if f.kind is Kind.MEETING:
            raise UsageError("a meeting has no deadline; use --start and --end")
        f.deadline = parse_moment(a.deadline, tz, "--deadline")


def _shift_recurrence(f: Followup, start: Moment, a: argparse.Namespace) -> None:
    """Moving a series moves its extra and excluded dates with it, as calendar clients do."""
    if f.recurrence is None or f.start is None or is_date(f.start) != is_date(start):
        return
    delta = as_datetime(start) - as_datetime(f.start) if not is_date(start) else start - f.start  # type: ignore[operator]
    if a.rdates is None:
        f.recurrence.rdates = [m + delta for m in f.recurrence.rdates if is_date(m) == is_date(start)]
    if a.exdates is None:
        f.recurrence.exdates = [m + delta for m in f.recurrence.exdates if is_date(m) == is_date(start)]


# -- commands ------------------------------------------------------------------------------------


def cmd_add(ctx: Context) -> int:
    engine = ctx.engine()
    with transaction(engine, write=False) as uow:
        f = build(uow, Kind(ctx.args.kind), ctx.args)
    services.create(engine, f)
    assert f.id is not None
    warn_clashes(ctx, f.id)
    if ctx.json:
        show_followup(ctx, f.id)
    else:
        print(f.id)
    return 0


def cmd_show(ctx: Context) -> int:
    show_followup(ctx, ctx.args.id)
    return 0


def cmd_update(ctx: Context) -> int:
    if ctx.args.occurrence is not None:
        return _update_occurrence(ctx)
    f = services.modify(ctx.engine(), ctx.args.id, change_from(ctx.args))
    assert f.id is not None
    warn_clashes(ctx, f.id)
    return _done_with(ctx, f, "updated")


def warn_clashes(ctx: Context, id: int) -> None:
    """One line on stderr per clash of the follow-up just written, and per
    resource that declined it; the write stands (exit code 0)."""
    with transaction(ctx.engine(), write=False) as uow:
        f = uow.followups.get(id)
        tz = zone(uow.users.get(f.owner_id).tz)
        clashes, refusals = conflicts.find(uow, f), conflicts.refusals(uow, f)
    for c in clashes:
        print(f"{PROG}: warning: clashes with {describe(c, tz)}", file=sys.stderr)
    for c in refusals:
        print(f"{PROG}: warning: {c.shared} declined the booking: it clashes with {describe(c, tz, shared=False)}",
              file=sys.stderr)


def _done_with(ctx: Context, f: Followup, verb: str) -> int:
    assert f.id is not None
    if ctx.json:
        show_followup(ctx, f.id)
    else:
        print(f"follow-up {f.id} {verb}")
    return 0


def cmd_done(ctx: Context) -> int:
    return _done_with(ctx, services.done(ctx.engine(), ctx.args.id), "done")


def cmd_call_made(ctx: Context) -> int:
    engine = ctx.engine()
    at = None
    if ctx.args.at:
        with transaction(engine, write=False) as uow:
            owner = uow.users.get(uow.followups.get(ctx.args.id).owner_id)
        at = parse_datetime(ctx.args.at, zone(owner.tz), "--at")
    f = services.call_made(engine, ctx.args.id, at, ctx.args.duration)
    assert isinstance(f.start, datetime) and f.end is not None
    minutes = int(elapsed(f.start, f.end).total_seconds() // 60)
    return _done_with(ctx, f, f"made at {f.start.isoformat()} ({minutes} min)")


def cmd_cancel(ctx: Context) -> int:
    if ctx.args.occurrence is not None:
        f, occ = services.cancel_occurrence(ctx.engine(), ctx.args.id, _occurrence(ctx.args.occurrence))
        return _done_with(ctx, f, f"cancelled on {short(occ.recurrence_id)} (the other occurrences stay)")
    return _done_with(ctx, services.cancel(ctx.engine(), ctx.args.id), "cancelled")


def cmd_delete(ctx: Context) -> int:
    if ctx.args.occurrence is not None:
        f, rid = services.delete_occurrence(ctx.engine(), ctx.args.id, _occurrence(ctx.args.occurrence))
        return _done_with(ctx, f, f"no longer happens on {short(rid)} (the other occurrences stay)")
    f = services.delete(ctx.engine(), ctx.args.id)
    if ctx.json:
        emit_json({"id": f.id, "uid": f.uid, "deleted": True})
    else:
        print(f"follow-up {f.id} deleted")
    return 0


# -- one occurrence of a series --------------------------------------------------------------------

OCCURRENCE_OPTIONS = frozenset({"occurrence", "start", "end", "duration", "title", "location", "agenda", "tz", "json"})
"""What ``update --occurrence`` may change (and read: --tz, --json); the rest belongs to the series."""


def _occurrence(text: str) -> date | datetime:
    """An --occurrence value: a day, or a start (naive: a wall time in the owner's zone)."""
    return read_moment(text, "--occurrence")


def _update_occurrence(ctx: Context) -> int:
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
        tz = _zone_for(a, uow.users.get(f.owner_id))
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
        end = _end_after(start, a, tz)
        if end is None and length is not None:
            end = later(start, length)
        occ.start, occ.end = start, end

    f, occ = services.change_occurrence(ctx.engine(), a.id, _occurrence(a.occurrence), edit, a.tz)
    assert f.id is not None
    warn_clashes(ctx, f.id)
    return _done_with(ctx, f, f"updated on {short(occ.recurrence_id)} (the other occurrences stay)")


# -- the parser ----------------------------------------------------------------------------------

TIME_HELP = ("ISO date (all day) or date and time; without an offset, in the owner's time zone "
             "(or --tz)")
DST_HELP = ("A local time that a daylight-saving change skips becomes the first valid time after it, and "
            "one that happens twice the first of the two; either is a warning on stderr.")
OCCURRENCE_HELP = ("the occurrence's day (YYYY-MM-DD) in the owner's zone, or its start (YYYY-MM-DDTHH:MM) "
                   "when the series has several a day")


def _options(p: argparse.ArgumentParser, update: bool) -> None:
    g = p.add_argument_group("what")
    g.add_argument("--owner", required=not update, metavar="USER", help="login of the user it belongs to")
    g.add_argument("--title", required=not update, metavar="TEXT", help="short label")
    g.add_argument("--type", metavar="NAME|ID", help="activity type (default: the first of its kind)")
    g.add_argument("--agenda", metavar="TEXT", help="description")
    g.add_argument("--notes", metavar="TEXT", help="internal notes")
    g = p.add_argument_group("concerning")
    for name in ("company", "person", "sale", "project"):
        g.add_argument(f"--{name}", metavar="ID|NAME", help=f"the {name} it concerns")
        if update:
            g.add_argument(f"--no-{name}", action="store_true", help=f"unlink the {name}")
    g = p.add_argument_group("time")
    g.add_argument("--start", metavar="TIME", help=f"start; {TIME_HELP}")
    g.add_argument("--end", metavar="TIME", help="end (exclusive for all-day)")
    g.add_argument("--deadline", metavar="TIME", help="when a to-do or planned call is due")
    g.add_argument("--tz", type=tz_option, metavar="ZONE", help="zone of times without offset (IANA name)")
    g.add_argument("--duration", type=positive_int, metavar="MIN", help="length in minutes instead of --end")
    g.add_argument("--rrule", metavar="RULE", help="recurrence rule, e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10")
    g.add_argument("--rdate", dest="rdates", action="append", metavar="TIME", help="an extra occurrence (repeatable)")
    g.add_argument("--exdate", dest="exdates", action="append", metavar="TIME",
                   help="an occurrence left out (repeatable" + ("; replaces the list)" if update else ")"))
    if update:
        g.add_argument("--no-start", action="store_true", help="take a to-do out of the diary (clears start, end)")
        g.add_argument("--no-deadline", action="store_true", help="clear the deadline")
        g.add_argument("--no-recurrence", action="store_true", help="make it a single follow-up")
    g = p.add_argument_group("availability and alarm")
    busy = g.add_mutually_exclusive_group()
    busy.add_argument("--busy", action="store_true", help="shown as busy (default: from the type)")
    busy.add_argument("--free", action="store_true", help="shown as free")
    g.add_argument("--alarm", type=non_negative_int, metavar="MINUTES", help="remind the owner this long before")
    g.add_argument("--priority", type=priority_option, metavar="1-9", help="1 high .. 9 low")
    if update:
        g.add_argument("--no-alarm", action="store_true", help="remove the alarm")
        g.add_argument("--no-priority", action="store_true", help="clear the priority")
    private = g.add_mutually_exclusive_group() if update else g
    private.add_argument("--private", action="store_true", help="visible to the owner and participants only")
    if update:
        private.add_argument("--public", action="store_true", help="no longer private")
    g = p.add_argument_group("invitation")
    replaces = "; replaces the list" if update else ""
    g.add_argument("--participant", dest="participants", action="append", metavar="WHO",
                   help=f"a user login, person:ID, or 'Name <address>' (repeatable{replaces})")
    g.add_argument("--resource", dest="resources", action="append", metavar="LOGIN",
                   help=f"book a room or equipment (repeatable{replaces})")
    g.add_argument("--location", metavar="TEXT", help="place or address")
    g.add_argument("--conference", metavar="URL", help="video conference link")
    if update:
        g.add_argument("--no-participants", action="store_true", help="remove every participant")
        g.add_argument("--no-resources", action="store_true", help="release every resource")
    g = p.add_argument_group("custom fields")
    g.add_argument("--field", dest="fields", action="append", metavar="NAME=VALUE",
                   help="set a custom field (repeatable; NAME= clears it)")
    if update:
        p.add_argument("--undone", action="store_true", help="mark it not completed (a made call: planned again)")
        p.add_argument("--uncancel", action="store_true", help="restore a cancelled meeting")
    else:
        p.add_argument("--done", action="store_true", help="create it completed (a call: made now, or at --start)")
    add_json(p)


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    add = sub.add_parser("add", help="create a meeting, to-do or call",
                         description="Create a follow-up; prints its id (with --json, the follow-up). A clash "
                                     "with another busy follow-up (a shared person or resource at the same "
                                     "time) is a warning on stderr, one line each; the follow-up is created. "
                                     f"{DST_HELP} A --duration is real elapsed time.")
    kinds = add.add_subparsers(dest="kind", metavar="KIND", required=True, parser_class=parser_class)
    notes = {
        Kind.MEETING: "A meeting needs --start; without --end or --duration it lasts the owner's default.",
        Kind.TODO: "A to-do needs --deadline; with --start (and --end) it is also placed in the diary.",
        Kind.CALL: "A planned call needs --deadline. With --start it is a call already made, lasting "
                   "--duration (default: the owner's call length).",
    }
    for kind in Kind:
        p = kinds.add_parser(kind.value, help=f"create a {kind.value}", description=notes[kind])
        _options(p, update=False)
        p.set_defaults(handler=cmd_add)

    p = sub.add_parser("show", help="show a follow-up",
                       description="Show every property of a follow-up, and the busy follow-ups it clashes "
                                   "with (see `followups conflicts --help`).")
    p.add_argument("id", type=record_id)
    add_json(p)
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("update", help="change a follow-up",
                       description="Change a follow-up; only the options given change. Moving a meeting keeps "
                                   "its length (in real time) unless --end or --duration is given. Clashes with "
                                   "other busy follow-ups are warnings on stderr, one line each. With "
                                   "--occurrence, only that occurrence of a series changes (--start, --end, "
                                   "--duration, --title, --location, --agenda); moving it asks the meeting's "
                                   "participants again, as moving the whole meeting does. "
                                   f"{DST_HELP}")
    p.add_argument("id", type=record_id)
    _options(p, update=True)
    p.add_argument("--occurrence", metavar="DATE", help=OCCURRENCE_HELP)
    p.set_defaults(handler=cmd_update, option_flags={action.dest: action.option_strings[0]
                                                     for action in p._actions if action.option_strings})

    for name, handler, text, occurrence in (
        ("done", cmd_done, "mark a meeting or to-do completed", None),
        ("cancel", cmd_cancel, "cancel a meeting (it stays in the calendars, marked cancelled)",
         "only that occurrence is cancelled (STATUS:CANCELLED on its RECURRENCE-ID)"),
        ("delete", cmd_delete, "delete a follow-up for good",
         "only that occurrence is removed from the series (an EXDATE)"),
    ):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("id", type=record_id)
        if occurrence:
            p.add_argument("--occurrence", metavar="DATE", help=f"{occurrence}; {OCCURRENCE_HELP}")
        add_json(p)
        p.set_defaults(handler=handler)

    p = sub.add_parser("call-made", help="record a planned call as made",
                       description="Record a call as made: it starts now (or --at) and lasts the owner's "
                                   "call length (or --duration).")
    p.add_argument("id", type=record_id)
    p.add_argument("--at", metavar="TIME", help="when it was made (default now); owner's zone unless an offset")
    p.add_argument("--duration", type=positive_int, metavar="MIN", help="length in minutes")
    add_json(p)
    p.set_defaults(handler=cmd_call_made)
