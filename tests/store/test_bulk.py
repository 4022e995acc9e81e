"""insert_rows: what goes in comes back, whichever columns a chunk of rows leaves NULL or equal."""

from __future__ import annotations

import pytest
from store_helpers import Ctx

from labelport.store import INSTANCE_COLUMNS, bulk
from labelport.store.bulk import insert_rows


def _row(n: int) -> tuple:
    # Runs of rows of different shapes, crossing the SQLite writer's 256-row chunks: all-None
    # columns, then set ones, mixed bools, a value only on one row of a chunk.
    frame = None if n < 300 else n
    machine_made = True if n < 300 else (False if n < 600 else n % 3 == 0)
    score = None if n < 300 or n == 700 else n / 1000
    geometry = '{"points": [[1, 2]]}' if n == 555 else None
    attributes = '{"1": "x"}' if 400 <= n < 900 else None
    external_id = f"e{n}" if n % 97 == 0 else None
    kind = "polygon" if n == 555 else "box"
    box = (None,) * 4 if n == 555 else (float(n), 0.5, n + 10.25, 20.0)
    return (frame, None, None, kind, machine_made, None, None, score, *box,
            geometry, attributes, external_id, "" if n < 500 else f"h{n}")  # fmt: skip


def test_rows_come_back_exactly_as_sent(ctx: Ctx) -> None:
    rows = [_row(n) for n in range(1000)]
    imp = ctx.new_import()
    constants = {"project_id": ctx.project_id, "file_id": ctx.file_id, "import_id": imp}
    with ctx.store.engine.begin() as conn:
        written = insert_rows(conn, "instance", INSTANCE_COLUMNS, iter(rows), constants)
    assert written == 1000
    with ctx.store.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            f"SELECT project_id, file_id, import_id, {', '.join(INSTANCE_COLUMNS)} "
            "FROM instance ORDER BY id"
        ).all()
    got = [(*r[3:7], bool(r[7]), *r[8:]) for r in stored]
    assert got == rows
    assert {r[:3] for r in stored} == {(ctx.project_id, ctx.file_id, imp)}


def test_rows_whose_every_column_is_null(ctx: Ctx) -> None:
    with ctx.store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE bulk_nulls (a INTEGER, b BOOLEAN, c TEXT)")
        assert insert_rows(conn, "bulk_nulls", ("a", "b", "c"), [(None, None, None)] * 600) == 600
        assert insert_rows(conn, "bulk_nulls", ("a", "b", "c"), [(1, True, "x")] * 3) == 3
        counts = conn.exec_driver_sql(
            "SELECT count(*), count(a), count(b), count(c) FROM bulk_nulls"
        ).one()
    assert tuple(counts) == (603, 3, 3, 3)


def test_a_row_of_the_wrong_width_is_refused(ctx: Ctx, database) -> None:
    if database.dialect != "sqlite":
        pytest.skip("COPY checks each row's width itself")
    with pytest.raises(ValueError), ctx.store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE bulk_width (a INTEGER, b INTEGER)")
        insert_rows(conn, "bulk_width", ("a", "b"), [(1, 2)] * 10 + [(3,)])


def test_copy_looks_a_table_s_column_types_up_once_per_connection(
    ctx: Ctx, database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("only COPY needs the columns' types")
    imp = ctx.new_import()
    constants = {"project_id": ctx.project_id, "file_id": ctx.file_id, "import_id": imp}
    looked_up: list[str] = []
    real = bulk._column_types

    def counted(cur, table, names):
        looked_up.append(table)
        return real(cur, table, names)

    monkeypatch.setattr(bulk, "_column_types", counted)
    ctx.store.engine.dispose()  # a new connection, which knows no table yet
    with ctx.store.engine.begin() as conn:
        for n in range(3):
            insert_rows(conn, "instance", INSTANCE_COLUMNS, [_row(n)], constants)
    with ctx.store.engine.begin() as conn:  # the pool's one connection again
        insert_rows(conn, "instance", INSTANCE_COLUMNS, [_row(4)], constants)
    assert looked_up == ["instance"]
    with ctx.store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM instance").scalar() == 4
