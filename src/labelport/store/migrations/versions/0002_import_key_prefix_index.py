"""An index for idempotency keys by prefix (`labelport import` finds the file an earlier version
of a source item went to).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_import_project_id_idempotency_key"),
        "import",
        ["project_id", "idempotency_key"],
        unique=False,
        postgresql_ops={"idempotency_key": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_import_project_id_idempotency_key"), table_name="import")
