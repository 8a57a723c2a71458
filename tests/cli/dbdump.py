"""A before/after picture of a whole database, to prove a command changed nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, create_engine, inspect, select


def sqlalchemy_url(url: str) -> str:
    """The URL as SQLAlchemy wants it (psycopg 3 for PostgreSQL), like ``store.db.normalize_url``."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def dump_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, keyed by table name."""
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            meta = MetaData()
            meta.reflect(conn, only=names)
            return {name: sorted((tuple(row) for row in conn.execute(select(meta.tables[name]))), key=repr)
                    for name in sorted(names)}
    finally:
        engine.dispose()
