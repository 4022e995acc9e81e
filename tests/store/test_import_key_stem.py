"""Imports by key stem (keys STEM#VERSION): the newest of a stem, exactly, on both databases."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import event

from labelport.store import Store
from labelport.store.batches import BatchLine


def _keyed(store: Store, project_id: int, key: str, status: str = "success") -> int:
    imp, created = store.create_import(project_id, idempotency_key=key)
    assert created
    store.update_import(imp.id, status=status)
    return imp.id


def test_newest_import_of_a_stem(store: Store) -> None:
    p = store.create_project("stems").id
    first = _keyed(store, p, "imp:a_1.jpg#d1")
    retried = _keyed(store, p, "imp:a_1.jpg#d2~9")
    failed = _keyed(store, p, "imp:a_1.jpg#d3", status="failed")
    # Neighbours that share characters, differ in case, or put the stem before another "#".
    for key in ("imp:a_1.jpg", "imp:a_1.jpgx#d9", "imp:A_1.jpg#d9", "imp:aX1.jpg#d9",
                "imp:a_1.jpg#b#d9", "imp:a_1.jpg$d9", "imp:a_1.jp#d9"):  # fmt: skip
        _keyed(store, p, key)

    newest = store.find_latest_import_by_key_stem(p, "imp:a_1.jpg")
    assert newest is not None and newest.id == failed
    ok = store.find_latest_import_by_key_stem(p, "imp:a_1.jpg", status="success")
    assert ok is not None and (ok.id, ok.idempotency_key) == (retried, "imp:a_1.jpg#d2~9")
    assert first < retried

    b = store.find_latest_import_by_key_stem(p, "imp:a_1.jpg#b")
    assert b is not None and b.idempotency_key == "imp:a_1.jpg#b#d9"
    assert store.find_latest_import_by_key_stem(p, "imp:a_1") is None
    assert store.find_latest_import_by_key_stem(p, "imp:a%") is None
    other = store.create_project("other").id
    assert store.find_latest_import_by_key_stem(other, "imp:a_1.jpg") is None


def test_stems_beyond_ascii_are_exact(store: Store) -> None:
    p = store.create_project("unicode").id
    wanted = _keyed(store, p, "imp:café/ü.jpg#d1")
    _keyed(store, p, "imp:cafe/u.jpg#d2")
    _keyed(store, p, "imp:café/ü.jpg\U0001f600#d3")
    found = store.find_latest_import_by_key_stem(p, "imp:café/ü.jpg")
    assert found is not None and found.id == wanted


def test_the_lookup_is_an_index_range(store: Store) -> None:
    p = store.create_project("plan").id
    for n in range(50):
        _keyed(store, p, f"imp:{n}.jpg#d")
    sent: list[tuple[str, object]] = []

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        assert store.find_latest_import_by_key_stem(p, "imp:7.jpg") is not None
    finally:
        event.remove(store.engine, "before_cursor_execute", note)
    [(statement, parameters)] = [(s, a) for s, a in sent if "idempotency_key" in s]
    explain = "EXPLAIN " if store.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        plan = " ".join(map(str, conn.exec_driver_sql(explain + statement, parameters).all()))
    assert "ix_import_project_id_idempotency_key" in plan, plan
    assert ("~>=~" in plan and "Index Cond" in plan) or "idempotency_key>?" in plan, plan


def _many_keyed(store: Store, project_id: int, count: int) -> None:
    """`count` imports made as batches make them (a first import's many batches)."""
    for start in range(0, count, 1000):
        lines = [
            BatchLine(offset=0, length=1, idempotency_key=f"imp:{n:05d}.jpg#d{n}")
            for n in range(start, min(start + 1000, count))
        ]
        store.create_batch(
            project_id, lines, on_error="reject", media="copy", source=None, body_blob_key="b"
        )


def _plans_of(store: Store, lookup: Callable[[], object]) -> list[str]:
    """The plan of each statement `lookup` sends that reads imports by key, as PostgreSQL
    (which has never analyzed the table: it holds what this test inserted) would run it."""
    sent: list[tuple[str, object]] = []

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        lookup()
    finally:
        event.remove(store.engine, "before_cursor_execute", note)
    with store.engine.connect() as conn:
        return [
            "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params).all())
            for statement, params in sent
            if "idempotency_key" in statement
        ]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_the_key_lookups_of_a_first_import_probe_the_index(store: Store) -> None:
    """A first import fills the import table faster than autovacuum analyzes it (here it is
    off). Planned on a table that looked empty, the look-ups of a batch's keys read every
    import of the project once per key (500 stems among 20,000 imports: 2.3 s, and more with
    each batch); each key must be one probe of the key index."""
    p = store.create_project("unanalyzed").id
    _many_keyed(store, p, 3000)
    stems = [f"imp:{n:05d}.jpg" for n in range(0, 3000, 6)]
    keys = [f"imp:{n:05d}.jpg#d{n}" for n in range(1, 3000, 6)]

    latest, _ = store.find_latest_imports_by_key_stems(p, stems)
    assert len(latest) == len(stems)
    assert len(store.find_imports_by_keys(p, keys)) == len(keys)
    plans = _plans_of(store, lambda: store.find_latest_imports_by_key_stems(p, stems))
    plans += _plans_of(store, lambda: store.find_imports_by_keys(p, keys))
    assert len(plans) == 2
    for plan in plans:
        conditions = [line for line in plan.splitlines() if "Index Cond" in line]
        assert conditions and all("idempotency_key" in c for c in conditions), plan
        assert "Join Filter" not in plan and "Seq Scan on import" not in plan, plan
        assert "Rows Removed" not in plan, plan
