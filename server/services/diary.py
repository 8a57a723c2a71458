"""The CRM's diary (followups spec: the Day, Week, Month and Overview views).

A user's diary is the meetings and calls they own or were invited to and did
not decline, recurring series expanded (at most :data:`DIARY_LIMIT`
occurrences of each), in a window of whole days of one time zone. The
``followups diary`` command shows one user's; the Overview shows several
side by side, to plan a meeting, as one viewer may see them.

The Overview keeps the privacy rule (mapping spec, "Privacy"): a private
follow-up is shown in full only to its owner and its participants; to anyone
else it is a busy block with the same times, titled "Private", and nothing
else: no id, kind, location, company or notes. A cancelled one is left out
of the block view altogether (its time is free, and the block would say
otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import mapping
from mapping.directory import Directory
from mapping.privacy import PRIVATE_SUMMARY
from server.services import privacy, views
from store.domain import Followup, Moment, PartStat, User
from store.errors import InvalidFollowup, NotFound
from store.localtime import FIRST_DAY, LAST_DAY, is_date, midnight, utc_naive, zone
from store.moments import FLOATING_SLACK
from store.uow import UnitOfWork

DIARY_LIMIT = 10000
"""Most occurrences of one series in a diary window."""
MAX_USERS = 20
"""Most users side by side in one Overview."""


def check_day(day: date, what: str) -> None:
    """Refuses (one line, exit 2 in the CLI) a day outside :data:`FIRST_DAY` .. :data:`LAST_DAY`."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidFollowup(f"{what} is outside the days a diary shows ({FIRST_DAY} to {LAST_DAY})")




def overlaps(s: Moment, e: Moment | None, start: datetime, end: datetime, tz: ZoneInfo) -> bool:
    """Whether an occurrence (dates and floating times read in ``tz``) touches
    [start, end); one without length when it starts inside (RFC 4791 §9.9)."""
    a = views.sort_key(s, tz)[1]
    b = views.sort_key(e, tz)[1] if e is not None else a
    if b == a:
        return start <= a < end
    return a < end and b > start


def entries(uow: UnitOfWork, user: User, first: date, last: date, tz: ZoneInfo) -> list[mapping.Instance]:
    """The user's diary from ``first`` to before ``last`` (days in ``tz``, which also
    places dates and floating times), ordered by start."""
    check_day(first, str(first))
    check_day(last - timedelta(days=1), str(last - timedelta(days=1)))
    start, end = midnight(first, tz), midnight(last, tz)
    # Dates and floating times are indexed in their owner's zone, which may differ from ``tz``.
    candidates = uow.followups.diary(user.id or 0, utc_naive(start - FLOATING_SLACK),
                                     utc_naive(end + FLOATING_SLACK))
    found = [instance for f in candidates for instance in mapping.expand(f, start, end, limit=DIARY_LIMIT)
             if overlaps(instance.start, instance.end, start, end, tz)]
    found.sort(key=lambda i: (views.sort_key(i.start, tz), i.followup.id))
    return found


# -- the Overview ------------------------------------------------------------------------


def tentative(user: User, f: Followup) -> bool:
    """Invited and not (yet) accepted: BUSY-TENTATIVE in the user's free/busy."""
    if f.owner_id == user.id:
        return False
    answers = [p.partstat for p in f.participants if p.user_id == user.id]
    return bool(answers) and answers[0] is not PartStat.ACCEPTED


@dataclass(frozen=True)
class Entry:
    """One occurrence in a user's column; ``details`` is None for a busy block."""

    start: Moment
    end: Moment
    title: str
    busy: bool
    private: bool
    tentative: bool
    details: dict[str, Any] | None

    @property
    def masked(self) -> bool:
        return self.details is None

    def as_dict(self, tz: ZoneInfo) -> dict[str, Any]:
        out: dict[str, Any] = {"start": views.iso(self.start, tz), "end": views.iso(self.end, tz),
                               "all_day": is_date(self.start), "title": self.title}
        out.update(self.details or {})
        out.update({"busy": self.busy, "tentative": self.tentative, "private": self.private,
                    "masked": self.masked})
        return out


@dataclass(frozen=True)
class Column:
    login: str
    name: str
    tz: str
    entries: list[Entry]


@dataclass(frozen=True)
class Overview:
    """Several users' diaries from ``first`` to before ``last`` (days in the viewer's zone)."""

    view: str
    first: date
    last: date
    viewer: str
    tz: ZoneInfo
    columns: list[Column]

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days)]

    def as_dict(self) -> dict[str, Any]:
        return {"view": self.view, "from": self.first.isoformat(),
                "to": (self.last - timedelta(days=1)).isoformat(), "viewer": self.viewer, "tz": self.tz.key,
                "users": [{"login": c.login, "name": c.name, "tz": c.tz,
                           "entries": [e.as_dict(self.tz) for e in c.entries]} for c in self.columns]}


def team(uow: UnitOfWork, logins: Sequence[str], viewer: str | None) -> tuple[list[User], User]:
    """The users of an Overview (in the order given, each once) and its viewer (default:
    the first); every unknown login named in one error."""
    wanted = list(dict.fromkeys(login.strip() for login in logins if login.strip()))
    if not wanted:
        raise InvalidFollowup("name at least one user for the Overview, e.g. anna,bjorn")
    if len(wanted) > MAX_USERS:
        raise InvalidFollowup(f"an Overview shows at most {MAX_USERS} users, not {len(wanted)}")
    found: dict[str, User] = {}
    missing = []
    for login in [*wanted, *([viewer] if viewer and viewer not in wanted else [])]:
        try:
            found[login] = uow.users.by_login(login)
        except NotFound:
            missing.append(login)
    if missing:
        raise NotFound(f"no user {', '.join(repr(m) for m in missing)} (see `followups user list`)")
    return [found[login] for login in wanted], found[viewer or wanted[0]]


def overview(uow: UnitOfWork, d: Directory, users: Sequence[User], viewer: User, view: str,
             first: date, last: date) -> Overview:
    """Each user's diary in the viewer's zone, private follow-ups masked unless the viewer sees them in full."""
    tz = zone(viewer.tz)
    columns = []
    for user in users:
        shown = []
        for i in entries(uow, user, first, last, tz):
            f = i.followup
            if privacy.followup_in_full(viewer, f):
                shown.append(Entry(i.start, i.end, i.title or f.title, f.busy, f.private, tentative(user, f), {
                    "kind": f.kind.value, "id": f.id, "status": views.status(f),
                    "owner": d.user(f.owner_id).login, "location": views.instance_location(i, d),
                    "recurring": f.recurrence is not None, "invitation": f.is_invitation}))
            elif not f.cancelled:
                shown.append(Entry(i.start, i.end, PRIVATE_SUMMARY, f.busy, True, tentative(user, f), None))
        columns.append(Column(user.login, user.name, user.tz, shown))
    return Overview(view, first, last, viewer.login, tz, columns)
