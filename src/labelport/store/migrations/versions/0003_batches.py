"""Batches: many packets in one stream, each line an import of its own.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "batch",
        sa.Column("id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("on_error", sa.String(length=32), nullable=False),
        sa.Column("media", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("body_blob_key", sa.Text(), nullable=True),
        sa.Column("duplicates", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'success', 'partial', 'failed')",
            name=op.f("ck_batch_status"),
        ),
        sa.CheckConstraint(
            "on_error IN ('reject', 'skip_instances')", name=op.f("ck_batch_on_error")
        ),
        sa.CheckConstraint("media IN ('copy', 'reference')", name=op.f("ck_batch_media")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_batch_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch")),
    )
    op.create_index(
        op.f("ix_batch_project_id_created_at"), "batch", ["project_id", "created_at"], unique=False
    )
    for name, type_ in (
        ("batch_id", _ID),
        ("batch_line", sa.Integer()),
        ("packet_offset", _ID),
        ("packet_length", _ID),
    ):
        op.add_column("import", sa.Column(name, type_, nullable=True))
    op.create_index(
        op.f("ix_import_batch_id_batch_line"), "import", ["batch_id", "batch_line"], unique=True
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_import_batch_id_batch_line"), table_name="import")
    for name in ("packet_length", "packet_offset", "batch_line", "batch_id"):
        op.drop_column("import", name)
    op.drop_index(op.f("ix_batch_project_id_created_at"), table_name="batch")
    op.drop_table("batch")
