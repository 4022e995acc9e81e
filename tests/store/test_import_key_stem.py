"""Imports by key stem (keys STEM#VERSION): the newest of a stem, exactly, on both databases."""

from __future__ import annotations

from sqlalchemy import event

from labelport.store import Store


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
