"""Hypothesis properties (icalendar's test_hypothesis idea), 500 examples each:

(a) follow-up -> iCalendar -> follow-up is the identity on every mapped field;
(b) a client's unmapped properties and parameters survive store -> iCalendar, also after a CRM edit;
(c) expand never yields an occurrence outside the window, and always terminates.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar.prop import vRecur

from mapping import expand, parse_calendar, render_text, to_followup
from mapping.timezones import as_aware
from store.domain import Followup, Kind, Moment, Occurrence, Participant, PartStat, Recurrence
from tests.mapping.mapping_support import make_directory, missing_client_data

D = make_directory()
OWNER = D.user(1)
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZONES = ["Europe/Oslo", "America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"]

text_chars = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters="\r")
texts = st.text(text_chars | st.sampled_from("\n,;:\\\""), max_size=40)
titles = texts.filter(lambda s: s.strip() != "" and s == s.strip())


@st.composite
def moments(draw: Any, frame: str) -> Moment:
    """A moment in ``frame``: "date", "floating" or an IANA zone name."""
    day = draw(st.dates(date(1990, 1, 1), date(2060, 12, 31)))
    if frame == "date":
        return day
    clock = datetime(day.year, day.month, day.day, draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    if frame == "floating":
        return clock
    return clock.replace(tzinfo=ZoneInfo(frame))


def shift(moment: Moment, minutes: int) -> Moment:
    if isinstance(moment, datetime):
        return moment + timedelta(minutes=minutes)
    return moment + timedelta(days=max(1, minutes // 1440))


def until_for(start: Moment) -> str:
    later = shift(start, 60 * 24 * 40)
    if isinstance(later, datetime):
        if later.tzinfo is not None:
            return later.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return later.strftime("%Y%m%dT%H%M%S")
    return later.strftime("%Y%m%d")


@st.composite
def recurrences(draw: Any, start: Moment) -> tuple[Recurrence, list[Occurrence]]:
    rule = draw(st.sampled_from(["FREQ=DAILY;COUNT=3", "FREQ=WEEKLY;BYDAY=MO,WE", "FREQ=MONTHLY;INTERVAL=2",
                                 "FREQ=YEARLY", "FREQ=WEEKLY;UNTIL=" + until_for(start), None]))
    canonical = vRecur.from_ical(rule).to_ical().decode() if rule else None
    offsets = draw(st.lists(st.integers(1, 30), max_size=3, unique=True))
    rdates = [shift(start, 60 * 24 * (40 + k)) for k in offsets[:1]]
    exdates = [shift(start, 60 * 24 * k) for k in offsets[1:]]
    if canonical is None and not rdates:
        rdates = [shift(start, 60 * 24 * 7)]
    overrides: list[Occurrence] = []
    for k in draw(st.lists(st.integers(1, 20), max_size=2, unique=True)):
        rid = shift(start, 60 * 24 * 7 * k)
        moved = draw(st.booleans())
        overrides.append(Occurrence(
            recurrence_id=rid,
            start=shift(rid, 24 * 60 if not isinstance(rid, datetime) else 90) if moved else None,
            title=draw(st.none() | titles.map(lambda t: "O-" + t)),
            agenda=draw(st.none() | texts.map(lambda t: "A-" + t)),
            location=draw(st.none() | st.just("Somewhere else")),
            cancelled=draw(st.booleans()),
        ))
    return Recurrence(canonical, rdates, exdates), overrides


@st.composite
def followups(draw: Any) -> Followup:
    kind = draw(st.sampled_from(list(Kind)))
    ftype = draw(st.sampled_from([t for t in D.types() if t.kind is kind]))
    frame = draw(st.sampled_from(["date", "floating", *ZONES]))
    fields: dict[str, Any] = {}
    start = draw(moments(frame))
    if kind is Kind.MEETING:
        fields["start"], fields["end"] = start, shift(start, draw(st.integers(0 if frame != "date" else 1440, 5000)))
        fields["busy"] = draw(st.booleans())
        fields["participants"] = draw(st.lists(st.sampled_from([
            Participant(user_id=2), Participant(person_id=1), Participant(person_id=2),
            Participant(email="eve@outside.example", name="Eve"), Participant(email="urn:uuid:1234", name=None),
            Participant(user_id=1)]), unique_by=lambda p: p.key(), max_size=4))
        for p in fields["participants"]:
            p.partstat = draw(st.sampled_from(list(PartStat)))
        fields["resource_ids"] = draw(st.lists(st.sampled_from([1, 2, 3]), unique=True, max_size=3))
        fields["completed_at"] = draw(st.none() | st.datetimes(datetime(2000, 1, 1), datetime(2050, 1, 1),
                                                                timezones=st.just(UTC)).map(lambda x: x.replace(
                                                                    microsecond=0)))
    elif kind is Kind.TODO:
        shape = draw(st.sampled_from(["deadline", "diary", "undated"]))
        if shape == "deadline":
            fields["deadline"] = start
        elif shape == "diary" and frame != "date":
            fields["start"], fields["end"] = start, shift(start, draw(st.integers(0, 600)))
            fields["deadline"] = draw(st.sampled_from([fields["end"], shift(start, 5000)]))
        fields["busy"] = ftype.busy
        fields["completed_at"] = draw(st.none() | st.just(datetime(2024, 5, 1, 12, 30, tzinfo=UTC)))
    else:
        fields["busy"] = ftype.busy
        fields["deadline"] = start
        if draw(st.booleans()) and frame not in ("date", "floating"):
            made = draw(moments(frame))
            assert isinstance(made, datetime)
            fields["start"], fields["end"] = made, made + timedelta(minutes=draw(st.integers(1, 120)))
            fields["completed_at"] = made.astimezone(UTC)
            fields["deadline"] = draw(st.none() | st.just(start))
    anchor = fields.get("start") or fields.get("deadline")
    if anchor is not None and kind is not Kind.CALL and draw(st.booleans()):
        rec, overrides = draw(recurrences(anchor))
        fields["recurrence"] = rec
        if kind is Kind.MEETING:
            fields["overrides"] = overrides
    f = Followup(
        owner_id=1, kind=kind, title=draw(titles), type_id=ftype.id or 0, uid=draw(st.uuids()).hex,
        agenda=draw(texts), company_id=draw(st.sampled_from([None, 1, 2])),
        person_id=draw(st.sampled_from([None, 1, 2])), sale_id=draw(st.sampled_from([None, 1, 2])),
        project_id=draw(st.sampled_from([None, 1])), alarm_minutes=draw(st.none() | st.integers(0, 20000)),
        location=draw(st.sampled_from(["", "Lobby", "Karl Johans gate 1\nOslo"])),
        conference=draw(st.sampled_from(["", "https://meet.example/abc?x=1"])),
        priority=draw(st.none() | st.integers(0, 9)), cancelled=draw(st.booleans()), private=draw(st.booleans()),
        custom=draw(st.fixed_dictionaries({}, optional={1: st.sampled_from(["12", "0.5", "-3"]),
                                                         2: st.sampled_from(["North", "South"]), 3: titles})),
        sequence=draw(st.integers(0, 1000)), **fields)
    f.validate()
    return f


def zone_key(moment: object) -> object:
    return getattr(getattr(moment, "tzinfo", None), "key", type(moment).__name__)


def assert_same(f: Followup, g: Followup) -> None:
    for name in f.__dataclass_fields__:
        if name in ("notes", "id", "created_at", "modified_at"):
            continue
        assert getattr(g, name) == getattr(f, name), name
    for name in ("start", "end", "deadline"):
        assert zone_key(getattr(g, name)) == zone_key(getattr(f, name)), name


@SETTINGS
@given(followups())
def test_followup_to_icalendar_and_back_is_identity(f: Followup) -> None:
    text = render_text(f, D)
    g = to_followup(parse_calendar(text), OWNER, D)
    assert_same(f, g)
    assert g.client_data is None  # nothing of our own rendering is mistaken for client data
    assert render_text(g, D) == text


x_names = st.from_regex(r"X-[A-Z]{1,6}(-[A-Z0-9]{1,4})?", fullmatch=True).filter(lambda n: not n.startswith("X-CRM"))
safe_values = st.text(st.characters(codec="ascii", categories=("L", "N")) | st.sampled_from(" .,;/-_=+"),
                      min_size=1, max_size=20).filter(lambda s: s.strip() == s)
param_values = safe_values.map(lambda v: f'"{v}"' if any(c in v for c in ",;:") else v)
BASE = {
    "VEVENT": ["SUMMARY:Planning", "DTSTART;TZID=Europe/Oslo:20240312T100000",
               "DTEND;TZID=Europe/Oslo:20240312T110000", "LOCATION:Lobby", "CATEGORIES:Meeting (internal)",
               "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bo@example.com", "ORGANIZER:mailto:anna@example.com",
               "CLASS:PUBLIC", "DESCRIPTION:agenda"],
    "VTODO": ["SUMMARY:Do it", "DUE:20240320T170000Z", "CATEGORIES:To-do", "PRIORITY:5", "STATUS:NEEDS-ACTION"],
}


@st.composite
def client_objects(draw: Any) -> str:
    name = draw(st.sampled_from(["VEVENT", "VTODO"]))
    lines = list(BASE[name])
    for i in draw(st.lists(st.integers(0, len(lines) - 1), unique=True, max_size=4)):
        key, _, rest = lines[i].partition(":")
        lines[i] = f"{key};{draw(x_names)}={draw(param_values)}:{rest}"
    for _ in range(draw(st.integers(0, 5))):
        params = "".join(f";{n}={v}" for n, v in draw(st.dictionaries(x_names, param_values, max_size=2)).items())
        lines.append(f"{draw(x_names)}{params}:{draw(safe_values)}")
    if draw(st.booleans()):
        lines += ["BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT10M", "DESCRIPTION:x",
                  f"{draw(x_names)}:{draw(safe_values)}", "END:VALARM"]
    if draw(st.booleans()):
        lines += ["BEGIN:X-THING", f"{draw(x_names)}:{draw(safe_values)}", "END:X-THING"]
    head = [f"{draw(x_names)}:{draw(safe_values)}" for _ in range(draw(st.integers(0, 2)))]
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN", *head, f"BEGIN:{name}",
                        "UID:fuzz-1", "DTSTAMP:20240301T100000Z", *lines, f"END:{name}", "END:VCALENDAR", ""])


@SETTINGS
@given(client_objects())
def test_unmapped_properties_and_parameters_survive(client: str) -> None:
    f = to_followup(parse_calendar(client), OWNER, D)
    assert missing_client_data(client, render_text(f, D)) == []
    edited = f.copy()
    edited.title = "Edited in the CRM"
    edited.private = True
    assert missing_client_data(client, render_text(edited, D), unmapped_only=True) == []


@st.composite
def series_and_windows(draw: Any) -> tuple[Followup, datetime, datetime]:
    frame = draw(st.sampled_from(["date", "floating", *ZONES]))
    start = draw(moments(frame))
    parts = [draw(st.sampled_from(["FREQ=HOURLY", "FREQ=DAILY", "FREQ=WEEKLY", "FREQ=MONTHLY", "FREQ=YEARLY"]))]
    parts.append(draw(st.sampled_from(["", "INTERVAL=3", "COUNT=5", "COUNT=400", "UNTIL=" + until_for(start)])))
    parts.append(draw(st.sampled_from(["", "BYDAY=MO,FR", "BYMONTHDAY=31", "BYMONTH=2;BYMONTHDAY=30",
                                       "BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR", "BYMONTH=3,10;BYDAY=-1SU"])))
    rule = ";".join(p for p in parts if p)
    end = shift(start, draw(st.integers(0 if frame != "date" else 1440, 3000)))
    f = Followup(owner_id=1, kind=Kind.MEETING, title="s", type_id=1, start=start, end=end,
                 recurrence=Recurrence(rule, exdates=[shift(start, 60 * 24 * 7)]),
                 overrides=[Occurrence(shift(start, 60 * 24 * 14), start=shift(start, 60 * 24 * 3))])
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    ws = datetime.combine(draw(st.dates(date(1985, 1, 1), date(2080, 1, 1))), datetime.min.time(), zone)
    we = ws + timedelta(hours=draw(st.integers(1, 24 * 400)))
    return f, ws, we


@SETTINGS
@given(series_and_windows(), st.integers(1, 500))
def test_expand_stays_in_window_and_terminates(case: tuple[Followup, datetime, datetime], limit: int) -> None:
    f, ws, we = case
    began = time.monotonic()
    got = expand(f, ws, we, limit=limit)
    assert time.monotonic() - began < 5
    assert len(got) <= limit
    for inst in got:
        s, e = as_aware(inst.start, ws.tzinfo), as_aware(inst.end, ws.tzinfo)  # type: ignore[arg-type]
        assert s < we and (e > ws or (e == s and s >= ws)), (inst.start, inst.end, ws, we)
    assert [as_aware(i.start, ws.tzinfo) for i in got] == sorted(as_aware(i.start, ws.tzinfo) for i in got)  # type: ignore
