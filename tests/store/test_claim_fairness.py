"""The claim is fair across projects (issue 13, item 4): the oldest queued import of the project
with the fewest imports running, so one project's many slow imports cannot hold every worker."""

from __future__ import annotations

from typing import Any

from labelport.store import Store
from labelport.store.batches import BatchLine


def test_claim_prefers_the_project_with_fewer_running(store: Store) -> None:
    a = store.create_project("a").id
    b = store.create_project("b").id
    c = store.create_project("c").id
    a_imports = [store.create_import(a)[0].id for _ in range(4)]  # queued first, oldest
    b_first, _ = store.create_import(b)
    b_second, _ = store.create_import(b)
    c_only, _ = store.create_import(c)

    order = [store.claim_next_import(f"w{n}") for n in range(7)]
    ids = [row.id for row in order if row is not None]
    # All at 0 running: the oldest (a's). Then a runs one: b's oldest, then c's (b runs one,
    # c none). All at one running: the oldest left, a's; then b's (a runs 2, b 1), then a's.
    assert ids == [
        a_imports[0],
        b_first.id,
        c_only.id,
        a_imports[1],
        b_second.id,
        a_imports[2],
        a_imports[3],
    ]
    assert store.claim_next_import("w7") is None


def test_finished_imports_do_not_count_as_running(store: Store) -> None:
    a = store.create_project("a").id
    b = store.create_project("b").id
    first = store.create_import(a)[0]
    claimed = store.claim_next_import("w0")
    assert claimed is not None and claimed.id == first.id
    store.update_import(first.id, status="success")
    a_next = store.create_import(a)[0]
    b_next = store.create_import(b)[0]
    # a has nothing running any more: its import, the older, goes first.
    assert store.claim_next_import("w1").id == a_next.id
    assert store.claim_next_import("w2").id == b_next.id


def test_a_running_batch_chunk_yields_to_another_project(store: Store) -> None:
    a = store.create_project("a").id
    b = store.create_project("b").id
    lines = [BatchLine(offset=n, length=1, idempotency_key=None) for n in range(6)]
    store.create_batch(a, lines, on_error="reject", media="copy", source=None, body_blob_key="k")
    single = store.create_import(b)[0]  # queued after the whole batch

    chunk = store.claim_next_imports("w0", 3)
    assert [row.batch_line for row in chunk] == [0, 1, 2]
    # a runs three lines, b none: b's import before a's older lines.
    assert [row.id for row in store.claim_next_imports("w1", 3)] == [single.id]
    assert [row.batch_line for row in store.claim_next_imports("w2", 3)] == [3, 4, 5]


def test_the_claim_reads_each_project_s_next_import_from_an_index(store: Store) -> None:
    """Its cost grows with the projects, not with the queue: each project's next queued import
    is one probe of (status, project_id, created_at, id), never a scan of every queued row."""
    from sqlalchemy import event

    if store.dialect != "sqlite":
        return  # PostgreSQL's plan depends on its statistics; the index and query are the same
    a = store.create_project("a").id
    for _ in range(50):
        store.create_import(a)
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        assert store.claim_next_import("w") is not None
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    ((claim, parameters),) = [
        (s, p) for s, p in seen if "queued" in s and s.lstrip().upper().startswith("SELECT")
    ]
    with store.engine.connect() as conn:
        plan = " ".join(
            str(row) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + claim, parameters)
        )
    assert "ix_import_status_project_id_created_at_id" in plan, plan
    assert "SCAN queued" not in plan, plan
