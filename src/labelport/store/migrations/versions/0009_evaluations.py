"""Stored model-run evaluations: `evaluation` (parameters, figures, the imports it saw) and
`evaluation_file` (per-file counts: the review queue).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "evaluation",
        sa.Column("id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("model_run_id", _ID, nullable=False),
        sa.Column("reference_run_id", _ID, nullable=True),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("last_import_id", _ID, nullable=True),
        sa.Column("imports_seen", sa.Integer(), nullable=False),
        sa.Column("took", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_evaluation_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_run_id"],
            ["model_run.id"],
            name=op.f("fk_evaluation_model_run_id_model_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reference_run_id"],
            ["model_run.id"],
            name=op.f("fk_evaluation_reference_run_id_model_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation")),
    )
    op.create_index(
        op.f("ix_evaluation_project_id_model_run_id_created_at"),
        "evaluation",
        ["project_id", "model_run_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "evaluation_file",
        sa.Column("evaluation_id", _ID, nullable=False),
        sa.Column("file_id", _ID, nullable=False),
        sa.Column("tp", sa.Integer(), nullable=False),
        sa.Column("fp", sa.Integer(), nullable=False),
        sa.Column("fn", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluation.id"],
            name=op.f("fk_evaluation_file_evaluation_id_evaluation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["file.id"],
            name=op.f("fk_evaluation_file_file_id_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("evaluation_id", "file_id", name=op.f("pk_evaluation_file")),
    )
    op.create_index(
        op.f("ix_evaluation_file_file_id"), "evaluation_file", ["file_id"], unique=False
    )
    op.create_index(
        op.f("ix_evaluation_file_evaluation_id_errors_file_id"),
        "evaluation_file",
        ["evaluation_id", "errors", "file_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_evaluation_file_evaluation_id_errors_file_id"), table_name="evaluation_file"
    )
    op.drop_index(op.f("ix_evaluation_file_file_id"), table_name="evaluation_file")
    op.drop_table("evaluation_file")
    op.drop_index(op.f("ix_evaluation_project_id_model_run_id_created_at"), table_name="evaluation")
    op.drop_table("evaluation")
