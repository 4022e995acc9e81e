"""Alembic environment. `Store.open` hands in a connection already inside a transaction.

From the command line (writing a new revision):
    alembic -c src/labelport/store/migrations/alembic.ini -x url=sqlite:///dev.db \
        revision --autogenerate -m "what changed"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from labelport.store.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("labelport migrations run online only (Store.open runs them)")

given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    from labelport.store.database import make_engine, transaction

    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database with -x url=sqlite:///path.db")
    with transaction(make_engine(url), write=True) as conn:
        _run(conn)
