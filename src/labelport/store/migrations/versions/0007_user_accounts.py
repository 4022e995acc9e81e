"""User accounts and project membership; a session may be a user's; sign-in attempts shared.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_OLD_SCOPE = "all_projects = (project_id IS NULL)"
_NEW_SCOPE = (
    "(user_id IS NULL AND all_projects = (project_id IS NULL))"
    " OR (user_id IS NOT NULL AND project_id IS NULL AND NOT all_projects)"
)


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", _ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email_key", name=op.f("uq_user_account_email_key")),
    )
    op.create_table(
        "membership",
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'editor', 'viewer')", name=op.f("ck_membership_role")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_membership_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_membership_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "project_id", name=op.f("pk_membership")),
    )
    op.create_index(op.f("ix_membership_project_id"), "membership", ["project_id"], unique=False)
    op.create_table(
        "auth_attempt",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_attempt")),
    )
    op.create_index(op.f("ix_auth_attempt_at"), "auth_attempt", ["at"], unique=False)
    op.create_index(
        op.f("ix_auth_attempt_key_hash_at"), "auth_attempt", ["key_hash", "at"], unique=False
    )
    # SQLite cannot alter a table's constraints: batch mode rebuilds web_session (sessions kept).
    with op.batch_alter_table("web_session") as batch:
        batch.add_column(sa.Column("user_id", _ID, nullable=True))
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=True))
        batch.drop_constraint(op.f("ck_web_session_scope"), type_="check")
        batch.create_check_constraint(op.f("ck_web_session_scope"), _NEW_SCOPE)
        batch.create_foreign_key(
            op.f("fk_web_session_user_id_user_account"),
            "user_account",
            ["user_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_web_session_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM web_session WHERE user_id IS NOT NULL")
    with op.batch_alter_table("web_session") as batch:
        batch.drop_index(op.f("ix_web_session_user_id"))
        batch.drop_constraint(op.f("fk_web_session_user_id_user_account"), type_="foreignkey")
        batch.drop_constraint(op.f("ck_web_session_scope"), type_="check")
        batch.create_check_constraint(op.f("ck_web_session_scope"), _OLD_SCOPE)
        batch.drop_column("role")
        batch.drop_column("user_id")
    op.drop_index(op.f("ix_auth_attempt_key_hash_at"), table_name="auth_attempt")
    op.drop_index(op.f("ix_auth_attempt_at"), table_name="auth_attempt")
    op.drop_table("auth_attempt")
    op.drop_index(op.f("ix_membership_project_id"), table_name="membership")
    op.drop_table("membership")
    op.drop_table("user_account")
