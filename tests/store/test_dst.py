"""Daylight-saving days in the domain: local times a zone skips or repeats, and lengths in real time.

Regression: a meeting at 02:30 on the night Oslo's clocks go forward was stored at a wall time
no clock shows, with a length of zero, while ``show`` said 60 minutes; one across the change
was 30 real minutes short. Python subtracts and adds datetimes of one zone by their wall clocks.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from store.domain import Followup, Kind, Occurrence, Recurrence, User, new_meeting, record_call_made
from store.errors import InvalidFollowup
from store.localtime import elapsed, later, local_time, same_instant

OSLO = ZoneInfo("Europe/Oslo")
NEW_YORK = ZoneInfo("America/New_York")

# (zone, a skipped wall time, the first valid time after the gap, a repeated wall time, its first offset)
CASES = [
    (OSLO, datetime(2026, 3, 29, 2, 30), datetime(2026, 3, 29, 3, 0), datetime(2026, 10, 25, 2, 30), 2),
    (NEW_YORK, datetime(2026, 3, 8, 2, 30), datetime(2026, 3, 8, 3, 0), datetime(2026, 11, 1, 1, 30), -4),
]


@pytest.mark.parametrize(("tz", "skipped", "after_gap", "repeated", "first_offset"), CASES)
def test_a_skipped_local_time_becomes_the_first_valid_time_after_the_gap(
        tz: ZoneInfo, skipped: datetime, after_gap: datetime, repeated: datetime, first_offset: int) -> None:
    placed = local_time(skipped, tz)
    assert placed.skipped and not placed.repeated
    assert placed.moment.replace(tzinfo=None) == after_gap
    assert placed.moment.astimezone(ZoneInfo("UTC")).astimezone(tz) == placed.moment
    assert placed.note(skipped) == (f"{skipped:%Y-%m-%d %H:%M} does not exist in {tz.key} (clocks go forward); "
                                    f"using {after_gap:%H:%M}")


@pytest.mark.parametrize(("tz", "skipped", "after_gap", "repeated", "first_offset"), CASES)
def test_a_repeated_local_time_is_its_first_occurrence(
        tz: ZoneInfo, skipped: datetime, after_gap: datetime, repeated: datetime, first_offset: int) -> None:
    placed = local_time(repeated, tz)
    assert placed.repeated and not placed.skipped
    assert placed.moment.replace(tzinfo=None) == repeated and placed.moment.fold == 0
    assert placed.moment.utcoffset() == timedelta(hours=first_offset)
    note = placed.note(repeated)
    assert note is not None and note.startswith(f"{repeated:%Y-%m-%d %H:%M} happens twice in {tz.key} "
                                                "(clocks go back); using the first")
    assert "\n" not in note


def test_an_ordinary_local_time_says_nothing() -> None:
    placed = local_time(datetime(2026, 6, 1, 9, 0), OSLO)
    assert placed.note(datetime(2026, 6, 1, 9, 0)) is None
    assert placed.moment == datetime(2026, 6, 1, 9, 0, tzinfo=OSLO)


def test_a_gap_of_a_whole_day_names_the_day_it_lands_on() -> None:
    apia = ZoneInfo("Pacific/Apia")  # skipped 2011-12-30 entirely
    placed = local_time(datetime(2011, 12, 30, 10, 0), apia)
    assert placed.moment.replace(tzinfo=None) == datetime(2011, 12, 31, 0, 0)
    assert placed.note(datetime(2011, 12, 30, 10, 0)) == ("2011-12-30 10:00 does not exist in Pacific/Apia "
                                                          "(clocks go forward); using 2011-12-31 00:00")


@pytest.mark.parametrize("tz", [OSLO, NEW_YORK])
def test_later_and_elapsed_count_real_minutes_across_both_changes(tz: ZoneInfo) -> None:
    for day in (date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1)):
        start = datetime(day.year, day.month, day.day, 0, 30, tzinfo=tz)
        for minutes in (15, 60, 90, 150, 24 * 60):
            end = later(start, timedelta(minutes=minutes))
            assert isinstance(end, datetime)
            assert elapsed(start, end) == timedelta(minutes=minutes)
            assert end.astimezone(ZoneInfo("UTC")).astimezone(tz) == end, "a valid local time"
            assert end.tzinfo is tz


def test_later_keeps_floating_times_and_dates() -> None:
    assert later(datetime(2026, 3, 29, 1, 30), timedelta(hours=1)) == datetime(2026, 3, 29, 2, 30)
    assert later(date(2026, 3, 29), timedelta(days=2)) == date(2026, 3, 31)
    assert elapsed(date(2026, 3, 29), date(2026, 3, 31)) == timedelta(days=2)


def _anna() -> User:
    return User("anna", "Anna", "anna@example.com", tz="Europe/Oslo", id=1)


def test_a_meeting_across_the_spring_change_lasts_what_was_asked() -> None:
    start = datetime(2026, 3, 29, 1, 30, tzinfo=OSLO)
    meeting = new_meeting(_anna(), "Across", 1, start)
    assert meeting.end == datetime(2026, 3, 29, 3, 30, tzinfo=OSLO)
    assert meeting.duration() == timedelta(minutes=60)


def test_a_call_made_across_the_autumn_change_lasts_its_minutes() -> None:
    call = Followup(owner_id=1, kind=Kind.CALL, title="Call", type_id=1, deadline=date(2026, 10, 25))
    record_call_made(call, _anna(), datetime(2026, 10, 25, 2, 50, tzinfo=OSLO), 20)
    assert call.end is not None and elapsed(call.start, call.end) == timedelta(minutes=20)  # type: ignore[arg-type]
    assert call.end == datetime(2026, 10, 25, 2, 10, tzinfo=OSLO, fold=1)
    assert call.duration() == timedelta(minutes=20)


def test_duration_is_real_time_for_a_meeting_ending_in_the_repeated_hour() -> None:
    start = datetime(2026, 10, 25, 1, 30, tzinfo=OSLO)
    end = datetime(2026, 10, 25, 2, 0, tzinfo=OSLO, fold=1)
    f = Followup(owner_id=1, kind=Kind.MEETING, title="m", type_id=1, start=start, end=end)
    assert f.duration() == timedelta(minutes=90)


def _series() -> Followup:
    start = datetime(2026, 12, 1, 10, 0, tzinfo=OSLO)
    return Followup(owner_id=1, kind=Kind.MEETING, title="Weekly", type_id=1, start=start,
                    end=start + timedelta(hours=1), recurrence=Recurrence(rule="FREQ=WEEKLY;COUNT=5"))


def test_an_override_is_found_by_the_instant_of_its_recurrence_id() -> None:
    f = _series()
    rid = datetime(2026, 12, 8, 10, 0, tzinfo=OSLO)
    occ = f.override_for(rid)
    assert f.overrides == [occ] and occ.recurrence_id == rid
    assert f.override_for(rid.astimezone(NEW_YORK)) is occ, "the same instant in another zone"
    assert f.override(datetime(2026, 12, 15, 10, 0, tzinfo=OSLO)) is None
    assert same_instant(rid, rid.astimezone(NEW_YORK)) and not same_instant(rid, rid.replace(tzinfo=None))


def test_excluding_an_occurrence_adds_one_exdate_and_drops_its_override() -> None:
    f = _series()
    rid = datetime(2026, 12, 8, 10, 0, tzinfo=OSLO)
    f.overrides.append(Occurrence(recurrence_id=rid, title="Moved"))
    f.exclude(rid)
    f.exclude(rid)
    assert f.recurrence is not None and f.recurrence.exdates == [rid]
    assert f.overrides == []
    single = Followup(owner_id=1, kind=Kind.MEETING, title="Once", type_id=1, start=rid, end=rid)
    with pytest.raises(InvalidFollowup, match="does not repeat"):
        single.exclude(rid)
