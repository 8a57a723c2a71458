"""A bulk load stores exactly what loading the follow-ups one by one stores.

``services.create_many`` takes shortcuts the one-by-one path does not (ids
drawn ahead from PostgreSQL's sequence, multi-row inserts, one revision bump
per collection and batch, remembered iCalendar lines): none of them may show
in the store. The same follow-ups (the demo team's, whose invitees, rooms,
equipment, sales, projects and custom fields reach every kind of copy, and
the benchmark's mix) go into two empty stores, one through ``create_many``
and one through ``create`` each, with the clock stopped; every table must
then hold the same rows (surrogate ids aside), the calendar objects the same
texts, ETags, UIDs, hrefs and revisions, and the change log the same entries.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from benchmarks import data as bench_data
from server import demo
from server.services import followups as services
from server.services.transaction import transaction
from store import db
from store.domain import Followup
from store.orm import Base
from tests.conftest import drop_schema, make_url

NOW = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
IGNORED = {"followup_participants": {"id"}, "changes": {"id"}, "calendar_objects": {"id"},
           "users": {"password_hash"}, "meta": {"value"}}
"""Columns compared in neither store: ids that only number rows, salted password
hashes and the store's random instance id."""


@pytest.fixture
def stores(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, Engine]]:
    """Two empty stores of ``backend``, with the store's clock stopped at :data:`NOW`."""
    for module in ("store.followups", "store.uow", "store.calendar"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: NOW)
    made = [make_url(backend, tmp_path / name) for name in ("bulk", "single")]
    for name in ("bulk", "single"):
        (tmp_path / name).mkdir()
    try:
        yield services.open_store(made[0][0]), services.open_store(made[1][0])
    finally:
        db.dispose_all()
        for _, schema in made:
            drop_schema(schema)


def _demo(engine: Engine) -> list[Followup]:
    """The demo team's directory in ``engine`` and its follow-ups (not stored), as ``load_demo`` makes them."""
    rng = random.Random(demo.SEED)
    with transaction(engine, actor="demo") as uow:
        d = demo._directory(uow, rng, ["not-a-hash"] * len(demo.USERS))
        followups = demo._followups(d, rng, date(2026, 3, 2))
        uow.commit()
    return followups


def _bench(engine: Engine) -> list[Followup]:
    """The benchmark's directory in ``engine`` and 300 of its follow-ups (not stored)."""
    return bench_data.generate(bench_data.setup_directory(engine), 300, bench_data.SEED)


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows without the :data:`IGNORED` columns, sorted."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in IGNORED.get(table.name, set())]
            found[table.name] = sorted((tuple(row) for row in conn.execute(select(*columns))), key=repr)
    return found


@pytest.mark.parametrize("dataset", [_demo, _bench], ids=["demo", "bench"])
def test_create_many_stores_what_create_stores(stores: tuple[Engine, Engine],
                                               dataset: Callable[[Engine], list[Followup]]) -> None:
    bulk, single = stores
    loaded = dataset(bulk)
    assert services.create_many(bulk, loaded, actor="loader", batch=64) == len(loaded)
    for f in dataset(single):
        services.create(single, f, actor="loader")
    assert [f.id for f in loaded] == sorted(f.id for f in loaded)
    got, want = _rows(bulk), _rows(single)
    assert len(want["calendar_objects"]) > len(loaded)  # invitees' and resources' copies too
    assert len(want["changes"]) == len(loaded)
    for table in want:
        assert got[table] == want[table], table
