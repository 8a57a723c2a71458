"""Meetings across a daylight-saving change, rendered, read back and expanded in real time.

Regression: an end in the hour that happens twice (the second 02:00 of Oslo's autumn night)
was written ``DTEND;TZID=Europe/Oslo:...T020000``, which RFC 5545 §3.3.5 reads as the first
02:00, an hour early; and instances were given the meeting's wall-clock length.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mapping import expand, render_text, to_followup
from mapping.validate import parse_calendar
from store.domain import Followup, Kind, Occurrence, Recurrence
from store.localtime import elapsed, same_instant
from tests.mapping.mapping_support import make_directory, unfold

OSLO = ZoneInfo("Europe/Oslo")
NEW_YORK = ZoneInfo("America/New_York")


def _meeting(start: datetime, end: datetime, **fields: object) -> Followup:
    return Followup(owner_id=1, kind=Kind.MEETING, title="Across", type_id=1, start=start, end=end,
                    uid="dst-1", **fields)  # type: ignore[arg-type]


def _lines(text: str, name: str) -> list[str]:
    return [line for line in unfold(text) if line.split(";", 1)[0].split(":", 1)[0] == name]


def test_an_end_in_the_repeated_hour_is_written_in_utc_and_read_back_at_its_instant() -> None:
    start = datetime(2026, 10, 25, 1, 30, tzinfo=OSLO)
    end = datetime(2026, 10, 25, 2, 0, tzinfo=OSLO, fold=1)
    f = _meeting(start, end)
    d = make_directory()
    text = render_text(f, d)
    assert _lines(text, "DTSTART")[-1] == "DTSTART;TZID=Europe/Oslo:20261025T013000"
    assert _lines(text, "DTEND") == ["DTEND:20261025T010000Z"]
    back = to_followup(parse_calendar(text), d.user(1), d)
    assert back.start is not None and back.end is not None
    assert same_instant(back.start, start) and same_instant(back.end, end)
    assert back.duration() == timedelta(minutes=90)


def test_the_first_of_a_repeated_time_keeps_its_tzid() -> None:
    start = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)
    text = render_text(_meeting(start, start + timedelta(minutes=20)), make_directory())
    assert _lines(text, "DTSTART")[-1] == "DTSTART;TZID=America/New_York:20261101T013000"


def test_a_single_meeting_across_the_spring_change_expands_to_its_own_end() -> None:
    start = datetime(2026, 3, 29, 1, 30, tzinfo=OSLO)
    end = datetime(2026, 3, 29, 4, 0, tzinfo=OSLO)
    [instance] = expand(_meeting(start, end), datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))
    assert instance.start == start and same_instant(instance.end, end)


def test_every_instance_of_a_series_lasts_its_exact_duration() -> None:
    """RFC 5545 §3.8.5.3: with DTEND, "the same exact duration" applies to every instance."""
    start = datetime(2026, 3, 22, 1, 30, tzinfo=OSLO)
    f = _meeting(start, start + timedelta(minutes=90), recurrence=Recurrence(rule="FREQ=WEEKLY;COUNT=3"))
    instances = expand(f, datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 4, 10, tzinfo=UTC))
    assert [i.start.isoformat() for i in instances] == [  # type: ignore[union-attr]
        "2026-03-22T01:30:00+01:00", "2026-03-29T01:30:00+01:00", "2026-04-05T01:30:00+02:00"]
    assert [elapsed(i.start, i.end) for i in instances] == [timedelta(minutes=90)] * 3
    assert instances[1].end == datetime(2026, 3, 29, 4, 0, tzinfo=OSLO)


def test_an_override_without_its_own_end_lasts_the_series_exact_duration() -> None:
    start = datetime(2026, 3, 22, 1, 0, tzinfo=OSLO)
    rid = datetime(2026, 3, 29, 1, 0, tzinfo=OSLO)
    f = _meeting(start, start + timedelta(hours=2), recurrence=Recurrence(rule="FREQ=WEEKLY;COUNT=3"),
                 overrides=[Occurrence(recurrence_id=rid, title="Shorter night")])
    text = render_text(f, make_directory())
    assert "RECURRENCE-ID;TZID=Europe/Oslo:20260329T010000" in unfold(text)
    assert "DTEND;TZID=Europe/Oslo:20260329T040000" in unfold(text)
    back = to_followup(parse_calendar(text), make_directory().user(1), make_directory())
    assert [(o.start, o.end, o.title) for o in back.overrides] == [(None, None, "Shorter night")]
