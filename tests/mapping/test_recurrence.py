"""expand() and time_range(): bounded recurrence expansion and RFC 4791 §9.9 ranges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mapping import MAX_TS, MIN_TS, expand, parse_calendar, render, time_range, to_followup
from store.domain import Followup, Occurrence, Recurrence, new_meeting, new_todo
from tests.mapping.mapping_support import load, make_directory

OSLO = ZoneInfo("Europe/Oslo")
D = make_directory()
OWNER = D.user(1)


def weekly(rule: str = "FREQ=WEEKLY", **fields: object) -> Followup:
    return new_meeting(OWNER, "Stand-up", 1, datetime(2024, 3, 4, 9, tzinfo=OSLO),
                       datetime(2024, 3, 4, 9, 15, tzinfo=OSLO), recurrence=Recurrence(rule), **fields)  # type: ignore


def test_expand_keeps_wall_time_across_dst() -> None:
    got = expand(weekly("FREQ=WEEKLY;COUNT=6"), datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    assert [i.start.hour for i in got] == [9] * 6  # type: ignore[union-attr]
    assert {i.start.utcoffset() for i in got} == {timedelta(hours=1), timedelta(hours=2)}  # type: ignore


def test_expand_applies_exdates_overrides_and_cancellations() -> None:
    f = weekly("FREQ=WEEKLY;COUNT=5")
    assert f.recurrence is not None
    f.recurrence.exdates = [datetime(2024, 3, 11, 9, tzinfo=OSLO)]
    f.overrides = [Occurrence(datetime(2024, 3, 18, 9, tzinfo=OSLO), start=datetime(2024, 3, 18, 11, tzinfo=OSLO),
                              title="Late"),
                   Occurrence(datetime(2024, 3, 25, 9, tzinfo=OSLO), cancelled=True)]
    got = expand(f, datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC))
    assert [(i.start.day, i.start.hour, i.title) for i in got] == [  # type: ignore[union-attr]
        (4, 9, "Stand-up"), (18, 11, "Late"), (1, 9, "Stand-up")]
    assert got[1].recurrence_id == datetime(2024, 3, 18, 9, tzinfo=OSLO)
    assert got[1].end == datetime(2024, 3, 18, 11, 15, tzinfo=OSLO)


def test_override_moved_into_the_window_is_found() -> None:
    f = weekly("FREQ=WEEKLY;COUNT=5")
    f.overrides = [Occurrence(datetime(2024, 3, 25, 9, tzinfo=OSLO), start=datetime(2024, 3, 5, 9, tzinfo=OSLO))]
    got = expand(f, datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 6, tzinfo=UTC))
    assert [i.start for i in got] == [datetime(2024, 3, 5, 9, tzinfo=OSLO)]


def test_endless_series_is_bounded_by_window_and_limit() -> None:
    f = weekly("FREQ=DAILY")
    got = expand(f, datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 2, 1, tzinfo=UTC))
    assert len(got) == 31
    assert len(expand(f, datetime(2024, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC), limit=50)) == 50


def test_far_window_of_an_old_hourly_series_is_fast() -> None:
    f = weekly("FREQ=MINUTELY;INTERVAL=7")
    got = expand(f, datetime(2090, 1, 1, tzinfo=UTC), datetime(2090, 1, 1, 1, tzinfo=UTC))
    assert 9 <= len(got) <= 12  # 60 min of starts every 7 min, plus ones still running


def test_impossible_rule_terminates_quickly() -> None:
    f = weekly("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")
    got = expand(f, datetime(2024, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
    assert [i.start for i in got] == [f.start]  # DTSTART is always the first instance (RFC 5545 §3.8.5.3)


def test_all_day_and_deadline_series() -> None:
    f = new_meeting(OWNER, "Fair", 1, date(2024, 3, 4), date(2024, 3, 5), recurrence=Recurrence("FREQ=MONTHLY"))
    got = expand(f, datetime(2024, 3, 1, tzinfo=OSLO), datetime(2024, 6, 1, tzinfo=OSLO))
    assert [i.start for i in got] == [date(2024, 3, 4), date(2024, 4, 4), date(2024, 5, 4)]
    t = new_todo(OWNER, "Report", 4, datetime(2024, 3, 4, 17, tzinfo=OSLO), recurrence=Recurrence("FREQ=WEEKLY"))
    assert len(expand(t, datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))) == 4


def test_single_and_undated() -> None:
    f = new_meeting(OWNER, "Once", 1, datetime(2024, 3, 4, 9, tzinfo=OSLO))
    assert len(expand(f, datetime(2024, 3, 4, 8, tzinfo=UTC), datetime(2024, 3, 4, 9, tzinfo=UTC))) == 1
    assert expand(f, datetime(2024, 3, 4, 9, tzinfo=UTC), datetime(2024, 3, 5, tzinfo=UTC)) == []
    undated = Followup(owner_id=1, kind=new_todo(OWNER, "x", 4, date(2024, 1, 1)).kind, title="x", type_id=4)
    assert expand(undated, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)) == []
    with pytest.raises(ValueError):
        expand(f, datetime(2024, 1, 1), datetime(2025, 1, 1))


def ts(*args: int, tz: ZoneInfo | None = None) -> int:
    return int(datetime(*args, tzinfo=tz or UTC).timestamp())  # type: ignore[misc]


def test_time_range_single_event() -> None:
    f = new_meeting(OWNER, "Once", 1, datetime(2024, 3, 4, 9, tzinfo=OSLO))
    assert time_range(f) == (ts(2024, 3, 4, 8), ts(2024, 3, 4, 9))
    assert time_range(render(f, D)) == time_range(f)


def test_time_range_floating_and_all_day_widened() -> None:
    f = new_meeting(OWNER, "Fair", 1, date(2024, 3, 4))
    assert time_range(f) == (ts(2024, 3, 4) - 14 * 3600, ts(2024, 3, 5) + 14 * 3600)


def test_time_range_recurrences() -> None:
    assert time_range(weekly("FREQ=WEEKLY"))[1] == MAX_TS
    bounded = weekly("FREQ=WEEKLY;COUNT=3")
    assert time_range(bounded) == (ts(2024, 3, 4, 8), ts(2024, 3, 18, 8, 15))
    until = weekly("FREQ=DAILY;UNTIL=20240306T080000Z")
    assert time_range(until)[1] == ts(2024, 3, 6, 8, 15)
    huge = weekly("FREQ=SECONDLY;COUNT=1000000")
    assert time_range(huge)[1] == MAX_TS


def test_time_range_todos() -> None:
    due = datetime(2024, 3, 20, 17, tzinfo=UTC)
    assert time_range(new_todo(OWNER, "t", 4, due)) == (ts(2024, 3, 20, 17) - 1, ts(2024, 3, 20, 17) + 1)
    undated = Followup(owner_id=1, kind=new_todo(OWNER, "x", 4, due).kind, title="x", type_id=4)
    assert time_range(undated) == (MIN_TS, MAX_TS)
    undated.created_at = due
    assert time_range(undated) == (ts(2024, 3, 20, 17) - 1, MAX_TS)
    undated.completed_at = due + timedelta(hours=1)
    assert time_range(undated) == (ts(2024, 3, 20, 17) - 1, ts(2024, 3, 20, 18) + 1)


@pytest.mark.parametrize("name", ["made_call.ics", "apple_reminders_todo.ics", "recurring_overrides_event.ics",
                                  "google_export_event.ics"])
def test_time_range_same_for_calendar_and_followup(name: str) -> None:
    cal = parse_calendar(load(name))
    f = to_followup(cal, OWNER, D)
    lo, hi = time_range(cal)
    assert time_range(f) == (lo, hi) and lo < hi
