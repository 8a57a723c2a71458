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
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
