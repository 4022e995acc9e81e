"""Import records (migration 0008): the media's name and URL on every import, and the records
packets refused at submit leave (status `rejected`), capped and kept per project within a limit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from labelport.store import Store
from labelport.store import imports as store_imports
from labelport.store import tables as t


@pytest.fixture
def project_id(store: Store) -> int:
    return store.create_project("acme").id


def _problems(n: int, code: str = "label.unknown") -> list[dict[str, Any]]:
    return [
        {"code": code, "path": f"instance_list/{k}/name", "message": "label 'car' is not here"}
        for k in range(n)
    ]


def test_an_import_keeps_its_media_name_and_url(store: Store, project_id: int) -> None:
    row, created = store.create_import(
        project_id,
        idempotency_key="k1",
        media_name="000123.jpg",
        media_url="https://example.com/images/000123.jpg",
    )
    assert created
    again = store.get_import(row.id)
    assert (again.media_name, again.media_url) == (
        "000123.jpg",
        "https://example.com/images/000123.jpg",
    )
    long_url = "https://example.com/" + "a" * 5000
    row, _ = store.create_import(project_id, media_name="n" * 400, media_url=long_url)
    assert len(row.media_name) == store_imports.MEDIA_NAME_CHARS
    assert len(row.media_url) == store_imports.MEDIA_URL_CHARS
    assert row.media_url.endswith("…")


def test_a_rejected_record_does_not_reserve_its_key(store: Store, project_id: int) -> None:
    refused = store.create_rejected_import(
        project_id,
        problems=_problems(3),
        problem_count=3,
        idempotency_key="photo-1",
        media_name="photo-1.jpg",
        source="api",
        media_type="image",
    )
    assert refused.status == "rejected"
    assert refused.finished_at is not None
    assert refused.idempotency_key is None and refused.rejected_key == "photo-1"
    assert store.find_import_by_key(project_id, "photo-1") is None
    # the corrected packet with the same key is a new import, and the key is now its
    row, created = store.create_import(project_id, idempotency_key="photo-1")
    assert created and row.id != refused.id
    assert store.find_import_by_key(project_id, "photo-1").id == row.id
    # a second refusal with the key is kept too, as history
    store.create_rejected_import(project_id, problems=_problems(1), problem_count=1,
                                 idempotency_key="photo-1")  # fmt: skip
    assert store.count_imports(project_id, status="rejected") == 2
    listed = store.list_imports(project_id, status="rejected")
    assert [r.rejected_key for r in listed] == ["photo-1", "photo-1"]


def test_a_rejected_record_keeps_a_capped_problem_list(store: Store, project_id: int) -> None:
    many = _problems(5000) + _problems(7, "geometry.invalid")
    many[0]["message"] = "m" * 10_000
    many[1]["path"] = "p\x00\ud800" + "q" * 10
    row = store.create_rejected_import(
        project_id,
        problems=many,
        problem_count=len(many),
        problem_counts_by_code={"label.unknown": 5000, "geometry.invalid": 7},
        warnings=_problems(100, "box.clipped"),
        warning_count=100,
    )
    got = store.get_import(row.id)
    assert len(got.problems) == store_imports.REJECTED_PROBLEMS_KEPT
    assert got.problem_count == 5007
    assert got.counts["problem_counts_by_code"] == {"label.unknown": 5000, "geometry.invalid": 7}
    assert len(got.problems[0]["message"]) == store_imports.REJECTED_TEXT_CHARS
    assert got.problems[1]["path"].startswith("p\\x00\\ud800")
    assert len(got.warnings) == store_imports.REJECTED_WARNINGS_KEPT
    assert got.counts["warning_count"] == 100


def test_rejected_records_are_kept_within_a_limit_per_project(
    store: Store, project_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_imports, "REJECTED_KEEP_PER_PROJECT", 5)
    other = store.create_project("other").id
    store.create_rejected_import(other, problems=_problems(1), problem_count=1)
    accepted, _ = store.create_import(project_id, idempotency_key="good")
    ids = [
        store.create_rejected_import(
            project_id, problems=_problems(1), problem_count=1, idempotency_key=f"k{n}"
        ).id
        for n in range(12)
    ]
    kept = store.list_imports(project_id, status="rejected", limit=100)
    assert [r.id for r in kept] == ids[-5:][::-1]  # the newest five, newest first
    # other statuses and other projects are untouched
    assert store.get_import(accepted.id).status == "queued"
    assert store.count_imports(other, status="rejected") == 1


def test_the_status_check_allows_rejected_and_nothing_else(store: Store, project_id: int) -> None:
    assert "rejected" in t.IMPORT_STATUSES and "rejected" in t.TERMINAL_STATUSES
    row, _ = store.create_import(project_id)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE \"import\" SET status = 'rejected' WHERE id = :i"), {"i": row.id})
    with pytest.raises(Exception, match=r"(?i)check|constraint"), store.engine.begin() as conn:
        conn.execute(text("UPDATE \"import\" SET status = 'bogus' WHERE id = :i"), {"i": row.id})


def test_a_rejected_record_is_never_claimed_or_requeued(store: Store, project_id: int) -> None:
    from datetime import timedelta

    store.create_rejected_import(project_id, problems=_problems(1), problem_count=1)
    assert store.claim_next_import("w1") is None
    assert store.requeue_stale_imports(timedelta(seconds=-60)) == []


def test_migration_0008_keeps_imports_and_goes_back(database: Any) -> None:
    """Upgrading a database at 0007 keeps its imports (new columns empty); downgrading drops
    the rejected records and the columns, and the status check refuses `rejected` again."""
    from alembic import command

    from labelport.store.database import alembic_config, make_engine, transaction

    engine = make_engine(database.url)
    cfg = alembic_config()

    def to(revision: str, down: bool = False) -> None:
        with transaction(engine, write=True) as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, revision)

    try:
        to("0007")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO project (string_id, name, created_at) "
                              "VALUES ('p', 'P', CURRENT_TIMESTAMP)"))  # fmt: skip
            conn.execute(text(
                "INSERT INTO \"import\" (project_id, mode, status, percent, problem_count, "
                "attempts, idempotency_key, created_at) "
                "VALUES (1, 'create', 'success', 100, 0, 0, 'k', CURRENT_TIMESTAMP)"
            ))  # fmt: skip
        to("0008")
        with engine.begin() as conn:
            row = conn.execute(
                text('SELECT status, idempotency_key, media_name, rejected_key FROM "import"')
            ).one()
            assert tuple(row) == ("success", "k", None, None)
            conn.execute(text(
                "INSERT INTO \"import\" (project_id, mode, status, percent, problem_count, "
                "attempts, rejected_key, media_name, created_at) "
                "VALUES (1, 'create', 'rejected', 0, 1, 0, 'k', 'a.jpg', CURRENT_TIMESTAMP)"
            ))  # fmt: skip
        to("0007", down=True)
        with engine.begin() as conn:
            statuses = conn.execute(text('SELECT status FROM "import"')).scalars().all()
            assert statuses == ["success"]
        with pytest.raises(Exception, match=r"(?i)check|constraint"), engine.begin() as conn:
            conn.execute(text("UPDATE \"import\" SET status = 'rejected'"))
        to("head")
    finally:
        engine.dispose()
