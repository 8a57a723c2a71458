"""The benchmark's dataset: N follow-ups of one user, "bench", with a realistic mix.

About 55% single meetings (0-4 participants, sometimes a room, a few all-day),
10% weekly meetings with an excluded date (EXDATE) and a moved occurrence
(RECURRENCE-ID), 25% to-dos and 10% calls, planned or made, in Europe/Oslo
and UTC. A seeded generator makes the same follow-ups on every run.

The expected answer of the one-week calendar-query is computed here from the
follow-ups themselves, with the rules of RFC 4791 section 9.9, so both
servers are checked against the dataset rather than against each other.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlalchemy import Engine

import mapping
from server.services import followups as services
from server.services.projection import MEETINGS, TASKS
from server.services.transaction import transaction
from store.calendar import CalendarReader
from store.domain import (
    Company,
    Followup,
    FollowupType,
    Kind,
    Moment,
    Occurrence,
    Participant,
    PartStat,
    Person,
    Recurrence,
    Resource,
    ResourceKind,
    User,
    mark_done,
    new_call,
    new_meeting,
    new_todo,
    record_call_made,
)

LOGIN = "bench"
PASSWORD = "bench-password"
SEED = 20260302
FIRST_DAY = date(2025, 9, 1)
DAYS = 364
"""Days a data set of 10,000 follow-ups spans; larger sets span proportionally
more (:func:`span_days`), so a week holds about as many follow-ups at any N,
as the calendar of one user who has kept a CRM for years would."""
WEEK_START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
"""The queried week starts at 06:00Z: no meeting, due time or all-day boundary
(midnight UTC or Oslo) sits on an edge, so floating dates cannot flip a result."""
WEEK_END = WEEK_START + timedelta(days=7)
ZONES = (ZoneInfo("Europe/Oslo"), ZoneInfo("Europe/Oslo"), ZoneInfo("UTC"))
COMPONENT_OF = {MEETINGS: "VEVENT", TASKS: "VTODO"}
TITLES = ("Product demo", "Contract negotiation", "Kick-off", "Quarterly review", "Site visit", "Workshop")
TODOS = ("Send offer", "Prepare proposal", "Follow up on invoice", "Write minutes", "Renew contract")
CALLS = ("Call about the offer", "Check-in call", "Call back", "Confirm the meeting")


@dataclass
class BenchDirectory:
    """The CRM records the follow-ups refer to, as stored (with ids)."""

    user: User
    rooms: list[Resource]
    persons: list[Person]
    types: list[FollowupType]

    def type_id(self, kind: Kind) -> int:
        return next(t.id for t in self.types if t.kind is kind and t.id is not None)

    def memory(self) -> mapping.MemoryDirectory:
        return mapping.MemoryDirectory(users=[self.user], resources=list(self.rooms), persons=list(self.persons),
                                       followup_types=list(self.types))


@dataclass
class Dataset:
    directory: BenchDirectory
    followups: list[Followup]
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    """Collection name -> href -> the stored iCalendar text (read back from the store)."""


def setup_directory(engine: Engine) -> BenchDirectory:
    """The user "bench" with its two calendars, three rooms and some contact persons."""
    user = services.add_user(engine, User(LOGIN, "Bench User", "bench@example.com", tz="Europe/Oslo"), PASSWORD)
    rooms = [services.add_resource(engine, Resource(f"room-{n}", f"Room {n}", ResourceKind.ROOM,
                                                    f"room-{n}@example.com")) for n in range(1, 4)]
    with transaction(engine, actor="bench") as uow:
        companies = [uow.companies.add(Company(f"Customer {n}")) for n in range(1, 6)]
        persons = [uow.persons.add(Person(f"Contact {n}", companies[n % 5].id, f"contact{n}@customer.example"))
                   for n in range(1, 21)]
        types = uow.types.list()
        uow.commit()
    return BenchDirectory(user, rooms, persons, types)


# -- generating -----------------------------------------------------------------------


def span_days(n: int) -> int:
    return DAYS * max(1, round(n / 10_000))


class _Maker:
    def __init__(self, d: BenchDirectory, seed: int, days: int = DAYS) -> None:
        self.d, self.rng, self.days = d, random.Random(seed), days

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def day(self) -> date:
        while True:
            day = FIRST_DAY + timedelta(days=self.rng.randrange(self.days))
            if day.weekday() < 5:
                return day

    def at(self, day: date) -> datetime:
        minute = self.rng.choice((0, 15, 30, 45))
        return datetime.combine(day, time(self.rng.randint(8, 16), minute), tzinfo=self.rng.choice(ZONES))

    def participants(self) -> list[Participant]:
        count = self.rng.choices((0, 1, 2, 3, 4), weights=(30, 30, 20, 12, 8))[0]
        people: list[Participant] = []
        for n, person in enumerate(self.rng.sample(self.d.persons, count)):
            if n == 3:
                people.append(Participant(email=f"guest{self.rng.randrange(1000)}@partner.example", name="Guest"))
            else:
                people.append(Participant(person_id=person.id, email=person.email, name=person.name,
                                          partstat=self.rng.choice(list(PartStat)[:3])))
        return people

    def dress(self, f: Followup) -> Followup:
        """Fields every kind may carry: a contact, an agenda, an alarm."""
        person = self.rng.choice(self.d.persons)
        f.company_id, f.person_id = person.company_id, person.id
        if self.rng.random() < 0.5:
            f.agenda = "Agenda: " + ", ".join(self.rng.sample(TITLES, 3)) + "."
        if self.rng.random() < 0.4:
            f.alarm_minutes = self.rng.choice((5, 15, 30))
        f.uid = self.uid()
        f.validate()
        return f


def _meeting(m: _Maker) -> Followup:
    day = m.day()
    tid = m.d.type_id(Kind.MEETING)
    if m.rng.random() < 0.05:
        return m.dress(new_meeting(m.d.user, "Trade fair", tid, day, day + timedelta(days=m.rng.choice((1, 2))),
                                   busy=False))
    start = m.at(day)
    f = new_meeting(m.d.user, m.rng.choice(TITLES), tid, start,
                    start + timedelta(minutes=m.rng.choice((30, 45, 60, 90))))
    f.participants = m.participants()
    if m.rng.random() < 0.25:
        room = m.rng.choice(m.d.rooms)
        f.resource_ids, f.location = [room.id or 0], room.name
    return m.dress(f)


def _recurring(m: _Maker) -> Followup:
    start = m.at(m.day())
    count = m.rng.randint(8, 26)
    f = new_meeting(m.d.user, "Weekly " + m.rng.choice(TITLES).lower(), m.d.type_id(Kind.MEETING), start,
                    start + timedelta(minutes=m.rng.choice((30, 60))))
    skipped, moved = m.rng.sample(range(1, count), 2)
    f.recurrence = Recurrence(rule=f"FREQ=WEEKLY;COUNT={count}", exdates=[start + timedelta(weeks=skipped)])
    original = start + timedelta(weeks=moved)
    shift = timedelta(hours=m.rng.choice((-1, 2, 24)))
    f.overrides = [Occurrence(recurrence_id=original, start=original + shift,
                              end=original + shift + f.duration(),  # type: ignore[operator]
                              title=f"{f.title} (moved)")]
    f.participants = m.participants()
    return m.dress(f)


def _todo(m: _Maker) -> Followup:
    day = m.day()
    deadline: Moment = day if m.rng.random() < 0.3 else m.at(day)
    f = new_todo(m.d.user, m.rng.choice(TODOS), m.d.type_id(Kind.TODO), deadline, busy=False,
                 priority=m.rng.choice((None, 1, 5, 9)))
    if isinstance(deadline, datetime) and m.rng.random() < 0.15:
        f.start, f.end = deadline - timedelta(hours=1), deadline
    if m.rng.random() < 0.3:
        mark_done(f, datetime.combine(day, time(7), tzinfo=UTC))
    return m.dress(f)


def _call(m: _Maker) -> Followup:
    moment = m.at(m.day())
    f = new_call(m.d.user, m.rng.choice(CALLS), m.d.type_id(Kind.CALL), moment)
    if m.rng.random() < 0.4:
        record_call_made(f, m.d.user, moment + timedelta(minutes=m.rng.randint(-30, 30)),
                         m.rng.choice((5, 10, 25)))
    return m.dress(f)


MIX = ((0.55, _meeting), (0.10, _recurring), (0.25, _todo), (0.10, _call))


def generate(d: BenchDirectory, n: int, seed: int = SEED) -> list[Followup]:
    m = _Maker(d, seed, span_days(n))
    makers = [maker for _, maker in MIX]
    weights = [share for share, _ in MIX]
    return [m.rng.choices(makers, weights=weights)[0](m) for _ in range(n)]


def stored_texts(engine: Engine, login: str = LOGIN) -> dict[str, dict[str, str]]:
    """What our store rendered, by collection and href: Radicale gets these very texts."""
    out: dict[str, dict[str, str]] = {MEETINGS: {}, TASKS: {}}
    with engine.connect() as conn:
        for name, href, text in CalendarReader(conn).members_of(login):
            out.setdefault(name, {})[href] = text
    return out


def collection_of(f: Followup) -> str:
    return MEETINGS if f.kind is Kind.MEETING else TASKS


# -- the expected one-week answer (RFC 4791 9.9) -----------------------------------------


def _instant(moment: Moment) -> datetime:
    """Dates and floating times as UTC, as both servers read them here."""
    if isinstance(moment, datetime):
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _instances(f: Followup) -> list[tuple[Moment, Moment]]:
    """Every (start, end) of a meeting: the weekly rule in its own zone (aware
    arithmetic keeps the wall-clock time), minus EXDATEs, overrides applied."""
    assert f.start is not None and f.end is not None
    if f.recurrence is None or not f.recurrence.rule:
        return [(f.start, f.end)]
    count = int(f.recurrence.rule.split("COUNT=")[1].split(";")[0])
    length = _instant(f.end) - _instant(f.start)
    excluded = {_instant(x) for x in f.recurrence.exdates}
    moved = {_instant(o.recurrence_id): o for o in f.overrides}
    found: list[tuple[Moment, Moment]] = []
    for k in range(count):
        start = f.start + timedelta(weeks=k)
        if _instant(start) in excluded:
            continue
        occ = moved.get(_instant(start))
        if occ is not None and occ.start is not None:
            found.append((occ.start, occ.end or occ.start + length))
        else:
            found.append((start, start + length))
    return found


def _todo_matches(f: Followup, qs: datetime, qe: datetime) -> bool:
    if f.made and f.start is not None and f.end is not None:
        s, e = _instant(f.start), _instant(f.end)
        return qs <= e and (qe > s or qe >= e)
    if f.start is not None and f.end is not None:
        s, due = _instant(f.start), _instant(f.end)
        return (qs < due or qs <= s) and (qe > s or qe >= due)
    if f.deadline is not None:
        due = _instant(f.deadline)
        return qs < due <= qe
    return True


def matches(f: Followup, qs: datetime = WEEK_START, qe: datetime = WEEK_END) -> bool:
    if f.kind is Kind.MEETING:
        return any(_instant(s) < qe and _instant(e) > qs for s, e in _instances(f))
    return _todo_matches(f, qs, qe)


def expected_week(followups: list[Followup]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {MEETINGS: set(), TASKS: set()}
    for f in followups:
        if matches(f):
            found[collection_of(f)].add(f"{f.uid}.ics")
    return found


def recurring_hrefs(followups: list[Followup]) -> set[str]:
    """Objects RFC 4791 lets a server over-include (it may not expand them)."""
    return {f"{f.uid}.ics" for f in followups if f.recurrence is not None}


# -- request bodies ------------------------------------------------------------------------


def new_object(d: BenchDirectory, name: str, rep: int) -> tuple[str, str]:
    """(href, text) of a fresh object for PUT, far from the queried week."""
    uid = f"bench-new-{name}-{rep}"
    day = date(2031, 1, 6) + timedelta(days=rep)
    if name == MEETINGS:
        start = datetime.combine(day, time(10), tzinfo=ZONES[0])
        f = new_meeting(d.user, f"New meeting {rep}", d.type_id(Kind.MEETING), start, uid=uid)
    else:
        f = new_todo(d.user, f"New to-do {rep}", d.type_id(Kind.TODO), day, uid=uid)
    return f"{uid}.ics", mapping.render_text(f, d.memory())


def changed_text(text: str, rep: int) -> str:
    """The same object with a new SUMMARY on its main component."""
    cal = Calendar.from_ical(text)
    for comp in cal.walk():
        if comp.name in ("VEVENT", "VTODO") and "RECURRENCE-ID" not in comp:
            title = str(comp.get("SUMMARY", ""))
            comp.pop("SUMMARY", None)
            comp.add("SUMMARY", f"{title} (edit {rep})")
    return cal.to_ical().decode("utf-8")
