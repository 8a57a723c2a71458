"""What PostgreSQL's planner is given (``store.db``): JIT off on every session
of ours (the URL's own options kept), and fresh statistics after a bulk load
(``store.db.refresh_statistics``, called by ``create_many`` and the .ics
import). On SQLite both are nothing to do."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from benchmarks import data
from server.services import followups as services
from server.services.importer import import_calendar
from store import db

LOAD = 1500
"""Follow-ups a load adds: enough to grow every table they fill by more than
:data:`store.db.GROWN_PAGES` pages."""


def _analyzed(engine: Engine) -> dict[str, int]:
    """Table -> the pages its last ANALYZE (or VACUUM) found; 0 for never."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.relname, c.relpages FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r'"))
        return {name: int(pages) for name, pages in rows}


def test_our_postgresql_sessions_run_without_jit_and_keep_the_urls_options(engine: Engine) -> None:
    """Set by a statement, not a startup option (PgBouncer refuses those), and
    on every session the pool opens."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        assert conn.scalar(text("SHOW jit")) == "off"
        # the tests' schema comes from the URL's own options=-csearch_path=...
        assert conn.scalar(text("SELECT current_schema()")).startswith("t_")


def test_jit_is_left_alone_on_a_server_without_it() -> None:
    """PostgreSQL 10 has no ``jit`` setting: SET would fail every connection."""

    class Old:
        class info:  # noqa: N801 - psycopg's attribute
            server_version = 100023

        def cursor(self) -> None:
            raise AssertionError("no statement for a server without jit")

    db._jit_off(Old())


def test_a_bulk_load_leaves_the_tables_it_grew_analyzed(engine: Engine) -> None:
    directory = data.setup_directory(engine)
    if engine.dialect.name != "postgresql":
        services.create_many(engine, data.generate(directory, 50, 1))
        assert db.refresh_statistics(engine) == []
        return
    assert db.refresh_statistics(engine) == []  # a new store: nothing grew past the bound yet
    before = _analyzed(engine)
    assert before["followups"] == 0 and before["calendar_objects"] == 0
    services.create_many(engine, data.generate(directory, LOAD, 1))
    after = _analyzed(engine)
    for table in ("followups", "calendar_objects", "changes"):
        assert after[table] > db.GROWN_PAGES, (table, after[table])
    assert db.refresh_statistics(engine) == []  # nothing grew since
    services.create_many(engine, data.generate(directory, 10, 2))  # a small load: no ANALYZE
    assert _analyzed(engine) == after


def test_an_ics_import_refreshes_the_statistics_it_made_stale(engine: Engine, tmp_path: Path) -> None:
    data.setup_directory(engine)
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:imported-{i}@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:20260301T{8 + i % 8:02d}0000Z\r\nDURATION:PT1H\r\nSUMMARY:Imported meeting {i} "
        f"{'with a longer title ' * 4}\r\nEND:VEVENT\r\n" for i in range(400))
    body = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n".encode()
    report = import_calendar(engine, data.LOGIN, body)
    assert len(report.created) == 400
    if engine.dialect.name == "postgresql":
        assert _analyzed(engine)["calendar_objects"] > 0
        assert db.refresh_statistics(engine) == []
