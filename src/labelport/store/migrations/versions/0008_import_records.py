"""Import records for refused packets and their media names.

An import row says which media it was about (`media_name`, `media_url`), and a packet refused at
submit leaves a row of status `rejected` whose key (`rejected_key`) reserves nothing.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('queued', 'fetching', 'processing', 'writing', 'success', 'failed')"
_NEW = "status IN ('queued', 'fetching', 'processing', 'writing', 'success', 'failed', 'rejected')"


def _status_check(condition: str) -> None:
    # On SQLite the batch rebuilds the table (no foreign key points at `import`).
    with op.batch_alter_table("import") as batch:
        batch.drop_constraint(op.f("ck_import_status"), type_="check")
        batch.create_check_constraint(op.f("ck_import_status"), condition)


def upgrade() -> None:
    with op.batch_alter_table("import") as batch:
        batch.add_column(sa.Column("media_name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("media_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("rejected_key", sa.String(length=255), nullable=True))
    _status_check(_NEW)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM \"import\" WHERE status = 'rejected'"))
    _status_check(_OLD)
    with op.batch_alter_table("import") as batch:
        batch.drop_column("rejected_key")
        batch.drop_column("media_url")
        batch.drop_column("media_name")
