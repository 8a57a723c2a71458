"""``followups add|update`` options, turned into a new follow-up (:func:`build`) or
a change to one (:func:`change_from`), checked against the domain's rules.

Times are read in the owner's zone (or ``--tz``); on daylight-saving days see
:func:`server.cli.common.parse_moment`, and lengths are real elapsed time
(:func:`store.localtime.later`).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from server.cli.common import UsageError, lookup, parse_moment
from store.domain import (
    Followup,
    Kind,
    Moment,
    Participant,
    Recurrence,
    User,
    mark_done,
    new_call,
    new_meeting,
    new_todo,
    record_call_made,
    set_custom,
)
from store.localtime import as_datetime, elapsed, is_date, later, zone
from store.uow import UnitOfWork


def zone_for(a: argparse.Namespace, owner: User) -> ZoneInfo:
    return a.tz if a.tz is not None else zone(owner.tz)


def end_after(start: Moment, a: argparse.Namespace, tz: ZoneInfo) -> Moment | None:
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
    tz = zone_for(a, owner)
    ftype = lookup(uow.types.by_name, a.type, "follow-up type", "type") if a.type else uow.types.default(kind)
    type_id: int = ftype.id or 0
    if ftype.kind is not kind:
        raise UsageError(f"type {ftype.name!r} is for {ftype.kind.value}s, not {kind.value}s "
                         "(see `followups type list`)")
    if not a.title.strip():
        raise UsageError("the title is empty")
    start = parse_moment(a.start, tz, "--start") if a.start else None
    deadline = parse_moment(a.deadline, tz, "--deadline") if a.deadline else None
    end = end_after(start, a, tz) if start is not None else None
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
        tz = zone_for(a, owner)
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
        end = end_after(start, a, tz)
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
        f.end = end_after(f.start, a, tz)
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
