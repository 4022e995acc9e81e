"""A label's display colour: stored only when chosen, else the project's default palette.

Until now every label created through the API got a colour picked by a hash of its name from
16 colours, so two labels often shared one (the seed's `cat` and `another` both got #469990),
and labels auto-created by imports had none. From now on `label.colour` holds only a colour a
person chose (`#rrggbb`, lower case); NULL means "the default colour of the label's place among
its project's labels" (`labelport.palette`), which keeps the first labels distinct.

This migration clears the colours that were the old hash's pick for their label's name (a
person cannot have meant them in particular), lower-cases the rest, expands `#rgb`, and clears
anything that is not a colour (the old API stored any string up to 64 characters).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The palette and hash labelport used before this revision (frozen here: the code moved on).
_OLD_PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
    "#469990", "#9a6324", "#800000", "#808000", "#000075", "#ffe119", "#dcbeff", "#aaffc3",
)  # fmt: skip
_LONG = re.compile(r"#[0-9a-f]{6}")
_SHORT = re.compile(r"#[0-9a-f]{3}")

_label = sa.table("label", sa.column("id", sa.BigInteger), sa.column("name"), sa.column("colour"))


def _old_pick(name: str) -> str:
    return _OLD_PALETTE[zlib.crc32(name.encode()) % len(_OLD_PALETTE)]


def _kept(name: str, colour: str) -> str | None:
    value = colour.strip().lower()
    if _SHORT.fullmatch(value):
        value = "#" + "".join(c * 2 for c in value[1:])
    if not _LONG.fullmatch(value) or value == _old_pick(name):
        return None
    return value


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_label.c.id, _label.c.name, _label.c.colour).where(_label.c.colour.isnot(None))
    ).all()
    changes = [
        {"label_id": r.id, "new": _kept(r.name, r.colour)}
        for r in rows
        if _kept(r.name, r.colour) != r.colour
    ]
    if changes:
        conn.execute(
            sa.update(_label)
            .where(_label.c.id == sa.bindparam("label_id"))
            .values(colour=sa.bindparam("new")),
            changes,
        )


def downgrade() -> None:
    # Labels without a chosen colour get back the old hash's pick, as before.
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_label.c.id, _label.c.name).where(_label.c.colour.is_(None))
    ).all()
    if rows:
        conn.execute(
            sa.update(_label)
            .where(_label.c.id == sa.bindparam("label_id"))
            .values(colour=sa.bindparam("new")),
            [{"label_id": r.id, "new": _old_pick(r.name)} for r in rows],
        )
