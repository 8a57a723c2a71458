"""Engines, the store's write lock, and schema migrations.

One code path for SQLite (the default, zero setup) and PostgreSQL. Engines
are created on first use, cached per URL for the life of the process (never
at import time), and shared by every unit of work in it.

The order of locks, for every writer in every process and host (client
PUT/DELETE/MOVE/PROPPATCH, the projection's copies to invitees and
resources, the CLI's and the services' CRM writes, grants, directory edits,
imports): a write transaction (``UnitOfWork(write=True)``, the execution
option ``followups_write``) takes the store's one write lock as its first
statement, before it reads any row, and holds it until it commits or rolls
back; only then does it read and lock rows, in whatever order. On SQLite the
lock is the database's own (``BEGIN IMMEDIATE``); on PostgreSQL it is a
transaction-scoped advisory lock keyed by the schema
(:data:`WRITE_LOCK_SQL`), so every process and host sharing the database
queues on it. Since no two writers ever hold row locks at the same time, no
lock cycle (deadlock) can form between them, and every read a writer makes
(an If-Match check, ``followups update``'s read of the follow-up) sees every
earlier write committed: no update is lost. Reads take no lock and never
wait. A writer keeps the lock for the few milliseconds of one request or
command (bulk imports: one batch per transaction).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from store.errors import StoreError

ENV_VAR = "FOLLOWUPS_DATABASE"
WRITE_LOCK_CLASS = 0x46_55_50  # "FUP": the advisory-lock space of this application
LOCK_WAIT = "30s"
"""How long a writer waits for the lock before it fails, as SQLite's busy timeout."""
WRITE_LOCK_SQL = (f"SELECT set_config('lock_timeout', '{LOCK_WAIT}', true), "
                  f"pg_advisory_xact_lock({WRITE_LOCK_CLASS}, hashtext(current_schema()))")
"""The store's write lock on PostgreSQL: one per schema (a store), not per database."""
MIGRATIONS = Path(__file__).with_name("migrations")
_REVISION_LINE = re.compile(
    r"^(down_revision|revision)\s*(?::[^=\n]*)?=\s*(?:'([^'\n]*)'|\"([^\"\n]*)\"|None)\s*$", re.M)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def default_url() -> str:
    """``$FOLLOWUPS_DATABASE``, else a SQLite file in the user's data folder."""
    url = os.environ.get(ENV_VAR)
    if url:
        return url
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'followup-caldav' / 'followups.db'}"


def normalize_url(url: str) -> str:
    """Accept the URLs people type: a bare path means SQLite; ``postgresql://``
    and ``postgres://`` use psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for ``url`` (default: :func:`default_url`)."""
    url = normalize_url(url or default_url())
    engine = _engines.get(url)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create(url)
            _engines[url] = engine
    return engine


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            _private_file(Path(database))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               hide_parameters=True)
        _sqlite_transactions(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # hide_parameters: an error's message (logged, or answered) never
        # holds a row's values: titles, agendas, notes, password hashes.
        engine = create_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=True, hide_parameters=True)
        _postgresql_transactions(engine)
        return engine
    raise StoreError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///PATH or postgresql://...")


JIT_OFF_FROM = 110000
"""PostgreSQL 11, the first with the ``jit`` setting (``server_version_num``)."""


def _jit_off(dbapi_conn: Any) -> None:
    """JIT off for this session of ours (see :func:`_postgresql_transactions`)."""
    if dbapi_conn.info.server_version < JIT_OFF_FROM:  # psycopg 3 (store.db.normalize_url)
        return
    cursor = dbapi_conn.cursor()
    cursor.execute("SET jit = off")
    cursor.close()
    dbapi_conn.commit()


GROWN_SHARE = 0.5
GROWN_PAGES = 8
"""A table's planner statistics count as stale once it has grown by more than
``GROWN_SHARE`` of its size at its last ANALYZE, plus ``GROWN_PAGES`` pages.
Autovacuum's share is 10%, in the background; a load waits for this one, and
the planner scales a table's analyzed row count by its current size anyway, so
what a grown table lacks is mostly the first statistics. At 10%, loading
1,000,000 follow-ups 1,000 at a time ran about 45 analyses and lost 12% of its
rate (1,888 against 2,135 follow-ups/s at 200,000); at half, about 12."""


def refresh_statistics(engine: Engine) -> list[str]:
    """ANALYZE the store's tables that a bulk load grew (:data:`GROWN_SHARE`),
    on PostgreSQL; the tables analyzed.

    Autovacuum does the same some time after a load, when it runs: until then
    the planner guesses row counts (none, for a table never analyzed) and can
    pick a scan of a whole table for a query the indexes answer in a
    millisecond. A load that calls this leaves the store planned as it will
    be served. Growth is measured in pages, the table's size now against
    ``pg_class.relpages`` (recorded by the last ANALYZE or VACUUM): unlike the
    statistics collector's row counts, which each connection reports up to a
    second late, it is never behind. ANALYZE reads a bounded sample (about
    30,000 rows a table) and blocks neither readers nor writers. SQLite:
    nothing (its planner works without statistics, and a store that never
    ran ANALYZE keeps the plans it was tested with)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        grown = list(conn.exec_driver_sql(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
            "AND pg_relation_size(c.oid) / current_setting('block_size')::int "
            "> c.relpages * (1 + %(share)s) + %(pages)s ORDER BY c.relname",
            {"share": GROWN_SHARE, "pages": GROWN_PAGES}).scalars())
        quote = conn.dialect.identifier_preparer.quote
        for table in grown:
            conn.exec_driver_sql(f"ANALYZE {quote(table)}")
        conn.commit()
    return grown


def _private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600; its folder 0700
    when we make it): it holds password hashes and every follow-up. SQLite
    gives its -wal and -shm files the database file's permissions. An
    existing file is left as its owner set it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _sqlite_transactions(engine: Engine) -> None:
    """Real transactions on SQLite: WAL for concurrent readers, foreign keys,
    and ``BEGIN IMMEDIATE`` for writers so two writers queue on the database
    lock instead of failing when a read lock is upgraded."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get("followups_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _postgresql_transactions(engine: Engine) -> None:
    """A write transaction takes the store's write lock first (see the module).

    Every new session turns JIT off (``SET jit = off``, one statement per
    pooled connection; a startup option would be refused by PgBouncer, which
    takes no ``options`` unless told to). JIT compilation pays off for long
    analytical queries; every statement here is a short index look-up or
    write. PostgreSQL compiles a query whose *estimated* cost passes
    ``jit_above_cost``, which happens exactly when its estimates are wrong
    (tables filled since their last ANALYZE): measured at 1,000,000
    follow-ups before their first ANALYZE, a week's free/busy spent 23 ms of
    its 42 ms query compiling it (75 ms a request; 35 ms with JIT off, 28 ms
    once analyzed). docs/decisions.md."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        _jit_off(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if conn.get_execution_options().get("followups_write", False):
            conn.exec_driver_sql(WRITE_LOCK_SQL)


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest migration's revision, read from the text of the migration
    files (once a process: they ship with the code): the one revision no
    other file names as its ``down_revision``.

    Read so, not through alembic, because importing alembic (and the Mako it
    brings) costs a process about 11 MiB for good, and every server process
    checks the schema at start: alembic is imported only when there is
    something to migrate."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        found = {m[1]: m[2] or m[3] or "" for m in _REVISION_LINE.finditer(path.read_text(encoding="utf-8"))}
        if not found.get("revision"):
            raise StoreError(f"migration {path.name} names no revision")
        revisions.add(found["revision"])
        if found.get("down_revision"):
            downs.add(found["down_revision"])
    heads = revisions - downs
    if len(heads) != 1:
        raise StoreError(f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}), not one")
    return heads.pop()


def stored_revision(engine: Engine) -> str | None:
    """The migration the database is at (alembic's ``alembic_version``), or None
    for a database without one."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def migrate(url: str | None = None) -> Engine:
    """Create or upgrade the schema to the newest migration. Never drops data.
    A store already at the newest one is left alone without importing alembic."""
    engine = get_engine(url)
    if schema_current(engine):
        return engine
    from alembic import command

    command.upgrade(alembic_config(engine), "head")
    return engine


def schema_current(engine: Engine) -> bool:
    """True when the database is at the newest migration."""
    return stored_revision(engine) == head_revision()


def insert_many(session: Session, row_class: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, every value meant as given,
    None as NULL) into ``row_class``'s table in the session's transaction:
    bulk imports (``Followups.add_many``, ``Calendars.add_many``).

    On PostgreSQL a COPY, which stores the very values an INSERT would (the
    driver adapts them alike) at a fraction of the cost: an executemany is a
    statement execution per row, and the rows of a 10,000 follow-up load took
    seconds so. Unless a column with a Python-side default is missing from the
    rows (COPY knows only the server's defaults): then, as on SQLite, one
    executemany INSERT."""
    if not rows:
        return
    table = row_class.__table__
    columns = list(rows[0])
    conn = session.connection()
    given = set(columns)
    if conn.dialect.name != "postgresql" or any(c.default is not None and c.name not in given for c in table.columns):
        session.execute(insert(table), rows)
        return
    quote = conn.dialect.identifier_preparer.quote
    copy_sql = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([row[c] for c in columns])


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for a read of Core statements, its transaction ended by
    COMMIT once the read is done (a read that fails is rolled back).

    For a transaction that wrote nothing the two ends are the same, but
    psycopg forgets every prepared statement at a ROLLBACK, and the pool rolls
    back each connection it takes back: ended so, a pooled connection keeps
    them, and PostgreSQL plans a statement the reads run on every request
    (the password hash, the calendar's row, a listing) once per connection
    instead of every time. Measured: a getctag 1.7 -> 1.3 ms in process.
    Only for code that writes nothing (``CalendarReader``); units of work
    keep rolling back, so one that changed a row by mistake stores nothing."""
    with engine.connect() as conn:
        yield conn
        conn.commit()
