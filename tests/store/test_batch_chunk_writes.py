"""A batch's chunk in few write transactions: SQLite has one write lock for every worker and the
importer, and each transaction that finds it taken waits, so a chunk of local files takes it
once or twice (its end, which starts its lines and claims the worker's next ones; its own claim
when no end claimed it), one that fetches once more (its start). Each of those keeps its
guarantees: the claim is one transaction, the end is all or nothing, and the chunk that ends a
batch's last lines ends the batch."""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from labelport.store import Store, WritePlan
from labelport.store.batches import _CLAIM_SETS, BatchLine, _end_failed, _settle_batch
from labelport.store.errors import Conflict
from labelport.store.imports import claimed_by
from thread_helpers import run_together


def _batch(store: Store, lines: int) -> tuple[int, int]:
    project = store.create_project("p").id
    batch = store.create_batch(
        project,
        [BatchLine(offset=n, length=1, idempotency_key=None) for n in range(lines)],
        on_error="reject",
        media="copy",
        source=None,
        body_blob_key="k",
    )
    return project, batch.id


@contextmanager
def _writes(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The store methods that open a write transaction, in order, while the block runs."""
    opened: list[str] = []
    real = store._write

    def counted() -> Any:
        opened.append(sys._getframe(1).f_code.co_name)
        return real()

    with monkeypatch.context() as patch:
        patch.setattr(store, "_write", counted)
        yield opened


def _failure(import_id: int) -> dict[str, Any]:
    return {"id": import_id, "problems": [], "error": "no media"}


def _new_file_plan(project: int, import_id: int) -> WritePlan:
    return WritePlan(
        project_id=project,
        import_id=import_id,
        file_id=None,
        mode="create",
        sequences=[],
        model_refs=[],
        model_run_refs=[],
        rows=lambda resolved: [],
        instance_count=0,
        new_file={"media_type": "image", "width": 4, "height": 4},
    )


def test_a_claim_is_one_write_and_marks_its_batch_running(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, batch_id = _batch(store, 5)
    with _writes(store, monkeypatch) as opened:
        chunk = store.claim_next_imports("w", 3)
    assert [row.batch_line for row in chunk] == [0, 1, 2]
    assert all(row.status == "fetching" and row.claimed_by == "w" for row in chunk)
    assert opened == ["claim_next_imports"]
    assert store.get_batch(batch_id).status == "running"  # stored, not only computed
    with _writes(store, monkeypatch) as opened:
        assert store.batch_state(batch_id)[0].status == "running"
    assert opened == []  # a reader found nothing to bring up to date


def test_claimers_at_once_share_a_batch_s_lines_out_each_once(store: Store) -> None:
    _, batch_id = _batch(store, 60)
    got: dict[str, list[int]] = {"a": [], "b": [], "c": []}

    def claim(worker: str) -> None:
        while chunk := store.claim_next_imports(worker, 7):
            assert all(row.claimed_by == worker for row in chunk)
            got[worker] += [row.batch_line or 0 for row in chunk]

    run_together(*(functools.partial(claim, worker) for worker in got))
    claimed = sorted(line for lines in got.values() for line in lines)
    assert claimed == list(range(60))  # every line, none twice
    assert all(sorted(lines) == lines for lines in got.values())  # each chunk in line order
    assert store.get_batch(batch_id).status == "running"


def test_a_claim_of_a_batch_s_chunk_is_two_statements_on_postgresql(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite's statements are calls in this process, not round trips")
    _batch(store, 5)
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        chunk = store.claim_next_imports("w", 3)
    finally:
        event.remove(store.engine, "before_cursor_execute", note)
    assert [row.batch_line for row in chunk] == [0, 1, 2]
    assert len(sent) == 2  # the fair pick, then the claim of the pick and its chunk


def test_postgresql_s_claim_sets_what_any_claim_sets() -> None:
    claimed = claimed_by("w", datetime.now(UTC))
    assert set(_CLAIM_SETS) == set(claimed)
    assert _CLAIM_SETS["status"] == f"'{claimed['status']}'"


def test_a_claim_whose_pick_is_not_a_batch_line_takes_it_alone(store: Store) -> None:
    project, _ = _batch(store, 3)
    alone, _ = store.create_import(project)  # older than none, but the batch came first
    chunk = store.claim_next_imports("w", 5)
    assert [row.batch_line for row in chunk] == [0, 1, 2]
    (row,) = store.claim_next_imports("w", 5)
    assert row.id == alone.id and row.batch_id is None and row.status == "fetching"
    assert store.claim_next_imports("w", 5) == []


def test_nothing_to_claim_takes_no_write_lock_on_sqlite(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _batch(store, 2)
    assert len(store.claim_next_imports("w", 5)) == 2
    with _writes(store, monkeypatch) as opened:
        assert store.claim_next_imports("w", 5) == []
    assert opened == ([] if store.dialect == "sqlite" else ["claim_next_imports"])


def test_a_chunk_starts_and_fails_its_lines_in_one_write(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _batch(store, 3)
    first, second, third = store.claim_next_imports("w", 3)
    started = {"id": first.id, "mode": "create", "media_type": "image", "directory_id": None}
    with _writes(store, monkeypatch) as opened:
        store.start_and_fail_imports(
            [started], [_failure(second.id), {**_failure(third.id), "rejected": True}]
        )
        store.start_and_fail_imports([], [])
    assert opened == ["start_and_fail_imports"]
    rows = store.get_imports([first.id, second.id, third.id])
    assert [rows[x].status for x in (first.id, second.id, third.id)] == [
        "processing",
        "failed",
        "rejected",
    ]
    assert rows[first.id].media_type == "image" and rows[second.id].error == "no media"


def test_an_end_starts_its_lines_too(store: Store) -> None:
    """Started in the transaction that ends them: a new file's import by the statement that
    ends it, one whose media failed by a start of its own, before its failure."""
    project, batch_id = _batch(store, 2)
    written, failing = store.claim_next_imports("w", 2)
    directory = store.default_directory(project).id
    started = [
        {"id": r.id, "mode": "create", "media_type": "image", "directory_id": directory}
        for r in (written, failing)
    ]
    store.end_batch_imports(
        batch_id, [_new_file_plan(project, written.id)], [_failure(failing.id)], started=started
    )
    rows = store.get_imports([written.id, failing.id])
    assert [
        (r.status, r.mode, r.media_type, r.directory_id)
        for r in (rows[written.id], rows[failing.id])
    ] == [("success", "create", "image", directory), ("failed", "create", "image", directory)]
    assert rows[written.id].file_id is not None and rows[written.id].finished_at is not None


def test_ending_a_chunk_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan whose import has ended already refuses the whole end: its failures are not
    recorded and the batch is not touched, for the caller to end the lines one by one."""
    project, batch_id = _batch(store, 2)
    written, failing = store.claim_next_imports("w", 2)
    store.fail_imports([_failure(written.id)])  # ended by an earlier run of the chunk
    plan = _new_file_plan(project, written.id)
    with pytest.raises(Conflict):
        store.end_batch_imports(batch_id, [plan], [_failure(failing.id)])
    assert plan.file_id is None and store.count_files(project) == 0
    assert store.get_import(failing.id).status == "fetching"
    assert store.get_batch(batch_id).status == "running"
    assert store.end_batch_imports(batch_id, [], [_failure(failing.id)]).status == "failed"
    assert store.get_batch(batch_id).status == "failed"


def test_a_chunk_s_end_claims_the_worker_s_next_lines_in_the_same_write(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, batch_id = _batch(store, 5)
    first = store.claim_next_imports("w", 2)
    with _writes(store, monkeypatch) as opened:
        after = store.end_batch_imports_and_claim(
            batch_id, [], [_failure(r.id) for r in first], worker_id="w", limit=2
        )
    assert opened == ["end_batch_imports_and_claim"]
    assert [(r.batch_line, r.status, r.claimed_by) for r in after] == [
        (2, "fetching", "w"),
        (3, "fetching", "w"),
    ]
    assert [store.get_import(r.id).status for r in first] == ["failed", "failed"]
    last = store.end_batch_imports_and_claim(
        batch_id, [], [_failure(r.id) for r in after], worker_id="w", limit=2
    )
    assert [r.batch_line for r in last] == [4]
    assert (
        store.end_batch_imports_and_claim(
            batch_id, [], [_failure(last[0].id)], worker_id="w", limit=2
        )
        == []
    )
    assert store.get_batch(batch_id).status == "failed"


def test_a_refused_end_claims_nothing(store: Store) -> None:
    project, batch_id = _batch(store, 3)
    (written,) = store.claim_next_imports("w", 1)
    store.fail_imports([_failure(written.id)])  # ended by an earlier run of the chunk
    plan = _new_file_plan(project, written.id)
    with pytest.raises(Conflict):
        store.end_batch_imports_and_claim(batch_id, [plan], [], worker_id="w", limit=2)
    rows = store.batch_imports(batch_id, 1, 2)
    assert [(r.status, r.claimed_by) for r in rows] == [("queued", None), ("queued", None)]


def test_two_chunks_ending_at_once_end_their_batch(store: Store) -> None:
    """Each chunk's end sees the other's lines pending until the other commits; the one that
    commits second must still find the batch done (PostgreSQL: it waits on the batch's row)."""
    _, batch_id = _batch(store, 2)
    (one,) = store.claim_next_imports("a", 1)
    (two,) = store.claim_next_imports("b", 1)
    second: dict[str, Any] = {}

    def end_the_other() -> None:
        second["batch"] = store.end_batch_imports(batch_id, [], [_failure(two.id)])

    other = threading.Thread(target=end_the_other)
    with store._write() as conn:
        _end_failed(conn, [_failure(one.id)])
        assert _settle_batch(conn, batch_id).status == "running"  # `two` is pending here
        other.start()
        time.sleep(0.3)  # the other end runs up to where it waits for this one
        assert other.is_alive()
    other.join(timeout=30)
    assert second["batch"].status == "failed"
    assert store.get_batch(batch_id).status == "failed"


def test_a_reader_sees_a_batch_and_its_lines_as_of_one_moment(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim committing while the reader reads must not make the batch and its lines
    disagree: the reader would take the write lock to set the status that the claim had just
    set. (Both are one statement; the claim commits right after it, before the reader's
    transaction ends.)"""
    from labelport.store import batches

    _, batch_id = _batch(store, 2)
    real = batches._duplicate_statuses

    def claimed_in_between(conn: Any, batch: Any) -> Any:
        store.claim_next_imports("w", 2)
        return real(conn, batch)

    monkeypatch.setattr(batches, "_duplicate_statuses", claimed_in_between)
    with _writes(store, monkeypatch) as opened:
        batch, counts = store.batch_state(batch_id)
    assert (batch.status, counts) == ("queued", {"queued": 2, "duplicate": 0, "warned": 0})
    assert opened == ["claim_next_imports"]
    assert store.get_batch(batch_id).status == "running"
