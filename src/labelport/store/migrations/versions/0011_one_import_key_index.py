"""One index for the import table's idempotency keys: unique, and on PostgreSQL with the pattern
operators that key prefixes need (0002). The unique constraint's index and the prefix index held
the same keys twice, and each was one more entry written with every import.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CONSTRAINT = "uq_import_project_id_idempotency_key"
_INDEX = "ix_import_project_id_idempotency_key"
_COLUMNS = ["project_id", "idempotency_key"]
_PATTERN_OPS = {"idempotency_key": "varchar_pattern_ops"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # One transaction: no moment without a unique index on the keys.
        op.drop_constraint(op.f(_CONSTRAINT), "import", type_="unique")
        op.drop_index(op.f(_INDEX), table_name="import")
        op.create_index(op.f(_INDEX), "import", _COLUMNS, unique=True, postgresql_ops=_PATTERN_OPS)
        return
    # SQLite keeps a table's unique constraints in its definition: the batch rebuilds the table
    # (no foreign key points at `import`).
    with op.batch_alter_table("import") as batch:
        batch.drop_constraint(op.f(_CONSTRAINT), type_="unique")
        batch.drop_index(op.f(_INDEX))
        batch.create_index(op.f(_INDEX), _COLUMNS, unique=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(op.f(_INDEX), table_name="import")
        op.create_index(op.f(_INDEX), "import", _COLUMNS, postgresql_ops=_PATTERN_OPS)
        op.create_unique_constraint(op.f(_CONSTRAINT), "import", _COLUMNS)
        return
    with op.batch_alter_table("import") as batch:
        batch.drop_index(op.f(_INDEX))
        batch.create_index(op.f(_INDEX), _COLUMNS)
        batch.create_unique_constraint(op.f(_CONSTRAINT), _COLUMNS)
