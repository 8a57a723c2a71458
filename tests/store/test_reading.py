"""Reads end with COMMIT (``store.db.reading``): the same as a ROLLBACK for a
transaction that wrote nothing, but psycopg forgets every prepared statement
at a ROLLBACK, so PostgreSQL would plan each request's few statements afresh
every time. Held here through PostgreSQL's own list of the session's prepared
statements; on both databases, a read answers and a failed one propagates."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, create_engine, select, text

from store import db
from store.orm import UserRow

READS = 8
"""More reads of one statement than psycopg's prepare threshold (5)."""


def _prepared(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM pg_prepared_statements")) or 0)


def test_a_read_answers_and_a_failed_one_propagates(engine: Engine) -> None:
    with db.reading(engine) as conn:
        assert conn.scalar(select(UserRow.login).where(UserRow.login == "nobody")) is None
    with pytest.raises(ZeroDivisionError), db.reading(engine) as conn:
        conn.scalar(select(UserRow.id).limit(1))
        raise ZeroDivisionError


@pytest.mark.parametrize("read_by", ["store.db.reading", "a plain connection (rolled back)"])
def test_repeated_reads_keep_their_prepared_statements_on_postgresql(db_url: str, engine: Engine,
                                                                     read_by: str) -> None:
    if engine.dialect.name != "postgresql":
        assert db.normalize_url(db_url).startswith("sqlite")
        return  # SQLite has no server-side plans to keep
    one = create_engine(db.normalize_url(db_url), pool_size=1, max_overflow=0)  # one pooled connection
    try:
        for _ in range(READS):
            reading = db.reading(one) if read_by == "store.db.reading" else one.connect()
            with reading as conn:
                conn.scalar(select(UserRow.password_hash).where(UserRow.login == "anyone"))
        kept = _prepared(one)
    finally:
        one.dispose()
    assert (kept > 0) == (read_by == "store.db.reading"), kept
