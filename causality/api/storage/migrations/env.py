"""Alembic environment: runs the migrations on the connection `migrate.upgrade` passes."""

from alembic import context

from causality.api.storage.tables import metadata


def _run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


# Alembic executes this file; importing it elsewhere (doctest collection) does nothing.
if hasattr(context, "config"):
    _run()
