"""Conflicts: busy follow-ups that overlap in time and share a person or a resource.

The rule is the mapping spec's "Conflicts" section. A follow-up *counts*
when it is busy (TRANSP:OPAQUE), not cancelled, and a meeting or a call with
a start (it has times). Two that count conflict when an occurrence of one
overlaps an occurrence of the other (half-open intervals) and they share a
person (the owner, or a participant CRM user who has not DECLINED) or a
resource that has not declined either booking.

Everything here is bounded, because a series may have no end:

- a follow-up's own occurrences are looked at from the earlier of now and its
  start (a series: no more than :data:`LOOKBACK` before now) up to
  :data:`HORIZON` after the later of now and its start;
- at most :data:`MAX_OCCURRENCES` occurrences of any one series are expanded
  (``mapping.expand`` stops there, and fast-forwards to the window);
- the candidates come from one store query, ``Followups.busy_between``, that
  reads at most ``store.followups.CLASH_CANDIDATES`` follow-ups.

A clash beyond those bounds is not seen.

Each resource has a policy (:class:`store.domain.ConflictPolicy`). With
``decline``, :func:`settle` (run by the projection before every follow-up
is rendered) declines the booking of a follow-up whose occurrences overlap a
booking the resource has *not* declined: the write that comes later is the
one declined, since the earlier booking was already there, accepted. A
declined booking does not block the resource, and is accepted again on a
later write once its clash is gone. When many follow-ups are settled at once
(an import, a resource's new policy), they are settled oldest first, each
one blind to those not settled yet, so the oldest keeps the resource.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import mapping
from mapping.timezones import as_aware
from server.services.directory import DbDirectory
from store.domain import ConflictPolicy, Followup, Kind, PartStat, Resource
from store.localtime import utc_naive, utcnow, zone
from store.moments import FLOATING_SLACK
from store.uow import UnitOfWork

HORIZON = timedelta(days=731)
"""How far ahead (of now, or of a later start) occurrences are compared: two years."""
LOOKBACK = timedelta(days=366)
"""How far before now a series' past occurrences are still compared."""
MAX_OCCURRENCES = 2000
"""The most occurrences of one follow-up expanded for one check."""

USER, RESOURCE = "user", "resource"

Interval = tuple[datetime, datetime]
"""Aware UTC start and end of one occurrence."""


@dataclass(frozen=True)
class Clash:
    """Another follow-up that clashes with the one checked, and what they share."""

    other_id: int
    other_title: str
    other_owner: str
    """The other follow-up's owner (login)."""
    shared_kind: str
    """``"user"`` or ``"resource"``."""
    shared_id: int
    shared: str
    """The login of the shared user or resource."""
    start: datetime
    """The first overlap (aware, UTC)."""
    end: datetime


@dataclass(frozen=True)
class Overlap:
    """One clash in a window, reported once: two follow-ups (lower id first),
    when their occurrences overlap, and the people and resources they share."""

    start: datetime
    end: datetime
    first: Followup
    second: Followup
    first_owner: str
    second_owner: str
    """The owners' logins."""
    users: tuple[str, ...]
    resources: tuple[str, ...]


def counts(f: Followup) -> bool:
    """Whether ``f`` can clash at all: busy, not cancelled, a meeting or a call with times."""
    return f.busy and not f.cancelled and f.kind in (Kind.MEETING, Kind.CALL) and f.start is not None


def people(f: Followup) -> set[int]:
    """The users whose time ``f`` takes: its owner and the invited CRM users who have not declined."""
    found = {f.owner_id}
    found.update(p.user_id for p in f.participants
                 if p.user_id is not None and p.partstat is not PartStat.DECLINED)
    return found


def booked(f: Followup) -> set[int]:
    """The resources ``f`` holds: booked and not declined."""
    return set(f.resource_ids) - set(f.declined_resource_ids)


# -- the public checks ------------------------------------------------------------------


def find(uow: UnitOfWork, f: Followup, now: datetime | None = None) -> list[Clash]:
    """Every clash of ``f`` with another follow-up, one per shared person or
    resource, with the first overlap; ordered by that overlap."""
    return _scan(uow, DbDirectory(uow), f, people(f), booked(f), now)


def refusals(uow: UnitOfWork, f: Followup, now: datetime | None = None) -> list[Clash]:
    """For each resource that declined ``f``, the bookings it keeps instead."""
    return _scan(uow, DbDirectory(uow), f, set(), set(f.declined_resource_ids), now)


def settle(uow: UnitOfWork, d: DbDirectory, f: Followup, now: datetime | None = None,
           ignore: Collection[int] = ()) -> bool:
    """Apply the booked resources' policies to ``f``: a ``decline`` resource
    declines ``f`` when it clashes with a booking the resource has not
    declined; otherwise (``allow``, or no clash) it accepts. When that
    changes ``f.declined_resource_ids``, ``f`` is saved (``uow.followups.update``).
    ``ignore`` names follow-ups not to count (settled later in the same batch).
    Returns whether ``f`` changed. Costs nothing when no booked resource
    declines and none declined."""
    declining = {rid for rid in f.resource_ids if _policy(d, rid) is ConflictPolicy.DECLINE}
    if not declining and not f.declined_resource_ids:
        return False
    refused = {c.shared_id for c in _scan(uow, d, f, set(), declining, now, ignore)}
    declined = [rid for rid in f.resource_ids if rid in refused]
    if declined == f.declined_resource_ids:
        return False
    f.declined_resource_ids = declined
    if f.id is not None:
        uow.followups.update(f)
    return True


def settle_all(uow: UnitOfWork, d: DbDirectory, followups: Iterable[Followup], now: datetime | None = None) -> int:
    """:func:`settle` many follow-ups, oldest (created, then id) first, each
    blind to the ones after it: among clashing bookings the oldest keeps the
    resource. Returns how many changed."""
    ordered = sorted(followups, key=lambda f: (f.created_at or datetime.min.replace(tzinfo=UTC), f.id or 0))
    pending = {f.id for f in ordered if f.id is not None}
    changed = 0
    for f in ordered:
        pending.discard(f.id)
        changed += settle(uow, d, f, now, ignore=pending)
    return changed


def resettle(uow: UnitOfWork, resource: Resource, now: datetime | None = None) -> int:
    """Apply ``resource``'s (new) policy to its bookings: with ``decline``,
    those within the horizon (:data:`LOOKBACK` before now to :data:`HORIZON`
    after), oldest first; with ``allow``, every booking it declined accepts
    again. Returns how many follow-ups changed."""
    assert resource.id is not None
    now = now or utcnow()
    d = DbDirectory(uow)
    if resource.on_conflict is ConflictPolicy.DECLINE:
        found = uow.followups.busy_between(utc_naive(now - LOOKBACK), utc_naive(now + HORIZON),
                                           resource_ids=[resource.id])
    else:
        found = [f for f in uow.followups.get_many(sorted(uow.followups.showing(RESOURCE, [resource.id])))
                 if resource.id in f.declined_resource_ids]
    return settle_all(uow, d, found, now)


def in_window(uow: UnitOfWork, start: datetime, end: datetime, user_id: int | None = None,
              resource_id: int | None = None) -> list[Overlap]:
    """Every clash whose occurrences overlap [start, end) (aware), each
    reported once; only those over ``user_id`` or ``resource_id`` when given,
    else everyone's. Ordered by when they start."""
    d = DbDirectory(uow)
    users = {user_id} if user_id is not None else set()
    resources = {resource_id} if resource_id is not None else set()
    candidates = uow.followups.busy_between(utc_naive(start - FLOATING_SLACK), utc_naive(end + FLOATING_SLACK),
                                            user_ids=users, resource_ids=resources,
                                            anyone=not users and not resources)
    by_id = {g.id: g for g in candidates if g.id is not None and counts(g)}
    lanes: dict[tuple[str, int], list[tuple[datetime, datetime, int]]] = {}
    for g in by_id.values():
        assert g.id is not None
        keys = [(USER, u) for u in people(g)] + [(RESOURCE, r) for r in booked(g)]
        if users or resources:
            keys = [k for k in keys if (k[0] == USER and k[1] in users) or (k[0] == RESOURCE and k[1] in resources)]
        if not keys:
            continue
        occurrences = _intervals(g, d, start, end)
        for key in keys:
            lanes.setdefault(key, []).extend((s, e, g.id) for s, e in occurrences)
    found: dict[tuple[int, int, datetime, datetime], set[tuple[str, int]]] = {}
    for key, items in lanes.items():
        for (s, e, a), (_, _, b) in _sweep(items):
            if a != b:
                found.setdefault((min(a, b), max(a, b), s, e), set()).add(key)
    result = []
    for (a, b, s, e), shared in found.items():
        result.append(Overlap(s, e, by_id[a], by_id[b], d.user(by_id[a].owner_id).login,
                              d.user(by_id[b].owner_id).login,
                              tuple(sorted(d.user(k).login for kind, k in shared if kind == USER)),
                              tuple(sorted(d.resource(k).login for kind, k in shared if kind == RESOURCE))))
    result.sort(key=lambda o: (o.start, o.first.id or 0, o.second.id or 0))
    return result


# -- how ---------------------------------------------------------------------------------


def _scan(uow: UnitOfWork, d: DbDirectory, f: Followup, users: set[int], resources: set[int],
          now: datetime | None = None, ignore: Collection[int] = ()) -> list[Clash]:
    """The clashes of ``f`` over the shared ``users`` and ``resources``."""
    if not counts(f) or not (users or resources):
        return []
    tz = zone(d.user(f.owner_id).tz)
    lo, hi = _horizon(f, tz, now or utcnow())
    mine = _intervals(f, d, lo, hi)
    if not mine:
        return []
    span_lo = min(s for s, _ in mine)
    span_hi = max(max(e, s + timedelta(seconds=1)) for s, e in mine)
    candidates = uow.followups.busy_between(utc_naive(span_lo - FLOATING_SLACK), utc_naive(span_hi + FLOATING_SLACK),
                                            user_ids=users, resource_ids=resources, exclude=f.id)
    found: list[Clash] = []
    for g in candidates:
        if g.id is None or g.id in ignore or not counts(g):
            continue
        shared_users, shared_resources = people(g) & users, booked(g) & resources
        if not shared_users and not shared_resources:
            continue
        first = _first_overlap(mine, _intervals(g, d, span_lo, span_hi))
        if first is None:
            continue
        owner = d.user(g.owner_id).login
        found += [Clash(g.id, g.title, owner, USER, u, d.user(u).login, *first) for u in sorted(shared_users)]
        found += [Clash(g.id, g.title, owner, RESOURCE, r, d.resource(r).login, *first)
                  for r in sorted(shared_resources)]
    found.sort(key=lambda c: (c.start, c.other_id, c.shared_kind != USER, c.shared))
    return found


def _horizon(f: Followup, tz: tzinfo, now: datetime) -> Interval:
    """Where ``f``'s own occurrences are looked at (see the module's docstring)."""
    assert f.start is not None
    first = as_aware(f.start, tz).astimezone(UTC)
    lo = min(now, first)
    if f.recurrence is not None:
        lo = max(lo, now - LOOKBACK)
    return lo, max(now, first) + HORIZON


def _intervals(f: Followup, d: DbDirectory, start: datetime, end: datetime) -> list[Interval]:
    """``f``'s occurrences overlapping [start, end), in UTC; floating times and
    dates are read in the owner's zone (as the store indexes them)."""
    tz = zone(d.user(f.owner_id).tz)
    return [(as_aware(i.start, tz).astimezone(UTC), as_aware(i.end, tz).astimezone(UTC))
            for i in mapping.expand(f, start.astimezone(tz), end.astimezone(tz), limit=MAX_OCCURRENCES)]


def _first_overlap(mine: list[Interval], theirs: list[Interval]) -> Interval | None:
    tagged = [(s, e, 0) for s, e in mine] + [(s, e, 1) for s, e in theirs]
    for (s, e, a), (_, _, b) in _sweep(tagged):
        if a != b:
            return s, e
    return None


def _sweep(items: list[tuple[datetime, datetime, int]]) -> Iterator[tuple[tuple[datetime, datetime, int],
                                                                          tuple[datetime, datetime, int]]]:
    """Pairs of overlapping intervals, in the order the overlaps start:
    ``((start, end, tag), (_, _, other tag))`` with the overlap's start and end.
    A zero-length interval overlaps one that contains its instant."""
    active: list[tuple[datetime, datetime, int]] = []
    for s, e, tag in sorted(items, key=lambda i: (i[0], i[0] - i[1])):
        active = [a for a in active if a[1] > s]
        for a_s, a_e, a_tag in active:
            yield (s, min(e, a_e), tag), (a_s, a_e, a_tag)
        active.append((s, max(e, s), tag))


def _policy(d: DbDirectory, rid: int) -> ConflictPolicy:
    return d.resource(rid).on_conflict

