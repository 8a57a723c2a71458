"""``followups serve`` migrates a store in a child process, so that alembic never
stays in the server's memory (server.dav.server.migrate_apart)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from server.dav.server import migrate_apart
from store import db

PROBE = """
import sys
from server.dav.server import migrate_apart
from store import db
migrate_apart(sys.argv[1])
print(db.schema_current(db.get_engine(sys.argv[1])), 'alembic' in sys.modules)
"""


def _probe(url: str) -> list[str]:
    run = subprocess.run([sys.executable, "-c", PROBE, url], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_a_new_store_is_made_without_alembic_in_this_process(db_url: str) -> None:
    assert _probe(db_url) == ["True", "False"]
    assert _probe(db_url) == ["True", "False"]  # and a current one is left alone


def test_a_failed_migration_is_reported_here(db_url: str) -> None:
    """The child's failure is run again in this process: the error a start-up reports."""
    from alembic.util import CommandError

    engine = db.get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('9999')"))
    engine.dispose()
    with pytest.raises(CommandError, match="9999"):
        migrate_apart(db_url)
    with db.get_engine(db_url).connect() as conn:  # migrate_apart let go of the engines before it forked
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["9999"]
