"""Demo data: a small sales team's CRM with about 200 follow-ups.

Deterministic (a seeded random generator, times relative to ``today``), so a
demo store looks the same every time it is built on the same day. Users
anna, bjorn, carla and david all have the password ``demo``; anna and bjorn
work in Europe/Oslo, carla in Europe/Rome and david in America/New_York.

The data covers every kind and property: weekly recurring meetings with
excluded and one moved occurrence, invitations to users, contact persons,
external addresses and rooms, all-day events, to-dos (open, done, overdue),
planned and made calls, a private meeting, and custom fields of every type.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine

from server.services import followups as services
from server.services.auth import hash_password
from server.services.transaction import transaction
from store.domain import (
    Company,
    FieldDef,
    FieldType,
    Followup,
    FollowupType,
    Kind,
    Occurrence,
    Participant,
    PartStat,
    Person,
    Project,
    Recurrence,
    Resource,
    ResourceKind,
    Sale,
    User,
    mark_done,
    new_call,
    new_meeting,
    new_todo,
    record_call_made,
)
from store.errors import Conflict
from store.localtime import zone
from store.uow import UnitOfWork

PASSWORD = "demo"
DEMO_PASSWORD = PASSWORD
SEED = 20240501

USERS = (
    ("anna", "Anna Berg", "Europe/Oslo", 60, 15),
    ("bjorn", "Bjørn Dahl", "Europe/Oslo", 60, 15),
    ("carla", "Carla Rossi", "Europe/Rome", 45, 10),
    ("david", "David Miller", "America/New_York", 30, 20),
)
RESOURCES = (
    ("room-fjord", "Fjord meeting room", ResourceKind.ROOM),
    ("room-glacier", "Glacier meeting room", ResourceKind.ROOM),
    ("room-aurora", "Aurora board room", ResourceKind.ROOM),
    ("projector", "Portable projector", ResourceKind.EQUIPMENT),
)
COMPANIES = ("Nordlys Shipping", "Fjellheim Hotels", "Vinterhage Design", "Bølgen Seafood", "Skog & Tre",
             "Polar Analytics", "Tindra Media", "Havbris Energy", "Lunde Logistics", "Kvarts Software")
FIRST = ("Ingrid", "Lars", "Sofie", "Erik", "Maja", "Ole", "Nora", "Henrik", "Ida", "Jonas", "Emma", "Magnus")
LAST = ("Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Jensen")
PROJECTS = ("Website relaunch", "ERP rollout", "Trade fair 2025", "Customer survey", "Partner programme")
FIELDS: tuple[tuple[str, FieldType, list[str]], ...] = (
    ("Budget", FieldType.NUMBER, []),
    ("Contract signed", FieldType.YESNO, []),
    ("Decision date", FieldType.DATE, []),
    ("Channel", FieldType.LIST, ["Phone", "E-mail", "Visit", "Video"]),
    ("Reference", FieldType.TEXT, []),
)
MEETING_TITLES = ("Product demo", "Contract negotiation", "Kick-off", "Quarterly review", "Site visit",
                  "Pricing discussion", "Workshop", "Lunch meeting", "Requirements review", "Status meeting")
TODO_TITLES = ("Send offer", "Prepare proposal", "Update price list", "Follow up on invoice", "Write minutes",
               "Check references", "Book travel", "Renew contract", "Send brochure", "Prepare slides")
CALL_TITLES = ("Call about the offer", "Check-in call", "Call back", "Confirm the meeting", "Discuss delivery",
               "Ask for feedback", "Reference call")


@dataclass
class DemoInfo:
    """What :func:`load_demo` created."""

    users: list[tuple[str, str]] = field(default_factory=list)
    resources: int = 0
    companies: int = 0
    company_ids: list[int] = field(default_factory=list)
    followups: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"users": [{"login": login, "password": password} for login, password in self.users],
                "resources": self.resources, "companies": self.companies, "company_ids": self.company_ids,
                "followups": self.followups}


@dataclass
class _Directory:
    users: list[User]
    rooms: list[Resource]
    equipment: list[Resource]
    companies: list[Company]
    persons: list[Person]
    sales: list[Sale]
    projects: list[Project]
    fields: list[FieldDef]
    types: dict[Kind, list[FollowupType]]


def load_demo(engine: Engine, today: date | None = None,
              progress: Callable[[int, int], None] | None = None) -> DemoInfo:
    """Fill an empty store with the demo team, all or nothing.

    Every write (users with their passwords, resources, companies, persons,
    sales, projects, custom fields, the follow-ups and their calendar
    objects) is one transaction: a load that fails or is killed midway
    leaves the store empty, so ``followups demo`` can simply run again
    instead of refusing a half-loaded store for good. The follow-ups still go
    in bulk batches (:func:`server.services.followups.create_many_in`), one
    ``progress`` step each. The passwords are hashed (scrypt, slow on
    purpose) before the transaction opens, so the write lock (SQLite's
    ``BEGIN IMMEDIATE``) is held only while writing.

    Refuses a store that holds data: checked before hashing, so a refusal is
    quick, and again inside the transaction, so two loads at once cannot
    both fill the store.
    """
    with transaction(engine, write=False) as uow:
        _refuse_a_used_store(uow)
    today = today or date.today()
    rng = random.Random(SEED)
    steps = len(USERS) + 2
    tick = _ticker(progress)
    hashes = []
    for n, _ in enumerate(USERS, 1):
        hashes.append(hash_password(PASSWORD))
        tick(n, steps + 200)
    with transaction(engine, actor="demo") as uow:
        _refuse_a_used_store(uow)
        d = _directory(uow, rng, hashes)
        followups = _followups(d, rng, today)
        total = steps + len(followups)
        tick(steps, total)
        services.create_many_in(uow, followups, progress=lambda n: tick(steps + n, total), batch=25)
        uow.commit()
    return DemoInfo(users=[(u.login, PASSWORD) for u in d.users], resources=len(d.rooms) + len(d.equipment),
                    companies=len(d.companies), company_ids=[c.id for c in d.companies if c.id is not None],
                    followups=len(followups))


def _refuse_a_used_store(uow: UnitOfWork) -> None:
    held = {"users": len(uow.users.list()), "resources": len(uow.resources.list()),
            "companies": len(uow.companies.list()), "follow-ups": uow.followups.count()}
    if any(held.values()):
        what = ", ".join(f"{n} {k}" for k, n in held.items() if n)
        raise Conflict(f"the store already holds data ({what}); demo data goes into an empty store only "
                       "(give another --database)")


def _ticker(progress: Callable[[int, int], None] | None) -> Callable[[int, int], None]:
    def tick(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total)

    return tick


def _directory(uow: UnitOfWork, rng: random.Random, hashes: list[str]) -> _Directory:
    users = [uow.users.add(User(login=login, name=name, email=f"{login}@example.com", tz=tz, meeting_minutes=meeting,
                                call_minutes=call, password_hash=hashed))
             for (login, name, tz, meeting, call), hashed in zip(USERS, hashes, strict=True)]
    resources = [uow.resources.add(Resource(login=login, name=name, kind=kind, email=f"{login}@example.com"))
                 for login, name, kind in RESOURCES]
    companies = [uow.companies.add(Company(name)) for name in COMPANIES]
    persons: list[Person] = []
    sales: list[Sale] = []
    for company in companies:
        for _ in range(rng.randint(2, 3)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            domain = company.name.lower().replace(" & ", "").replace(" ", "").replace("ø", "o")
            persons.append(uow.persons.add(Person(
                f"{first} {last}", company.id, f"{first.lower()}.{last.lower()}@{domain}.example",
                f"+47 {rng.randint(400, 999)} {rng.randint(10, 99)} {rng.randint(100, 999)}")))
        for title in rng.sample(("Licences", "Support agreement", "Consulting", "Hardware"), rng.randint(1, 2)):
            sales.append(uow.sales.add(Sale(f"{title} - {company.name}", company.id)))
    projects = [uow.projects.add(Project(name)) for name in PROJECTS]
    fields = [uow.fields.add(FieldDef(name, ftype, list(choices))) for name, ftype, choices in FIELDS]
    types: dict[Kind, list[FollowupType]] = {kind: [] for kind in Kind}
    for t in uow.types.list():
        types[t.kind].append(t)
    return _Directory(users, [r for r in resources if r.kind is ResourceKind.ROOM],
                      [r for r in resources if r.kind is ResourceKind.EQUIPMENT], companies, persons, sales,
                      projects, fields, types)


class _Maker:
    """Builds the follow-ups, one random but repeatable choice at a time."""

    def __init__(self, d: _Directory, rng: random.Random, today: date) -> None:
        self.d, self.rng, self.today = d, rng, today
        self.first = today.replace(day=1)
        self.days = ((self.first.replace(day=28) + timedelta(days=4)).replace(day=1).replace(day=28)
                     + timedelta(days=4)).replace(day=1) - self.first
        real_now = datetime.now(UTC).replace(microsecond=0)
        self.now = real_now if today == real_now.date() else datetime.combine(today, time(12, 0), tzinfo=UTC)
        self.out: list[Followup] = []

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def ftype(self, kind: Kind, name: str | None = None) -> FollowupType:
        choices = self.d.types[kind]
        return next((t for t in choices if t.name == name), choices[0]) if name else self.rng.choice(choices)

    def workday(self) -> date:
        while True:
            day = self.first + timedelta(days=self.rng.randrange(self.days.days))
            if day.weekday() < 5:
                return day

    def at(self, user: User, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=zone(user.tz))

    def contact(self, f: Followup) -> None:
        """Link a company with one of its persons, and sometimes a sale or project."""
        company = self.rng.choice(self.d.companies)
        f.company_id = company.id
        persons = [p for p in self.d.persons if p.company_id == company.id]
        f.person_id = self.rng.choice(persons).id
        sales = [s for s in self.d.sales if s.company_id == company.id]
        if self.rng.random() < 0.5:
            f.sale_id = self.rng.choice(sales).id
        if self.rng.random() < 0.2:
            f.project_id = self.rng.choice(self.d.projects).id

    def custom(self, f: Followup) -> None:
        budget, signed, decided, channel, reference = self.d.fields
        values: dict[int, str] = {
            budget.id or 0: str(self.rng.randrange(10, 500) * 1000),
            signed.id or 0: self.rng.choice(("yes", "no")),
            decided.id or 0: (self.today + timedelta(days=self.rng.randint(5, 60))).isoformat(),
            channel.id or 0: self.rng.choice(channel.choices),
            reference.id or 0: f"REF-{self.rng.randint(1000, 9999)}",
        }
        for field_id in self.rng.sample(sorted(values), self.rng.randint(1, 3)):
            f.custom[field_id] = values[field_id]

    def add(self, f: Followup) -> Followup:
        f.uid = self.uid()
        f.validate()
        self.out.append(f)
        return f


def _followups(d: _Directory, rng: random.Random, today: date) -> list[Followup]:
    m = _Maker(d, rng, today)
    _recurring(m)
    for _ in range(78):
        _meeting(m)
    _all_day_and_private(m)
    for _ in range(50):
        _todo(m)
    for _ in range(61):
        _call(m)
    _calls_made_today(m)
    return m.out


def _recurring(m: _Maker) -> None:
    """A weekly series per user, with excluded dates; the first also has a moved occurrence."""
    until = (m.first + m.days).strftime("%Y%m%dT000000Z")
    titles = ("Weekly sales meeting", "Team stand-up", "One-to-one", "Pipeline review")
    for n, user in enumerate(m.d.users):
        day = m.first + timedelta(days=(n - m.first.weekday()) % 7)
        start = m.at(user, day, 9 if n % 2 == 0 else 14)
        f = new_meeting(user, titles[n], m.ftype(Kind.MEETING, "Meeting (internal)").id or 0, start,
                        agenda="Standing agenda: numbers, deals, blockers.")
        f.recurrence = Recurrence(rule=f"FREQ=WEEKLY;UNTIL={until}",
                                  exdates=[start + timedelta(weeks=2 + n % 3)])
        others = [u for u in m.d.users if u.id != user.id]
        f.participants = [Participant(user_id=u.id, email=u.email, name=u.name,
                                      partstat=m.rng.choice((PartStat.ACCEPTED, PartStat.TENTATIVE,
                                                             PartStat.NEEDS_ACTION)))
                          for u in m.rng.sample(others, 2 if n else 3)]
        f.resource_ids = [m.d.rooms[n % len(m.d.rooms)].id or 0]
        f.location = m.d.rooms[n % len(m.d.rooms)].name
        f.alarm_minutes = 10
        if n == 0:
            moved = start + timedelta(weeks=3)
            f.overrides = [Occurrence(recurrence_id=moved, start=moved + timedelta(hours=2),
                                      end=moved + timedelta(hours=3), title="Weekly sales meeting (moved)")]
        m.add(f)


def _meeting(m: _Maker) -> None:
    user = m.rng.choice(m.d.users)
    start = m.at(user, m.workday(), m.rng.randint(8, 16), m.rng.choice((0, 15, 30)))
    length = m.rng.choice((30, 45, 60, 60, 90, 120))
    ftype = m.ftype(Kind.MEETING)
    f = new_meeting(user, m.rng.choice(MEETING_TITLES), ftype.id or 0, start, start + timedelta(minutes=length),
                    busy=ftype.busy)
    roll = m.rng.random()
    if ftype.name != "Own time":
        m.contact(f)
        person = next(p for p in m.d.persons if p.id == f.person_id)
        f.title = f"{f.title} with {person.name}"
        if roll < 0.6:
            f.participants.append(Participant(person_id=person.id, email=person.email, name=person.name,
                                              partstat=m.rng.choice(list(PartStat)[:3])))
        if roll < 0.35:
            colleague = m.rng.choice([u for u in m.d.users if u.id != user.id])
            f.participants.append(Participant(user_id=colleague.id, email=colleague.email, name=colleague.name))
        if roll < 0.1:
            f.participants.append(Participant(email="consultant@partner.example", name="External Consultant"))
    if roll < 0.4:
        room = m.rng.choice(m.d.rooms)
        f.resource_ids.append(room.id or 0)
        f.location = room.name
        if m.rng.random() < 0.3:
            f.resource_ids.append(m.d.equipment[0].id or 0)
    elif roll < 0.55:
        f.conference = f"https://meet.example.com/{m.rng.randrange(10**6, 10**7)}"
    elif roll < 0.7:
        f.location = f"{m.rng.choice(LAST)}gata {m.rng.randint(1, 90)}, Oslo"
    if m.rng.random() < 0.5:
        f.alarm_minutes = m.rng.choice((5, 15, 30))
    if m.rng.random() < 0.3:
        m.custom(f)
    if start < m.now and m.rng.random() < 0.7:
        mark_done(f, f.end if isinstance(f.end, datetime) else None)
    m.add(f)


def _all_day_and_private(m: _Maker) -> None:
    anna, bjorn = m.d.users[0], m.d.users[1]
    fair = m.first + timedelta(days=17)
    f = new_meeting(bjorn, "Trade fair (Lillestrøm)", m.ftype(Kind.MEETING, "Meeting (external)").id or 0,
                    fair, fair + timedelta(days=2), busy=False, location="Norges Varemesse, Lillestrøm",
                    project_id=m.d.projects[2].id)
    m.add(f)
    day = m.workday()
    m.add(new_meeting(anna, "Doctor's appointment", m.ftype(Kind.MEETING, "Own time").id or 0,
                      m.at(anna, day, 15), m.at(anna, day, 16), private=True, agenda="Private."))
    day = m.workday()
    m.add(new_meeting(anna, "Prepare board presentation", m.ftype(Kind.MEETING, "Own time").id or 0,
                      m.at(anna, day, 8), None, resource_ids=[m.d.equipment[0].id or 0]))


def _todo(m: _Maker) -> None:
    user = m.rng.choice(m.d.users)
    day = m.workday()
    deadline: date | datetime = day if m.rng.random() < 0.4 else m.at(user, day, m.rng.randint(9, 16))
    ftype = m.ftype(Kind.TODO)
    f = new_todo(user, m.rng.choice(TODO_TITLES), ftype.id or 0, deadline, busy=ftype.busy,
                 priority=m.rng.choice((None, 1, 5, 9)))
    m.contact(f)
    if m.rng.random() < 0.3:
        m.custom(f)
    if m.rng.random() < 0.15 and isinstance(deadline, datetime):
        f.start, f.end = deadline - timedelta(hours=1), deadline
    if isinstance(deadline, datetime) and deadline < m.now and m.rng.random() < 0.6:
        mark_done(f, deadline - timedelta(hours=2))
    elif deadline == m.today or (m.rng.random() < 0.05):
        f.notes = "Important: the customer is waiting."
    m.add(f)


def _call(m: _Maker) -> None:
    user = m.rng.choice(m.d.users)
    day = m.workday()
    moment = m.at(user, day, m.rng.randint(8, 16), m.rng.choice((0, 10, 20, 30, 40, 50)))
    ftype = m.ftype(Kind.CALL)
    f = new_call(user, m.rng.choice(CALL_TITLES), ftype.id or 0, moment, busy=ftype.busy)
    m.contact(f)
    person = next(p for p in m.d.persons if p.id == f.person_id)
    f.title = f"{f.title} ({person.name})"
    f.agenda = f"Phone: {person.phone}"
    if moment < m.now and m.rng.random() < 0.75:
        record_call_made(f, user, moment + timedelta(minutes=m.rng.randint(-30, 30)),
                         m.rng.choice((None, 5, 10, 25)))
    if m.rng.random() < 0.2:
        m.custom(f)
    m.add(f)


def _calls_made_today(m: _Maker) -> None:
    """A call each user made earlier today, so this week's diary always shows made calls."""
    for user in m.d.users:
        tz = zone(user.tz)
        local = m.now.astimezone(tz)
        start = max(local - timedelta(minutes=m.rng.randint(20, 120)),
                    datetime.combine(local.date(), time(0, 1), tzinfo=tz))
        ftype = m.ftype(Kind.CALL, "Phone call (incoming)")
        f = new_call(user, "Incoming call", ftype.id or 0, start.replace(second=0), busy=ftype.busy)
        m.contact(f)
        person = next(p for p in m.d.persons if p.id == f.person_id)
        f.title = f"Incoming call from {person.name}"
        record_call_made(f, user, start.replace(second=0))
        m.add(f)
