"""The domain's invariants, without a database: every rule a follow-up must
satisfy whoever writes it (docs: shared/spec/followups.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.domain import (
    DEFAULT_CALL_MINUTES,
    DEFAULT_MEETING_MINUTES,
    FieldDef,
    FieldType,
    Followup,
    Kind,
    Occurrence,
    Participant,
    PartStat,
    Recurrence,
    Resource,
    User,
    mark_done,
    new_call,
    new_meeting,
    new_todo,
    record_call_made,
    set_custom,
)
from store.errors import InvalidFollowup

OSLO = ZoneInfo("Europe/Oslo")
TOKYO = ZoneInfo("Asia/Tokyo")
MEETING, TODO, CALL = 1, 4, 5  # type ids; the domain does not look them up


def owner(**prefs: Any) -> User:
    return User(login="anna", name="Anna", email="anna@example.com", tz="Europe/Oslo", id=7, **prefs)


def planned_call(**fields: Any) -> Followup:
    return new_call(owner(), "Call Bo", CALL, datetime(2024, 6, 3, 12, 0, tzinfo=OSLO), **fields)


# -- meetings -------------------------------------------------------------------


def test_meeting_keeps_its_start_and_end() -> None:
    start = datetime(2024, 6, 3, 9, 0, tzinfo=OSLO)
    m = new_meeting(owner(), "Plan", MEETING, start, start + timedelta(minutes=30))
    assert (m.kind, m.start, m.end, m.owner_id) == (Kind.MEETING, start, start + timedelta(minutes=30), 7)
    assert m.in_diary and not m.all_day and m.tzid == "Europe/Oslo"
    assert m.duration() == timedelta(minutes=30)


def test_meeting_end_before_start_is_rejected() -> None:
    start = datetime(2024, 6, 3, 9, 0, tzinfo=OSLO)
    with pytest.raises(InvalidFollowup, match="before the start"):
        new_meeting(owner(), "Plan", MEETING, start, start - timedelta(minutes=1))


def test_meeting_of_zero_length_is_allowed() -> None:
    start = datetime(2024, 6, 3, 9, 0)
    assert new_meeting(owner(), "Milestone", MEETING, start, start).duration() == timedelta(0)


def test_meeting_needs_start_and_end() -> None:
    with pytest.raises(InvalidFollowup, match="start and an end"):
        Followup(owner_id=7, kind=Kind.MEETING, title="x", type_id=MEETING, start=datetime(2024, 6, 3, 9)).validate()
    with pytest.raises(InvalidFollowup):
        Followup(owner_id=7, kind=Kind.MEETING, title="x", type_id=MEETING).validate()


def test_meeting_has_no_deadline() -> None:
    with pytest.raises(InvalidFollowup, match="no deadline"):
        new_meeting(owner(), "x", MEETING, datetime(2024, 6, 3, 9), deadline=datetime(2024, 6, 3, 10))


def test_new_meeting_without_end_lasts_the_default_hour() -> None:
    start = datetime(2024, 6, 3, 9, 0, tzinfo=OSLO)
    m = new_meeting(owner(), "Plan", MEETING, start)
    assert DEFAULT_MEETING_MINUTES == 60
    assert m.end == start + timedelta(minutes=60)


@pytest.mark.parametrize("minutes", [1, 25, 90, 8 * 60])
def test_new_meeting_without_end_follows_the_owners_preference(minutes: int) -> None:
    start = datetime(2024, 6, 3, 9, 0)
    assert new_meeting(owner(meeting_minutes=minutes), "Plan", MEETING, start).end == start + timedelta(minutes=minutes)


def test_all_day_meeting_end_is_exclusive() -> None:
    m = new_meeting(owner(), "Fair", MEETING, date(2024, 6, 3), date(2024, 6, 5))
    assert m.all_day and m.tzid is None
    assert new_meeting(owner(), "Holiday", MEETING, date(2024, 6, 3)).end == date(2024, 6, 4)
    with pytest.raises(InvalidFollowup, match="exclusive"):
        new_meeting(owner(), "Fair", MEETING, date(2024, 6, 3), date(2024, 6, 3))
    with pytest.raises(InvalidFollowup):
        new_meeting(owner(), "Fair", MEETING, date(2024, 6, 3), date(2024, 6, 2))


def test_start_and_end_are_both_dates_or_both_times() -> None:
    with pytest.raises(InvalidFollowup, match="both be dates"):
        new_meeting(owner(), "x", MEETING, date(2024, 6, 3), datetime(2024, 6, 3, 10))


def test_end_in_another_zone_compares_as_real_time() -> None:
    start = datetime(2024, 6, 3, 9, 0, tzinfo=OSLO)  # 07:00 UTC
    new_meeting(owner(), "x", MEETING, start, datetime(2024, 6, 3, 16, 0, tzinfo=TOKYO))  # 07:00 UTC
    with pytest.raises(InvalidFollowup):
        new_meeting(owner(), "x", MEETING, start, datetime(2024, 6, 3, 15, 59, tzinfo=TOKYO))


zones = st.sampled_from([None, UTC, OSLO, TOKYO, ZoneInfo("America/New_York")])


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)), zones,
       st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60))
def test_meeting_validates_iff_end_not_before_start(naive: datetime, tz: Any, minutes: int) -> None:
    start = naive.replace(tzinfo=tz)
    end = start + timedelta(minutes=minutes)
    f = Followup(owner_id=7, kind=Kind.MEETING, title="x", type_id=MEETING, start=start, end=end)
    if minutes >= 0:
        f.validate()
    else:
        with pytest.raises(InvalidFollowup):
            f.validate()


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(min_value=-30, max_value=30))
def test_all_day_meeting_validates_iff_end_after_start(start: date, days: int) -> None:
    f = Followup(owner_id=7, kind=Kind.MEETING, title="x", type_id=MEETING, start=start,
                 end=start + timedelta(days=days))
    if days > 0:
        f.validate()
    else:
        with pytest.raises(InvalidFollowup):
            f.validate()


@given(st.integers(min_value=1, max_value=7 * 24 * 60))
def test_new_meeting_default_is_any_positive_preference(minutes: int) -> None:
    start = datetime(2024, 6, 3, 9, 0, tzinfo=OSLO)
    assert new_meeting(owner(meeting_minutes=minutes), "x", MEETING, start).duration() == timedelta(minutes=minutes)


# -- to-dos ---------------------------------------------------------------------


def test_todo_created_in_the_crm_needs_a_deadline() -> None:
    with pytest.raises(InvalidFollowup, match="deadline"):
        new_todo(owner(), "Send offer", TODO, None)
    t = new_todo(owner(), "Send offer", TODO, date(2024, 6, 7))
    assert t.kind is Kind.TODO and t.deadline == date(2024, 6, 7) and t.start is None
    assert not t.in_diary and t.all_day and not t.completed


def test_todo_with_start_and_end_is_placed_in_the_diary() -> None:
    t = new_todo(owner(), "Write", TODO, datetime(2024, 6, 7, 16), start=datetime(2024, 6, 7, 9),
                 end=datetime(2024, 6, 7, 11))
    assert t.in_diary and t.duration() == timedelta(hours=2)


def test_end_without_start_is_rejected() -> None:
    with pytest.raises(InvalidFollowup, match="end needs a start"):
        new_todo(owner(), "x", TODO, date(2024, 6, 7), end=datetime(2024, 6, 7, 11))


# -- calls ----------------------------------------------------------------------


def test_planned_call_has_a_deadline_and_no_start() -> None:
    c = planned_call()
    assert c.kind is Kind.CALL and c.start is None and c.end is None and not c.made
    with pytest.raises(InvalidFollowup, match="deadline"):
        new_call(owner(), "Call", CALL, None)
    with pytest.raises(InvalidFollowup, match="no start"):
        new_call(owner(), "Call", CALL, date(2024, 6, 3), start=datetime(2024, 6, 3, 9))


def test_planned_call_with_a_start_is_rejected_by_validate() -> None:
    c = planned_call()
    c.start = datetime(2024, 6, 3, 9, 0, tzinfo=OSLO)
    with pytest.raises(InvalidFollowup, match="planned call"):
        c.validate()


def test_record_call_made_now_in_the_owners_zone() -> None:
    c = planned_call()
    before = datetime.now(UTC).replace(microsecond=0)
    record_call_made(c, owner())
    after = datetime.now(UTC)
    assert isinstance(c.start, datetime)
    assert c.start.tzinfo == OSLO
    assert before <= c.start <= after
    assert c.end == c.start + timedelta(minutes=DEFAULT_CALL_MINUTES) == c.start + timedelta(minutes=15)
    assert c.completed_at == c.start and c.completed_at.tzinfo is UTC
    assert c.made and c.completed and c.in_diary


def test_record_call_made_at_a_given_time() -> None:
    c = planned_call()
    record_call_made(c, owner(), at=datetime(2024, 6, 3, 10, 0, tzinfo=UTC))
    assert c.start == datetime(2024, 6, 3, 12, 0, tzinfo=OSLO)
    assert isinstance(c.start, datetime) and c.start.tzinfo == OSLO
    assert c.end == datetime(2024, 6, 3, 12, 15, tzinfo=OSLO)


def test_record_call_made_reads_a_naive_time_in_the_owners_zone() -> None:
    c = planned_call()
    record_call_made(c, owner(), at=datetime(2024, 6, 3, 10, 0))
    assert c.start == datetime(2024, 6, 3, 10, 0, tzinfo=OSLO)
    assert c.completed_at == datetime(2024, 6, 3, 8, 0, tzinfo=UTC)


def test_record_call_made_uses_the_owners_call_duration() -> None:
    c = planned_call()
    record_call_made(c, owner(call_minutes=5), at=datetime(2024, 6, 3, 10, 0, tzinfo=UTC))
    assert c.duration() == timedelta(minutes=5)


@given(st.integers(min_value=1, max_value=600), st.integers(min_value=1, max_value=600))
def test_record_call_made_explicit_minutes_win(preference: int, minutes: int) -> None:
    c = planned_call()
    record_call_made(c, owner(call_minutes=preference), at=datetime(2024, 6, 3, 10, 0, tzinfo=UTC), minutes=minutes)
    assert c.duration() == timedelta(minutes=minutes)


def test_record_call_made_rejects_non_calls_and_non_positive_minutes() -> None:
    todo = new_todo(owner(), "x", TODO, date(2024, 6, 7))
    with pytest.raises(InvalidFollowup, match="not a call"):
        record_call_made(todo, owner())
    c = planned_call()
    for minutes in (0, -5):
        with pytest.raises(InvalidFollowup, match="positive"):
            record_call_made(c, owner(), minutes=minutes)
    assert c.start is None and not c.completed


def test_made_call_needs_a_duration() -> None:
    c = planned_call()
    record_call_made(c, owner(), at=datetime(2024, 6, 3, 10, 0, tzinfo=UTC))
    c.end = None
    with pytest.raises(InvalidFollowup, match="duration"):
        c.validate()


# -- completion -------------------------------------------------------------------


def test_mark_done() -> None:
    t = new_todo(owner(), "x", TODO, date(2024, 6, 7))
    mark_done(t, datetime(2024, 6, 7, 12, 0, tzinfo=OSLO))
    assert t.completed and t.completed_at == datetime(2024, 6, 7, 10, 0, tzinfo=UTC)
    assert t.completed_at.tzinfo is UTC
    m = new_meeting(owner(), "x", MEETING, datetime(2024, 6, 3, 9, tzinfo=OSLO))
    mark_done(m)
    assert m.completed and m.completed_at is not None and m.completed_at.tzinfo is UTC


def test_mark_done_on_a_planned_call_asks_to_record_it() -> None:
    c = planned_call()
    with pytest.raises(InvalidFollowup, match="call-made"):
        mark_done(c)
    assert not c.completed


# -- custom fields ------------------------------------------------------------------


NUMBER = FieldDef("Budget", FieldType.NUMBER, id=1)
DAY = FieldDef("Signed", FieldType.DATE, id=2)
YESNO = FieldDef("Paid", FieldType.YESNO, id=3)
LIST = FieldDef("Stage", FieldType.LIST, choices=["Lead", "Offer", "Won"], id=4)
TEXT = FieldDef("Note", FieldType.TEXT, id=5)
FIELDS = {d.id: d for d in (NUMBER, DAY, YESNO, LIST, TEXT) if d.id is not None}


@pytest.mark.parametrize(("definition", "value", "stored"), [
    (NUMBER, "42", "42"), (NUMBER, 42, "42"), (NUMBER, " 1.5 ", "1.5"), (NUMBER, "-3", "-3"), (NUMBER, "1e3", "1000"),
    (DAY, "2024-06-03", "2024-06-03"), (DAY, date(2024, 6, 3), "2024-06-03"),
    (YESNO, True, "yes"), (YESNO, False, "no"), (YESNO, "Ja", "yes"), (YESNO, "NO", "no"), (YESNO, "1", "yes"),
    (LIST, "offer", "Offer"), (LIST, "WON", "Won"), (LIST, "Lead", "Lead"),
    (TEXT, "  anything at all ", "anything at all"),
])
def test_custom_value_is_normalized(definition: FieldDef, value: Any, stored: str) -> None:
    f = new_todo(owner(), "x", TODO, date(2024, 6, 7))
    assert definition.id is not None
    set_custom(f, FIELDS, definition.id, value)
    assert f.custom == {definition.id: stored}


@pytest.mark.parametrize(("definition", "value"), [
    (NUMBER, "lots"), (NUMBER, "NaN"), (NUMBER, "inf"), (NUMBER, True),
    (DAY, "03.06.2024"), (DAY, "2024-02-30"),
    (YESNO, "maybe"),
    (LIST, "Lost"), (LIST, "Offe"),
])
def test_custom_value_not_matching_its_definition_is_rejected(definition: FieldDef, value: Any) -> None:
    f = new_todo(owner(), "x", TODO, date(2024, 6, 7))
    assert definition.id is not None
    with pytest.raises(InvalidFollowup, match=definition.name):
        set_custom(f, FIELDS, definition.id, value)
    assert f.custom == {}


def test_custom_value_cleared_by_none_or_blank_and_unknown_field_rejected() -> None:
    f = new_todo(owner(), "x", TODO, date(2024, 6, 7))
    set_custom(f, FIELDS, 5, "hello")
    set_custom(f, FIELDS, 5, "  ")
    assert f.custom == {}
    set_custom(f, FIELDS, 1, 3)
    set_custom(f, FIELDS, 1, None)
    assert f.custom == {}
    with pytest.raises(InvalidFollowup, match="no custom field"):
        set_custom(f, FIELDS, 99, "x")


def test_field_definitions_validate() -> None:
    with pytest.raises(InvalidFollowup, match="at least one value"):
        FieldDef("Stage", FieldType.LIST).validate()
    with pytest.raises(InvalidFollowup, match="name"):
        FieldDef("  ").validate()
    LIST.validate()


@given(st.one_of(st.integers(), st.decimals(allow_nan=False, allow_infinity=False, places=4),
                 st.floats(allow_nan=False, allow_infinity=False, width=32)))
def test_number_normalization_is_idempotent(value: Any) -> None:
    once = NUMBER.normalize(value)
    assert NUMBER.normalize(once) == once


@given(st.sampled_from(["Lead", "Offer", "Won"]), st.lists(st.booleans(), min_size=5, max_size=5))
def test_list_choices_match_case_insensitively(choice: str, upper: list[bool]) -> None:
    typed = "".join(c.upper() if u else c.lower() for c, u in zip(choice, upper * 2, strict=False))
    assert LIST.normalize(typed) == choice


@given(st.dates())
def test_date_normalization_round_trips(day: date) -> None:
    assert DAY.normalize(day.isoformat()) == day.isoformat()


# -- participants and resources ---------------------------------------------------


def test_participants_need_an_identity() -> None:
    m = new_meeting(owner(), "x", MEETING, datetime(2024, 6, 3, 9))
    m.participants = [Participant(name="Nobody")]
    with pytest.raises(InvalidFollowup, match="participant needs"):
        m.validate()
    m.participants = [Participant(email="")]
    with pytest.raises(InvalidFollowup, match="participant needs"):
        m.validate()
    m.participants = [Participant(user_id=2), Participant(person_id=3), Participant(email="x@example.com")]
    m.validate()
    assert m.is_invitation


@pytest.mark.parametrize("pair", [
    (Participant(user_id=2), Participant(user_id=2, partstat=PartStat.ACCEPTED)),
    (Participant(person_id=3), Participant(person_id=3, name="Bo")),
    (Participant(email="Bo@Example.com"), Participant(email="bo@example.com")),
])
def test_duplicate_participants_are_rejected(pair: tuple[Participant, Participant]) -> None:
    with pytest.raises(InvalidFollowup, match="twice"):
        new_meeting(owner(), "x", MEETING, datetime(2024, 6, 3, 9), participants=list(pair))


def test_a_user_and_an_address_are_different_participants() -> None:
    new_meeting(owner(), "x", MEETING, datetime(2024, 6, 3, 9),
                participants=[Participant(user_id=2, email="bo@example.com"), Participant(email="bo@example.com")])


def test_duplicate_resources_are_rejected() -> None:
    with pytest.raises(InvalidFollowup, match="booked twice"):
        new_meeting(owner(), "x", MEETING, datetime(2024, 6, 3, 9), resource_ids=[1, 2, 1])
    m = new_meeting(owner(), "x", MEETING, datetime(2024, 6, 3, 9), resource_ids=[2, 1])
    assert m.is_invitation and m.resource_ids == [2, 1]


# -- the rest of validate() --------------------------------------------------------


def test_title_uid_priority_and_alarm() -> None:
    for fields in ({"title": "  "}, {"uid": ""}, {"uid": "u" * 256}, {"priority": 10}, {"priority": -1},
                   {"alarm_minutes": -1}):
        base: dict[str, Any] = {"owner_id": 7, "kind": Kind.TODO, "title": "x", "type_id": TODO,
                                "deadline": date(2024, 6, 7)}
        with pytest.raises(InvalidFollowup):
            Followup(**{**base, **fields}).validate()
    Followup(owner_id=7, kind=Kind.TODO, title="x", type_id=TODO, priority=9, alarm_minutes=0).validate()


def test_recurrence_needs_a_start_or_deadline_and_empty_recurrence_is_dropped() -> None:
    t = Followup(owner_id=7, kind=Kind.TODO, title="x", type_id=TODO, recurrence=Recurrence(rule="FREQ=WEEKLY"))
    with pytest.raises(InvalidFollowup, match="recurring"):
        t.validate()
    m = new_meeting(owner(), "x", MEETING, datetime(2024, 6, 3, 9), recurrence=Recurrence(exdates=[date(2024, 6, 3)]))
    assert m.recurrence is None


def test_override_times_are_ordered() -> None:
    start = datetime(2024, 6, 3, 9, tzinfo=OSLO)
    with pytest.raises(InvalidFollowup, match="before the start"):
        new_meeting(owner(), "x", MEETING, start, recurrence=Recurrence(rule="FREQ=DAILY"),
                    overrides=[Occurrence(recurrence_id=start + timedelta(days=1), start=start + timedelta(days=1),
                                          end=start)])


def test_users_and_resources_validate() -> None:
    owner().validate()
    good = User("a", "A", "a@example.com")
    bad: list[dict[str, Any]] = [{"login": "a/b"}, {"login": " a"}, {"email": "nope"}, {"tz": "Mars/Olympus"},
                                 {"meeting_minutes": 0}, {"call_minutes": -1}]
    for change in bad:
        with pytest.raises(InvalidFollowup):
            replace(good, **change).validate()
    with pytest.raises(InvalidFollowup):
        Resource(login="room/1", name="Room").validate()


def test_copy_is_deep_for_children() -> None:
    m = new_meeting(owner(), "x", MEETING, datetime(2024, 6, 3, 9), participants=[Participant(user_id=2)],
                    resource_ids=[1], recurrence=Recurrence(rule="FREQ=DAILY", exdates=[datetime(2024, 6, 4, 9)]),
                    custom={1: "2"})
    c = m.copy()
    assert c == m
    assert c.participants is not m.participants and c.participants[0] is not m.participants[0]
    assert c.recurrence is not None and m.recurrence is not None
    assert c.recurrence.exdates is not m.recurrence.exdates
    c.custom[1] = "3"
    c.resource_ids.append(2)
    assert m.custom == {1: "2"} and m.resource_ids == [1]


NUMBERISH = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"\A[+-]?\d{1,4}(\.\d{1,4})?[eE][+-]?\d{1,10}\Z"),
    st.sampled_from(["1e999999", "1e1000000", "1e-1000000", "9" * 30 + "e999990", "sNaN", "-Infinity"]),
)


@given(NUMBERISH, st.sampled_from([NUMBER, DAY, YESNO, LIST, TEXT]))
def test_any_text_is_normalized_or_invalid(text: str, definition: FieldDef) -> None:
    """A value a calendar client sends must give a clean InvalidFollowup, never another error."""
    try:
        value = definition.normalize(text)
    except InvalidFollowup:
        return
    assert definition.normalize(value) == value


def test_number_with_an_exponent_out_of_range_is_invalid() -> None:
    with pytest.raises(InvalidFollowup, match="Budget"):
        NUMBER.normalize("1e1000000")
