"""The import table without its (status, created_at) index: every query that filters on status
is served by (status, project_id, created_at, id) from 0005, and each index is one more entry
written by every claim, start and end of an import (a batch's chunk updates its imports' status
three times).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_import_status_created_at"), table_name="import")


def downgrade() -> None:
    op.create_index(
        op.f("ix_import_status_created_at"), "import", ["status", "created_at"], unique=False
    )
