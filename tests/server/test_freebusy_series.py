"""Free/busy keeps each recurrence set parsed and listed (freebusy.SERIES),
within the bound ``recurrence_cache_entries`` gives it, and answers the same
whether a series was kept, dropped or never kept (bound 0)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from server import config
from server.services import caches, freebusy
from server.services import followups as services
from server.services.freebusy import BUSY, Busy
from server.services.transaction import transaction
from store.domain import Kind, Recurrence, User, new_meeting

OSLO = ZoneInfo("Europe/Oslo")
DEFAULTS = config.load(None, {}, {})


def _bound(entries: int) -> None:
    caches.configure(config.load(None, {"recurrence_cache_entries": entries}, {}))
    freebusy.SERIES.clear()


@pytest.fixture
def bounded() -> Iterator[None]:
    try:
        yield
    finally:
        caches.configure(DEFAULTS)


def _weekly_meetings(engine: Engine) -> None:
    """Four weekly series of ada's, COUNT and UNTIL, each on its own weekday at 09:00 Oslo."""
    ada = services.add_user(engine, User("ada", "Ada", "ada@example.com", tz="Europe/Oslo"), "pw")
    with transaction(engine) as uow:
        meeting = uow.types.default(Kind.MEETING).id
    assert meeting is not None
    rules = ("FREQ=WEEKLY;COUNT=30", "FREQ=WEEKLY;COUNT=10", "FREQ=WEEKLY;UNTIL=20260601T000000Z", "FREQ=WEEKLY")
    for day, rule in enumerate(rules):
        start = datetime(2026, 1, 5 + day, 9, tzinfo=OSLO)
        services.create(engine, new_meeting(ada, f"Series {day}", meeting, start, start + timedelta(hours=1),
                                            recurrence=Recurrence(rule)))


def _week(monday: datetime) -> list[Busy]:
    return [Busy(monday + timedelta(days=d, hours=8), monday + timedelta(days=d, hours=9), BUSY) for d in range(4)]


def test_series_kept_for_free_busy_stay_within_the_bound(engine: Engine, bounded: None) -> None:
    _weekly_meetings(engine)
    _bound(2)
    monday = datetime(2026, 2, 2, tzinfo=UTC)
    assert freebusy.periods(engine, "ada", monday, monday + timedelta(days=7)) == _week(monday)
    assert len(freebusy.SERIES) == 2
    later = datetime(2026, 2, 23, tzinfo=UTC)
    assert freebusy.periods(engine, "ada", later, later + timedelta(days=7)) == _week(later)
    assert len(freebusy.SERIES) == 2


def test_free_busy_is_the_same_with_and_without_kept_series(engine: Engine, bounded: None) -> None:
    _weekly_meetings(engine)
    answers: dict[int, list[list[Busy]]] = {}
    for entries in (0, 1, 100):
        _bound(entries)
        answers[entries] = []
        for week in range(0, 40, 3):
            start = datetime(2025, 12, 29, 12, tzinfo=UTC) + timedelta(weeks=week)
            answers[entries].append(freebusy.periods(engine, "ada", start, start + timedelta(days=9)))
        assert len(freebusy.SERIES) == min(entries, 4)
    assert answers[0] == answers[1] == answers[100]
    assert sum(map(len, answers[0])) > 20  # the windows hold instances of every series (COUNT=10 ends in March)
