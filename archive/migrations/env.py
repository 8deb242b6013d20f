"""Alembic environment: migrations run on the connection `database.migrate` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from helpline.archive.schema import metadata

config = context.config


def run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run(given)
else:  # `alembic` run by hand with sqlalchemy.url set
    with create_engine(config.get_main_option("sqlalchemy.url") or "").begin() as conn:
        run(conn)
