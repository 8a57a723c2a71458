"""Alembic environment: runs on the engine the store hands over."""

from __future__ import annotations

from alembic import context

from store.orm import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` command line: build one from the URL
    from store.db import get_engine

    engine = get_engine(config.get_main_option("sqlalchemy.url") or None)

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration copies a table and drops the old one; with foreign keys
        # on, SQLite refuses to drop a table that others refer to. The pragma only
        # takes effect outside a transaction, so it goes to the driver before
        # SQLAlchemy begins one (the store's connections turn it on at connect).
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
