"""Imports: idempotency keys, listing, updates, and the claim / requeue job queue."""

from __future__ import annotations

import functools
from datetime import timedelta

import pytest
from sqlalchemy import update

from labelport.store import NotFound, Store
from labelport.store import tables as t
from labelport.store.coltypes import utcnow
from thread_helpers import run_together


@pytest.fixture
def project_id(store: Store) -> int:
    return store.create_project("acme").id


def test_same_idempotency_key_returns_the_first_import(store: Store, project_id: int) -> None:
    first, created = store.create_import(project_id, idempotency_key="k", media_type="image")
    again, created_again = store.create_import(project_id, idempotency_key="k", media_type="video")
    assert (created, created_again) == (True, False)
    assert again == first and again.media_type == "image"

    other_project = store.create_project("other").id
    elsewhere, created = store.create_import(other_project, idempotency_key="k")
    assert created and elsewhere.id != first.id
    # Without a key, imports are never deduplicated.
    a, _ = store.create_import(project_id)
    b, _ = store.create_import(project_id)
    assert a.id != b.id


def test_concurrent_creates_with_one_key_make_one_import(store: Store, project_id: int) -> None:
    results = run_together(*[lambda: store.create_import(project_id, idempotency_key="race")] * 6)
    assert len({imp.id for imp, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_new_import_defaults(store: Store, project_id: int) -> None:
    imp, _ = store.create_import(project_id, source="api", packet_blob_key="packets/1.json")
    assert (imp.status, imp.percent, imp.attempts, imp.mode) == ("queued", 0.0, 0, "create")
    assert imp.packet_blob_key == "packets/1.json" and imp.created_at.tzinfo is not None
    assert store.get_import(imp.id) == imp
    with pytest.raises(NotFound):
        store.get_import(imp.id, project_id=project_id + 1)
    with pytest.raises(ValueError, match="mode"):
        store.create_import(project_id, mode="append")


def test_list_imports_newest_first_with_filters_and_paging(store: Store, project_id: int) -> None:
    made = [
        store.create_import(project_id, media_type=m)[0]
        for m in ("image", "video", "image", "text")
    ]
    store.update_import(made[2].id, status="failed")
    newest_first = [i.id for i in reversed(made)]
    assert [i.id for i in store.list_imports(project_id)] == newest_first
    assert [i.id for i in store.list_imports(project_id, limit=2, offset=1)] == newest_first[1:3]
    assert [i.id for i in store.list_imports(project_id, media_type="image")] == [
        made[2].id,
        made[0].id,
    ]
    assert [i.id for i in store.list_imports(project_id, status="failed")] == [made[2].id]
    assert store.list_imports(store.create_project("other").id) == []


def test_update_import(store: Store, project_id: int) -> None:
    imp, _ = store.create_import(project_id)
    running = store.update_import(imp.id, status="processing", percent=40.0)
    assert (running.status, running.percent, running.finished_at) == ("processing", 40.0, None)
    problems = [{"code": "box.inverted", "path": "instance_list/0", "message": "..."}]
    failed = store.update_import(imp.id, status="failed", problems=problems, error="bad input")
    assert failed.problems == problems and failed.problem_count == 1
    assert failed.finished_at is not None and failed.error == "bad input"
    with pytest.raises(TypeError, match="idempotency_key"):
        store.update_import(imp.id, idempotency_key="x")
    with pytest.raises(ValueError, match="status"):
        store.update_import(imp.id, status="done")
    with pytest.raises(NotFound):
        store.update_import(999, percent=1.0)


def test_claim_takes_the_oldest_queued_import_once(store: Store, project_id: int) -> None:
    first, _ = store.create_import(project_id)
    second, _ = store.create_import(project_id)
    done, _ = store.create_import(project_id, status="success")

    claimed = store.claim_next_import("w1")
    assert claimed is not None and claimed.id == first.id
    assert (claimed.status, claimed.claimed_by, claimed.attempts) == ("fetching", "w1", 1)
    assert claimed.heartbeat_at is not None and claimed.started_at is not None
    assert store.claim_next_import("w2").id == second.id
    assert store.claim_next_import("w3") is None
    assert store.get_import(done.id).status == "success"


def test_concurrent_claims_never_share_an_import(store: Store, project_id: int) -> None:
    made = {store.create_import(project_id)[0].id for _ in range(8)}
    claims = (functools.partial(store.claim_next_import, f"w{i}") for i in range(10))
    claimed = run_together(*claims)
    ids = [c.id for c in claimed if c is not None]
    assert sorted(ids) == sorted(made)  # each once, two workers got nothing


def _age(store: Store, import_id: int, by: timedelta) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(t.import_)
            .where(t.import_.c.id == import_id)
            .values(heartbeat_at=utcnow() - by, claimed_at=utcnow() - by)
        )


def test_requeue_returns_silent_imports_to_the_queue(store: Store, project_id: int) -> None:
    for _ in range(3):
        store.create_import(project_id)
    stale = store.claim_next_import("dead")
    alive = store.claim_next_import("alive")
    waiting = store.list_imports(project_id, status="queued")[0]
    _age(store, stale.id, timedelta(minutes=10))
    _age(store, waiting.id, timedelta(minutes=10))  # queued: nothing to requeue

    requeued = store.requeue_stale_imports(timedelta(minutes=5))

    assert [i.id for i in requeued] == [stale.id]
    back = store.get_import(stale.id)
    assert (back.status, back.claimed_by, back.attempts) == ("queued", None, 1)
    assert store.get_import(alive.id).status == "fetching"
    # Claimable again, and first: it is the oldest.
    assert store.claim_next_import("w").id == stale.id
    assert store.claim_next_import("w").id == waiting.id


def test_requeue_gives_up_after_max_attempts(store: Store, project_id: int) -> None:
    store.create_import(project_id)
    imp = store.claim_next_import("w")
    _age(store, imp.id, timedelta(hours=1))
    store.requeue_stale_imports(timedelta(minutes=5), max_attempts=2)
    imp = store.claim_next_import("w")
    assert imp.attempts == 2
    _age(store, imp.id, timedelta(hours=1))
    [gave_up] = store.requeue_stale_imports(timedelta(minutes=5), max_attempts=2)
    assert (gave_up.status, gave_up.finished_at is not None) == ("failed", True)
    assert "2 attempts" in gave_up.error
    assert store.claim_next_import("w") is None


def test_finished_imports_are_never_requeued(store: Store, project_id: int) -> None:
    store.create_import(project_id)
    imp = store.claim_next_import("w")
    store.update_import(imp.id, status="success")
    _age(store, imp.id, timedelta(hours=1))
    assert store.requeue_stale_imports(timedelta(minutes=5)) == []


def test_find_by_key_and_requeue_running(store: Store, project_id: int) -> None:
    imp, _ = store.create_import(project_id, idempotency_key="k")
    assert store.find_import_by_key(project_id, "k") == imp
    assert store.find_import_by_key(project_id, "other") is None
    store.create_import(project_id)
    store.claim_next_import("w")
    store.claim_next_import("w")
    assert store.requeue_running_imports() == 2
    assert len(store.list_imports(project_id, status="queued")) == 2


def test_many_stems_at_once_answer_as_one_at_a_time(store) -> None:
    project = store.create_project("stems", "Stems")
    keys = ["a#1", "a#2", "a#b#1", "a#b#2", "b#x", "a", "a$#1", "c#1", "c#2", "ä#1", "a%#1"]
    for n, key in enumerate(keys):
        imp, _ = store.create_import(project.id, idempotency_key=key)
        if n % 3 != 1:
            store.update_import(imp.id, status="success")
    stems = ["a", "a#b", "b", "c", "ä", "a%", "missing", "a$"]
    latest, succeeded = store.find_latest_imports_by_key_stems(project.id, stems)
    for stem in stems:
        one = store.find_latest_import_by_key_stem(project.id, stem)
        assert (latest.get(stem) and latest[stem].id) == (one and one.id), stem
        ok = store.find_latest_import_by_key_stem(project.id, stem, status="success")
        assert (succeeded.get(stem) and succeeded[stem].id) == (ok and ok.id), stem
    assert set(latest) == {"a", "a#b", "b", "c", "ä", "a%", "a$"}
