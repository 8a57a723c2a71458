"""Bad input: a clear error naming the problem (the spec's "Bad input" table)."""

from __future__ import annotations

import pytest
from icalendar import Calendar

from mapping import (
    InvalidCalendarData,
    NoOrManyUids,
    UnknownTimezone,
    UnsupportedComponent,
    check_component,
    parse_calendar,
    uid_of,
)
from tests.mapping.mapping_support import load


def wrap(*components: str, head: str = "") -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", *filter(None, [head]), *components,
                        "END:VCALENDAR", ""])


def event(uid: str | None = "u", *lines: str, name: str = "VEVENT") -> str:
    body = [f"BEGIN:{name}", *([f"UID:{uid}"] if uid else []), "DTSTAMP:20240301T100000Z",
            "DTSTART:20240312T100000Z", *lines, f"END:{name}"]
    return "\r\n".join(body)


def test_all_errors_are_value_errors() -> None:
    for cls in (NoOrManyUids, UnsupportedComponent, UnknownTimezone):
        assert issubclass(cls, InvalidCalendarData)
    assert issubclass(InvalidCalendarData, ValueError)


@pytest.mark.parametrize("body", ["hello world", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\n", ""])
def test_not_icalendar(body: str) -> None:
    with pytest.raises(InvalidCalendarData) as err:
        parse_calendar(body)
    assert str(err.value)


def test_parser_reason_is_in_the_message() -> None:
    with pytest.raises(InvalidCalendarData, match="Content line could not be parsed"):
        parse_calendar("hello world")


def test_not_utf8() -> None:
    with pytest.raises(InvalidCalendarData, match="UTF-8"):
        parse_calendar(b"\xff\xfe" + wrap(event()).encode("utf-16-le"))


def test_not_a_vcalendar() -> None:
    with pytest.raises(InvalidCalendarData, match="not a VCALENDAR"):
        parse_calendar(event())


def test_bytes_are_accepted() -> None:
    assert uid_of(parse_calendar(wrap(event()).encode())) == "u"


@pytest.mark.parametrize("name", ["VJOURNAL", "VFREEBUSY"])
def test_refused_components(name: str) -> None:
    with pytest.raises(UnsupportedComponent) as err:
        parse_calendar(wrap(event(name=name)))
    assert err.value.component == name


def test_no_event_or_todo() -> None:
    with pytest.raises(UnsupportedComponent):
        parse_calendar(wrap("BEGIN:X-THING\r\nX-A:1\r\nEND:X-THING"))


def test_mixed_component_types() -> None:
    with pytest.raises(UnsupportedComponent):
        parse_calendar(wrap(event(), event(name="VTODO")))


def test_check_component() -> None:
    cal = parse_calendar(wrap(event()))
    check_component(cal, "VEVENT")
    with pytest.raises(UnsupportedComponent) as err:
        check_component(cal, "VTODO")
    assert err.value.component == "VEVENT"
    todo = parse_calendar(wrap(event(name="VTODO")))
    with pytest.raises(UnsupportedComponent):
        check_component(todo, "VEVENT")


@pytest.mark.parametrize("components", [[event(None)], [event("a"), event("b", "RECURRENCE-ID:20240313T100000Z")]])
def test_none_or_many_uids(components: list[str]) -> None:
    with pytest.raises(NoOrManyUids):
        parse_calendar(wrap(*components))


def test_uid_of_without_uid() -> None:
    with pytest.raises(NoOrManyUids):
        uid_of(Calendar())


def test_two_masters_or_only_overrides() -> None:
    with pytest.raises(InvalidCalendarData, match="more than one"):
        parse_calendar(wrap(event("a"), event("a")))
    with pytest.raises(InvalidCalendarData, match="only overridden"):
        parse_calendar(wrap(event("a", "RECURRENCE-ID:20240313T100000Z")))
    with pytest.raises(InvalidCalendarData, match="twice"):
        parse_calendar(wrap(event("a"), event("a", "RECURRENCE-ID:20240313T100000Z"),
                            event("a", "RECURRENCE-ID:20240313T100000Z")))


@pytest.mark.parametrize("line", ["DTEND;TZID=Mars/Olympus:20240312T110000",
                                  "EXDATE;TZID=Mars/Olympus:20240319T100000",
                                  "DUE;TZID=../../etc/passwd:20240312T110000"])
def test_unknown_tzid(line: str) -> None:
    with pytest.raises(UnknownTimezone) as err:
        parse_calendar(wrap(event("u", line)))
    assert err.value.tzid in line and err.value.tzid in str(err.value)


def test_unknown_tzid_in_override_and_alarm() -> None:
    with pytest.raises(UnknownTimezone):
        parse_calendar(wrap(event("u"), event("u", "RECURRENCE-ID;TZID=Nowhere:20240313T100000")))


def test_known_tzids_pass() -> None:
    parse_calendar(load("outlook_event.ics"))
    parse_calendar(wrap(event("u", "DTEND;TZID=W. Europe Standard Time:20240312T120000")))
    parse_calendar(wrap(event("u", "DTEND;TZID=Europe/Oslo:20240312T120000")))


def test_broken_mapped_value() -> None:
    with pytest.raises(InvalidCalendarData, match="DTEND"):
        parse_calendar(wrap(event("u", "DTEND:not-a-date")))
    with pytest.raises(InvalidCalendarData, match="RRULE"):
        parse_calendar(wrap(event("u", "RRULE:FREQ=SOMETIMES")))
