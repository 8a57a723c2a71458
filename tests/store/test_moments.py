"""store.moments: the text encoding of moments must round-trip exactly, and
the UTC index column must order moments as real time does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from store import moments
from store.domain import Moment

OSLO = ZoneInfo("Europe/Oslo")
NEW_YORK = ZoneInfo("America/New_York")

# Years the CRM can meet; beyond ~2037 zoneinfo extrapolates the POSIX rule, which is fine too.
aware = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones())
floating = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
utc = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))
dates = st.dates()


def assert_same_moment(decoded: Moment | None, original: Moment) -> None:
    """Exact: same type, same wall clock, same zone and the same instant.

    ``==`` alone is not enough: aware datetimes sharing a tzinfo compare by
    wall clock and ignore ``fold``, so a lost fold would go unnoticed.
    """
    assert type(decoded) is type(original)
    assert decoded == original
    if isinstance(original, datetime):
        assert isinstance(decoded, datetime)
        assert decoded.replace(tzinfo=None) == original.replace(tzinfo=None)
        assert decoded.utcoffset() == original.utcoffset()
        if isinstance(original.tzinfo, ZoneInfo) and original.tzinfo.key != "UTC":
            assert decoded.tzinfo is original.tzinfo
        elif original.tzinfo is None:
            assert decoded.tzinfo is None


@given(aware)
@example(datetime(2024, 10, 27, 2, 30, tzinfo=OSLO, fold=0))
@example(datetime(2024, 10, 27, 2, 30, tzinfo=OSLO, fold=1))
@example(datetime(2024, 11, 3, 1, 15, 30, 123456, tzinfo=NEW_YORK, fold=1))
@example(datetime(2024, 3, 31, 2, 30, tzinfo=OSLO, fold=1))  # in the spring gap: fold picks the offset
def test_zoned_round_trip(moment: datetime) -> None:
    assert_same_moment(moments.decode(moments.encode(moment)), moment)


@given(utc)
def test_utc_round_trip(moment: datetime) -> None:
    text = moments.encode(moment)
    assert text is not None and text.endswith("Z")
    assert_same_moment(moments.decode(text), moment)


@given(floating)
def test_floating_round_trip(moment: datetime) -> None:
    assert_same_moment(moments.decode(moments.encode(moment)), moment)


@given(dates)
def test_date_round_trip(moment: date) -> None:
    text = moments.encode(moment)
    assert text == moment.isoformat()
    assert_same_moment(moments.decode(text), moment)


def test_none_round_trips() -> None:
    assert moments.encode(None) is None
    assert moments.decode(None) is None
    assert moments.to_utc(None) is None


def test_fixed_offset_keeps_the_instant() -> None:
    moment = datetime(2024, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    decoded = moments.decode(moments.encode(moment))
    assert decoded == moment
    assert decoded == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


def test_zoneinfo_utc_is_written_as_z() -> None:
    moment = datetime(2024, 6, 1, 12, 0, tzinfo=ZoneInfo("UTC"))
    assert moments.encode(moment) == "2024-06-01T12:00:00Z"
    assert moments.decode("2024-06-01T12:00:00Z") == moment


def test_fold_times_index_at_their_own_instant() -> None:
    """Regression: the second 02:30 of the autumn night came back as the first one (fold was lost)."""
    first = datetime(2024, 10, 27, 2, 30, tzinfo=OSLO, fold=0)
    second = datetime(2024, 10, 27, 2, 30, tzinfo=OSLO, fold=1)
    assert moments.to_utc(first) == datetime(2024, 10, 27, 0, 30)
    assert moments.to_utc(second) == datetime(2024, 10, 27, 1, 30)
    assert moments.to_utc(moments.decode(moments.encode(second))) == moments.to_utc(second)


@given(aware, aware)
def test_to_utc_orders_aware_moments_as_real_time(a: datetime, b: datetime) -> None:
    ua, ub = moments.to_utc(a), moments.to_utc(b)
    assert ua is not None and ub is not None
    assert ua.tzinfo is None
    assert (ua < ub) == (a.astimezone(UTC) < b.astimezone(UTC))
    assert (ua == ub) == (a.astimezone(UTC) == b.astimezone(UTC))


@given(floating.filter(lambda d: d.year > 1 and d.year < 9999), st.sampled_from(["UTC", "Europe/Oslo", "Asia/Tokyo"]))
def test_floating_and_dates_read_in_the_owners_zone(moment: datetime, tz: str) -> None:
    expected = moment.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC).replace(tzinfo=None)
    assert moments.to_utc(moment, tz) == expected
    day = moment.date()
    assert moments.to_utc(day, tz) == moments.to_utc(datetime(day.year, day.month, day.day), tz)


def test_to_utc_of_a_date_in_a_zone() -> None:
    assert moments.to_utc(date(2024, 6, 1), "Europe/Oslo") == datetime(2024, 5, 31, 22, 0)
    assert moments.to_utc(date(2024, 6, 1)) == datetime(2024, 6, 1)


@given(st.lists(aware, min_size=2, max_size=6))
def test_sorting_by_to_utc_is_sorting_by_instant(values: list[datetime]) -> None:
    by_index = sorted(values, key=lambda m: moments.to_utc(m) or datetime.min)
    instants = [m.astimezone(UTC) for m in by_index]
    assert instants == sorted(instants)


@pytest.mark.parametrize("text", ["2024-06-01", "2024-06-01T09:00:00", "2024-06-01T09:00:00Z",
                                  "2024-06-01T09:00:00[Europe/Oslo]", "2024-06-01T09:00:00.500000[Asia/Kolkata]",
                                  "2024-10-27T02:30:00+01:00[Europe/Oslo]"])
def test_canonical_texts_are_stable(text: str) -> None:
    assert moments.encode(moments.decode(text)) == text
