"""Initial tables (written out in full, never read from tables.py, so it never changes).

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:46:14.250521
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instance",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("frame", sa.Integer(), nullable=True),
        sa.Column("label_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "sequence_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("machine_made", sa.Boolean(), nullable=False),
        sa.Column("model_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "model_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("x_min", sa.Float(), nullable=True),
        sa.Column("y_min", sa.Float(), nullable=True),
        sa.Column("x_max", sa.Float(), nullable=True),
        sa.Column("y_max", sa.Float(), nullable=True),
        sa.Column("geometry", sa.Text(), nullable=True),
        sa.Column("attributes", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance")),
    )
    op.create_index(
        op.f("ix_instance_file_id_frame"), "instance", ["file_id", "frame"], unique=False
    )
    op.create_index(
        "uq_instance_file_id_external_id",
        "instance",
        ["file_id", "external_id"],
        unique=True,
        sqlite_where=sa.text("external_id IS NOT NULL"),
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )

    op.create_table(
        "project",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("string_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
        sa.UniqueConstraint("string_id", name=op.f("uq_project_string_id")),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'editor', 'viewer')", name=op.f("ck_api_key_role")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_api_key_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("client_id", name=op.f("uq_api_key_client_id")),
    )
    op.create_index(op.f("ix_api_key_project_id"), "api_key", ["project_id"], unique=False)

    op.create_table(
        "directory",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("nickname", sa.String(length=255), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_directory_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory")),
        sa.UniqueConstraint(
            "project_id", "nickname", name=op.f("uq_directory_project_id_nickname")
        ),
    )
    op.create_index(
        "uq_directory_default",
        "directory",
        ["project_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )

    op.create_table(
        "label_schema",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_label_schema_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_schema")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_label_schema_project_id_name")),
    )
    op.create_index(
        "uq_label_schema_default",
        "label_schema",
        ["project_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )

    op.create_table(
        "model",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reference", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_model_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model")),
        sa.UniqueConstraint("project_id", "reference", name=op.f("uq_model_project_id_reference")),
    )
    op.create_table(
        "attribute_group",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "schema_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("is_root", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('select', 'multiple_select', 'radio', 'text', 'slider', 'date', 'time', "
            "'tree')",
            name=op.f("ck_attribute_group_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_attribute_group_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schema_id"],
            ["label_schema.id"],
            name=op.f("fk_attribute_group_schema_id_label_schema"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribute_group")),
        sa.UniqueConstraint("schema_id", "name", name=op.f("uq_attribute_group_schema_id_name")),
    )
    op.create_index(
        op.f("ix_attribute_group_project_id"), "attribute_group", ["project_id"], unique=False
    )

    op.create_table(
        "file",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "directory_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("original_filename", sa.Text(), nullable=True),
        sa.Column("blob_key", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("frame_count", sa.Integer(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("tokens", sa.Text(), nullable=True),
        sa.Column("token_count", sa.Integer(), nullable=True),
        sa.Column(
            "point_count", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("bounds", sa.Text(), nullable=True),
        sa.Column(
            "parent_file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("ordinal", sa.Integer(), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["directory_id"],
            ["directory.id"],
            name=op.f("fk_file_directory_id_directory"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_file_id"],
            ["file.id"],
            name=op.f("fk_file_parent_file_id_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_file_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file")),
        sa.UniqueConstraint(
            "parent_file_id", "ordinal", name=op.f("uq_file_parent_file_id_ordinal")
        ),
    )
    op.create_index(
        op.f("ix_file_project_id_directory_id_id"),
        "file",
        ["project_id", "directory_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_file_project_id_sha256"), "file", ["project_id", "sha256"], unique=False
    )

    op.create_table(
        "label",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "schema_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("colour", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_label_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schema_id"],
            ["label_schema.id"],
            name=op.f("fk_label_schema_id_label_schema"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label")),
        sa.UniqueConstraint("schema_id", "name", name=op.f("uq_label_schema_id_name")),
    )
    op.create_index(op.f("ix_label_project_id"), "label", ["project_id"], unique=False)

    op.create_table(
        "model_run",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["model.id"], name=op.f("fk_model_run_model_id_model"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_run")),
        sa.UniqueConstraint("model_id", "reference", name=op.f("uq_model_run_model_id_reference")),
    )
    op.create_table(
        "attribute_group_label",
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("label_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["attribute_group.id"],
            name=op.f("fk_attribute_group_label_group_id_attribute_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["label.id"],
            name=op.f("fk_attribute_group_label_label_id_label"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "label_id", name=op.f("pk_attribute_group_label")),
    )
    op.create_index(
        op.f("ix_attribute_group_label_label_id"),
        "attribute_group_label",
        ["label_id"],
        unique=False,
    )

    op.create_table(
        "attribute_option",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["attribute_group.id"],
            name=op.f("fk_attribute_option_group_id_attribute_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["attribute_option.id"],
            name=op.f("fk_attribute_option_parent_id_attribute_option"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribute_option")),
        sa.UniqueConstraint(
            "group_id",
            "parent_id",
            "name",
            name=op.f("uq_attribute_option_group_id_parent_id_name"),
        ),
    )
    op.create_index(
        op.f("ix_attribute_option_parent_id"), "attribute_option", ["parent_id"], unique=False
    )

    op.create_table(
        "import",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "directory_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("media_type", sa.String(length=32), nullable=True),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("problems", sa.Text(), nullable=True),
        sa.Column("warnings", sa.Text(), nullable=True),
        sa.Column("problem_count", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("packet_blob_key", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "mode IN ('create', 'update', 'update_with_existing')", name=op.f("ck_import_mode")
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'fetching', 'processing', 'writing', 'success', 'failed')",
            name=op.f("ck_import_status"),
        ),
        sa.ForeignKeyConstraint(
            ["directory_id"],
            ["directory.id"],
            name=op.f("fk_import_directory_id_directory"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["file.id"], name=op.f("fk_import_file_id_file"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_import_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import")),
        sa.UniqueConstraint(
            "project_id", "idempotency_key", name=op.f("uq_import_project_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_import_file_id"), "import", ["file_id"], unique=False)
    op.create_index(
        op.f("ix_import_project_id_created_at"),
        "import",
        ["project_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_import_status_created_at"), "import", ["status", "created_at"], unique=False
    )

    op.create_table(
        "sequence",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("label_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("instance_count", sa.Integer(), nullable=False),
        sa.Column("first_frame", sa.Integer(), nullable=True),
        sa.Column("last_frame", sa.Integer(), nullable=True),
        sa.Column("keyframes", sa.Text(), nullable=True),
        sa.CheckConstraint("number >= 1", name=op.f("ck_sequence_number")),
        sa.ForeignKeyConstraint(
            ["file_id"], ["file.id"], name=op.f("fk_sequence_file_id_file"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["label_id"], ["label.id"], name=op.f("fk_sequence_label_id_label"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_sequence_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence")),
        sa.UniqueConstraint(
            "file_id", "label_id", "number", name=op.f("uq_sequence_file_id_label_id_number")
        ),
    )
    op.create_index(op.f("ix_sequence_label_id"), "sequence", ["label_id"], unique=False)


def downgrade() -> None:

    op.drop_table("sequence")

    op.drop_table("import")

    op.drop_table("attribute_option")

    op.drop_table("attribute_group_label")
    op.drop_table("model_run")

    op.drop_table("label")

    op.drop_table("file")

    op.drop_table("attribute_group")
    op.drop_table("model")

    op.drop_table("label_schema")

    op.drop_table("directory")

    op.drop_table("api_key")
    op.drop_table("project")

    op.drop_table("instance")
