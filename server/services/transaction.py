"""The application layer's unit of work: the store's, with the calendar
projection as its before-commit handler, and retries of what PostgreSQL
refuses to serialize.

Every write of the application (services, the CalDAV side, the CLI, the
demo) opens its transaction here, so whatever it changes (a follow-up, a
user's e-mail, a company's name) is in every calendar that shows it when the
transaction commits. ``tests/test_layers.py`` holds that nothing outside
``server/services`` builds a :class:`store.uow.UnitOfWork` itself.

Writers take the store's write lock first (``store.db``), so they cannot
deadlock with each other; PostgreSQL may still end a transaction with a
serialization failure (SQLSTATE 40001) or a deadlock (40P01) against a
session that is not ours (a migration, an administrator's ``psql``). Such a
transaction changed nothing, and :func:`retrying` (:func:`retried`) runs it
again after a short, jittered pause instead of failing the request.
SQLite has one writer at a time and never reports either.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from server.services import projection
from store.domain import Source
from store.uow import UnitOfWork

P = ParamSpec("P")
T = TypeVar("T")

RETRY_SQLSTATES = frozenset({"40001", "40P01"})
"""serialization_failure and deadlock_detected: the transaction was rolled back and may simply run again."""
ATTEMPTS = 5
BACKOFF_SECONDS = 0.01
"""The first pause's upper bound; it doubles with each attempt (jittered: uniform from zero)."""

log = logging.getLogger("followups.transaction")
retries = 0
"""Transactions run again in this process (for tests and the load benchmark)."""


def transaction(engine: Engine, actor: str = "system", source: Source = Source.CRM,
                write: bool = True) -> UnitOfWork:
    """A unit of work whose commit first brings the calendars up to date.
    ``write=False`` for reads (no write lock; nothing to commit)."""
    return UnitOfWork(engine, actor=actor, source=source, write=write, before_commit=projection.follow)


def retryable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is PostgreSQL refusing to
    serialize the transaction (:data:`RETRY_SQLSTATES`)."""
    seen: BaseException | None = exc
    while seen is not None:
        orig = seen.orig if isinstance(seen, DBAPIError) else seen
        if getattr(orig, "sqlstate", None) in RETRY_SQLSTATES:
            return True
        seen = seen.__cause__
    return False


def pause(attempt: int) -> None:
    """Wait before attempt ``attempt + 1``: jittered, so two transactions that
    collided do not collide again, and counted in :data:`retries`."""
    global retries
    retries += 1
    log.warning("the database refused to serialize a transaction; running it again (attempt %d of %d)",
                attempt + 2, ATTEMPTS)
    time.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** attempt))


def retrying(work: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """``work()``, run again (up to ``attempts`` times in all) when PostgreSQL
    ends its transaction with a serialization failure or a deadlock.
    ``work`` must open and commit its own transaction(s), all of them again
    on each run."""
    for attempt in range(attempts):
        try:
            return work()
        except DBAPIError as exc:
            if attempt + 1 >= attempts or not retryable(exc):
                raise
        pause(attempt)
    raise AssertionError("unreachable")


def retried(service: Callable[P, T]) -> Callable[P, T]:
    """A service that is one transaction (or several, each whole), made
    :func:`retrying`."""

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return retrying(lambda: service(*args, **kwargs))

    return run
