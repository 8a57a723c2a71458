"""Shared fixtures: a fresh store on SQLite and, when FOLLOWUPS_TEST_PG names a
PostgreSQL server, the same on PostgreSQL (each test in its own schema).

In CI (``CI=true``) a missing PostgreSQL is an error, never a silent skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text

from store import db

PG_URL = os.environ.get("FOLLOWUPS_TEST_PG", "")
BACKENDS = ["sqlite", "postgres"]


def pytest_configure(config: pytest.Config) -> None:
    # A config file in /etc or the tester's home must not change what the tests run against.
    os.environ["FOLLOWUPS_DEFAULT_CONFIG_FILES"] = ""
    if os.environ.get("CI") == "true" and not PG_URL:
        raise pytest.UsageError("CI=true but FOLLOWUPS_TEST_PG is not set: the PostgreSQL tests must run in CI")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgres":
            item.add_marker(pytest.mark.postgres)


def _pg_admin() -> Engine:
    return create_engine(db.normalize_url(PG_URL), isolation_level="AUTOCOMMIT")


def make_url(backend: str, tmp_path: Path) -> tuple[str, str | None]:
    """A URL for an empty database of ``backend``, and the PostgreSQL schema to drop afterwards."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'followups.db'}", None
    if not PG_URL:
        pytest.skip("PostgreSQL: set FOLLOWUPS_TEST_PG=postgresql://postgres@127.0.0.1:5432/test")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}", schema


def drop_schema(schema: str | None) -> None:
    if schema is None:
        return
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (not yet migrated)."""
    url, schema = make_url(backend, tmp_path)
    yield url
    db.dispose_all()
    drop_schema(schema)


@pytest.fixture
def engine(db_url: str) -> Engine:
    """A migrated, seeded store."""
    from server.services.followups import open_store

    return open_store(db_url)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say how many PostgreSQL tests ran, so CI output shows they were not skipped."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome in counts:
        for report in terminalreporter.stats.get(outcome, []):
            if "postgres" in getattr(report, "keywords", {}) and getattr(report, "when", "call") in {"call", "setup"}:
                if outcome != "passed" or report.when == "call":
                    counts[outcome] += 1
    terminalreporter.write_line(
        f"PostgreSQL tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
        + ("" if PG_URL else " (FOLLOWUPS_TEST_PG is not set)"))
