"""The store's one write lock (``store.db``), the retries of what PostgreSQL
refuses to serialize (``server.services.transaction``), and errors that never
carry a row's values."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg.errors
import pytest
from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from server.services import transaction as tx
from server.services.calendars import WriteRequest
from server.services.followups import add_user
from store import db
from store.domain import User
from store.orm import Meta, UserRow
from store.uow import UnitOfWork

SECRET = "Confidential agenda: the Nordlys take-over"


def _held_elsewhere(engine: Engine) -> bool:
    """Whether another session holds the store's write lock (asked without waiting)."""
    with engine.connect() as conn:
        got = conn.execute(text(db.WRITE_LOCK_SQL.replace("pg_advisory_xact_lock", "pg_try_advisory_xact_lock")))
        return not got.one()[-1]


def _in_thread(work: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _read(engine: Engine) -> None:
    with UnitOfWork(engine, write=False) as uow:
        uow.users.list()


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_write_transaction_takes_the_store_lock_before_anything_else(engine: Engine) -> None:
    """Every writer queues on one lock taken as its first statement, so no two
    hold row locks at once (no deadlock) and each reads what the last one wrote;
    readers never wait for it."""
    with UnitOfWork(engine, write=True) as uow:
        uow.session.execute(select(Meta.key)).all()
        assert _held_elsewhere(engine)
        read = _in_thread(lambda: _read(engine))
        read.join(30)
        assert not read.is_alive()  # a reader does not wait for the writer
        second: list[str] = []

        def write() -> None:
            with UnitOfWork(engine, write=True) as other:
                second.append(other.session.scalar(select(Meta.value).where(Meta.key == "probe")) or "")

        writer = _in_thread(write)
        uow.session.add(Meta(key="probe", value="first writer"))
        uow.session.flush()
        uow.commit()
    writer.join(30)
    assert second == ["first writer"]  # it waited, then read what the first committed
    assert not _held_elsewhere(engine)


@pytest.mark.parametrize("backend", ["postgres"])
def test_read_transactions_take_no_lock(engine: Engine) -> None:
    with UnitOfWork(engine, write=False) as uow:
        uow.users.list()
        assert not _held_elsewhere(engine)


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_real_deadlock_is_run_again_not_raised(engine: Engine) -> None:
    """Two sessions that are not writers of ours (no store lock) lock two rows
    in opposite orders: PostgreSQL ends one with 40P01 and ``retrying`` runs
    it again, so both finish."""
    with engine.begin() as conn:
        conn.execute(insert(Meta), [{"key": "a", "value": "0"}, {"key": "b", "value": "0"}])
    barrier = threading.Barrier(2, timeout=30)
    done: list[str] = []
    before = tx.retries

    def locker(first: str, second: str) -> Callable[[], None]:
        attempts: list[int] = []

        def work() -> None:
            attempts.append(1)
            with engine.begin() as conn:
                conn.execute(update(Meta).where(Meta.key == first).values(value=first))
                if len(attempts) == 1:
                    barrier.wait()
                conn.execute(update(Meta).where(Meta.key == second).values(value=first))
            done.append(first)

        return lambda: tx.retrying(work)

    threads = [_in_thread(locker("a", "b")), _in_thread(locker("b", "a"))]
    for t in threads:
        t.join(60)
    assert sorted(done) == ["a", "b"]
    assert tx.retries == before + 1


def _deadlock() -> OperationalError:
    return OperationalError("UPDATE collections ...", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


def test_retrying_runs_again_only_what_postgresql_refused_to_serialize(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tx, "BACKOFF_SECONDS", 0.0)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _deadlock()
        return "done"

    assert tx.retrying(flaky) == "done" and len(calls) == 3

    def always() -> None:
        calls.append(1)
        raise OperationalError("SELECT 1", {}, psycopg.errors.SerializationFailure("could not serialize"))

    calls.clear()
    with pytest.raises(OperationalError):
        tx.retrying(always)
    assert len(calls) == tx.ATTEMPTS

    def broken() -> None:
        calls.append(1)
        raise OperationalError("SELECT 1", {}, psycopg.errors.UndefinedTable("no such table"))

    calls.clear()
    with pytest.raises(DBAPIError):
        tx.retrying(broken)
    assert len(calls) == 1


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_write_request_runs_its_operation_again_in_a_fresh_transaction(engine: Engine,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tx, "BACKOFF_SECONDS", 0.0)
    add_user(engine, User("anna", "Anna Berg", "anna@example.com"))
    calls: list[int] = []

    def operation(uow: UnitOfWork, _user: str) -> str:
        calls.append(1)
        uow.session.add(Meta(key=f"attempt{len(calls)}", value="x"))
        uow.session.flush()
        if len(calls) == 1:
            raise _deadlock()
        return "stored"

    with WriteRequest(engine, "anna", "anna") as request:
        assert request.run(operation) == "stored"
    with engine.connect() as conn:
        keys = set(conn.execute(select(Meta.key)).scalars())
    assert "attempt2" in keys and "attempt1" not in keys  # the first attempt left nothing behind


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_data_error_never_shows_the_rows_values(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """A value PostgreSQL refuses (too long for its column, a NUL byte) raises
    a DataError whose text names the statement, never the parameters."""
    caplog.set_level(logging.DEBUG)
    found: list[str] = []
    with pytest.raises(DataError) as too_long, engine.begin() as conn:
        conn.execute(insert(UserRow).values(login="x", name=SECRET * 20, email="x@example.com", tz="UTC"))
    found.append(str(too_long.value))
    with pytest.raises(DataError) as nul, engine.begin() as conn:
        conn.execute(update(UserRow).values(name=SECRET + "\x00"))
    found.append(str(nul.value))
    for message in found:
        assert "Confidential" not in message and "parameters hidden" in message, message
    assert "Confidential" not in caplog.text
