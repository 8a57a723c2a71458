"""expand() with a cache of prepared series gives exactly what it gives without one.

Free/busy keeps each recurrence set parsed and listed (``mapping.recurrence.prepare``)
and takes a window's instances by bisection instead of walking a COUNT rule
from its first instance; every window, before, inside, across and after a
series, must give the same instances as the walk, whatever the cache held.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping import Limits, Prepared, configure_limits, expand
from mapping.limits import current
from mapping.recurrence import LISTED, prepare
from store.domain import Followup, Occurrence, Recurrence, new_meeting
from tests.mapping.mapping_support import make_directory

OSLO = ZoneInfo("Europe/Oslo")
NEW_YORK = ZoneInfo("America/New_York")
D = make_directory()
OWNER = D.user(1)


class DictCache:
    """The smallest cache expand() accepts: unbounded, counting its hits."""

    def __init__(self) -> None:
        self.items: dict[Hashable, Prepared] = {}
        self.hits = 0

    def get(self, key: Hashable) -> Prepared | None:
        found = self.items.get(key)
        self.hits += found is not None
        return found

    def put(self, key: Hashable, value: Prepared) -> None:
        self.items[key] = value


def series(rule: str | None, start: datetime | date, length: timedelta = timedelta(hours=1),
           rdates: list[datetime | date] | None = None, exdates: list[datetime | date] | None = None,
           overrides: list[Occurrence] | None = None) -> Followup:
    f = new_meeting(OWNER, "Series", 1, start, start + length,  # type: ignore[operator]
                    recurrence=Recurrence(rule, rdates=rdates or [], exdates=exdates or []))
    f.overrides = overrides or []
    return f


def _oslo(y: int, m: int, d: int, h: int = 9) -> datetime:
    return datetime(y, m, d, h, tzinfo=OSLO)


SERIES = [
    # the benchmark's kind: weekly, COUNT, one EXDATE, one occurrence moved (here into a later week)
    series("FREQ=WEEKLY;COUNT=20", _oslo(2025, 10, 6), exdates=[_oslo(2025, 10, 20)],
           overrides=[Occurrence(_oslo(2025, 10, 13), start=_oslo(2026, 1, 7, 14), end=_oslo(2026, 1, 7, 15))]),
    # an early instance moved far ahead, and one cancelled
    series("FREQ=DAILY;COUNT=60", _oslo(2026, 3, 1, 8), timedelta(minutes=30),
           overrides=[Occurrence(_oslo(2026, 3, 2, 8), start=_oslo(2026, 4, 20, 12)),
                      Occurrence(_oslo(2026, 3, 10, 8), cancelled=True)]),
    series("FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20260601T000000Z", _oslo(2026, 1, 5, 10)),
    series("FREQ=MONTHLY;BYDAY=-1FR;COUNT=12", _oslo(2026, 1, 30, 15), timedelta(hours=2)),
    series("FREQ=WEEKLY;INTERVAL=2", _oslo(2025, 6, 2, 9)),  # no end: walked per window, cached parsed
    series("FREQ=DAILY;COUNT=3", date(2026, 3, 1), timedelta(days=1), rdates=[date(2026, 3, 20)]),
    series("FREQ=WEEKLY;COUNT=10", datetime(2026, 2, 2, 9), exdates=[datetime(2026, 2, 16, 9)]),  # floating
    series("FREQ=WEEKLY;COUNT=10", datetime(2026, 2, 2, 8, tzinfo=UTC)),
    series("FREQ=WEEKLY;COUNT=10", datetime(2026, 2, 2, 3, tzinfo=NEW_YORK)),  # the same instant as above
    series("FREQ=HOURLY;COUNT=1500", _oslo(2026, 3, 1, 0), timedelta(minutes=20)),  # longer than LISTED
    series("FREQ=HOURLY;INTERVAL=5;COUNT=400", _oslo(2026, 3, 1, 0), timedelta(minutes=90)),  # listed, dense
    series(None, _oslo(2026, 3, 3), rdates=[_oslo(2026, 3, 5), _oslo(2026, 2, 1)]),  # RDATEs only
    series("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", _oslo(2026, 1, 1)),  # matches nothing but DTSTART
    series("FREQ=DAILY;COUNT=5", _oslo(2026, 3, 27, 2), timedelta(hours=1)),  # over the DST change
]


@pytest.fixture(autouse=True, scope="module")
def no_clock() -> Iterator[None]:
    """Expansions stop at max_expansion_ms, so on a busy machine the walk without a cache
    may stop sooner than the one that lists a series; only the instance limits apply here."""
    before = current()
    configure_limits(Limits(max_expansion_ms=600_000))
    try:
        yield
    finally:
        configure_limits(before)


windows = st.tuples(st.one_of(st.integers(min_value=0, max_value=500 * 24),  # hours from 2025-09-01
                              st.integers(min_value=180 * 24, max_value=240 * 24)),  # where most series are
                    st.integers(min_value=1, max_value=60 * 24))


@settings(max_examples=120, deadline=None)
@given(window=windows, limit=st.sampled_from([2000, 10000, 5, 1]))
def test_a_cached_series_gives_the_instances_a_walk_gives(window: tuple[int, int], limit: int) -> None:
    first_hour, hours = window
    start = datetime(2025, 9, 1, tzinfo=UTC) + timedelta(hours=first_hour)
    end = start + timedelta(hours=hours)
    cache = DictCache()
    for f in SERIES:
        for zone in (UTC, OSLO):
            want = expand(f, start.astimezone(zone), end.astimezone(zone), limit=limit)
            assert expand(f, start.astimezone(zone), end.astimezone(zone), limit=limit, cache=cache) == want
            assert expand(f, start.astimezone(zone), end.astimezone(zone), limit=limit, cache=cache) == want


def test_a_series_is_prepared_once_and_listed_when_it_ends_soon_enough() -> None:
    cache = DictCache()
    f = SERIES[0]
    for week in range(30):
        start = datetime(2025, 10, 1, tzinfo=UTC) + timedelta(weeks=week)
        expand(f, start, start + timedelta(weeks=1), cache=cache)
    assert (len(cache.items), cache.hits) == (1, 29)
    prepared = next(iter(cache.items.values()))
    assert prepared.walls is not None and len(prepared.walls) == 19  # 20, less the EXDATE
    assert LISTED < 1500
    assert prepare(_oslo(2026, 3, 1, 0), "FREQ=HOURLY;COUNT=1500", [], [], cache).walls is None  # walked per window
    assert prepare(_oslo(2026, 3, 1, 0), "FREQ=HOURLY", [], [], cache).walls is None  # no end
    assert prepare(_oslo(2026, 3, 1, 0), "FREQ=HOURLY;COUNT=1500", [], []).walls is None  # no cache: not listed
    assert len(prepare(_oslo(2026, 3, 1, 0), "FREQ=HOURLY;COUNT=1000", [], [], cache).walls or ()) == 1000


def test_one_instant_in_two_zones_is_two_series() -> None:
    """A weekly rule runs in its own zone: 08:00Z and 03:00 New York are one instant
    in February, and an hour apart after the United States change to summer time."""
    cache = DictCache()
    utc, new_york = SERIES[7], SERIES[8]
    window = (datetime(2026, 3, 16, tzinfo=UTC), datetime(2026, 3, 17, tzinfo=UTC))
    assert [i.start for i in expand(utc, *window, cache=cache)] == [datetime(2026, 3, 16, 8, tzinfo=UTC)]
    assert [i.start for i in expand(new_york, *window, cache=cache)] == [datetime(2026, 3, 16, 3, tzinfo=NEW_YORK)]
    assert len(cache.items) == 2
