"""`create_batch`: one queued import per line in one transaction, a key the project has already
(or an earlier line has) making its line a duplicate; the batch comes back as it then is."""

from __future__ import annotations

from labelport.store import Store
from labelport.store.batches import BatchLine
from thread_helpers import run_together


def _lines(*keys: str | None) -> list[BatchLine]:
    return [
        BatchLine(offset=n, length=1, idempotency_key=key, media_name=f"{n}.jpg")
        for n, key in enumerate(keys)
    ]


def _create(store: Store, project: int, lines: list[BatchLine]) -> tuple[int, str]:
    batch = store.create_batch(
        project, lines, on_error="reject", media="copy", source="test", body_blob_key="k"
    )
    return batch.id, batch.status


def test_lines_become_queued_imports_and_repeated_keys_duplicates(store: Store) -> None:
    project = store.create_project("p").id
    first, status = _create(store, project, _lines("a", None, "a", "b"))
    assert status == "queued"
    imports = store.batch_imports(first, 0, 3)
    assert [(r.batch_line, r.idempotency_key, r.status) for r in imports] == [
        (0, "a", "queued"),
        (1, None, "queued"),
        (3, "b", "queued"),
    ]
    assert imports[0].media_name == "0.jpg" and imports[0].packet_blob_key == "k"
    assert (imports[2].packet_offset, imports[2].packet_length) == (3, 1)
    assert store.get_batch(first).duplicates == {"2": imports[0].id}


def test_a_batch_of_duplicates_only_is_as_done_as_their_first_imports(store: Store) -> None:
    project = store.create_project("p").id
    _create(store, project, _lines("a", "b"))
    claimed = store.claim_next_imports("w", 2)
    store.fail_imports([{"id": r.id, "problems": [], "error": "gone"} for r in claimed])
    again, status = _create(store, project, _lines("b", "a"))
    assert status == "failed" and store.get_batch(again).status == "failed"
    assert _create(store, project, _lines("c", "d"))[1] == "queued"
    # a line queued, another a duplicate of an ended import: under way already
    assert _create(store, project, _lines("a", "e"))[1] == "running"
    assert _create(store, project, [])[1] == "success"


def test_concurrent_batches_sending_one_key_make_one_import_of_it(store: Store) -> None:
    project = store.create_project("p").id
    made = run_together(*[lambda: _create(store, project, _lines("same", None))[0]] * 4)
    assert len(made) == 4
    owners = [b for b in made if store.batch_imports(b, 0, 0)]
    assert len(owners) == 1
    (first,) = store.batch_imports(owners[0], 0, 0)
    for batch_id in made:
        assert len(store.batch_imports(batch_id, 1, 1)) == 1  # a keyless line: always its own
        if batch_id != owners[0]:
            assert store.get_batch(batch_id).duplicates == {"0": first.id}
    assert store.count_imports(project) == 5


def test_line_values_that_need_escaping_are_stored_as_sent(store: Store) -> None:
    project = store.create_project("p").id
    name = 'a "quoted" \\ name, {braced} \u00e9\u4e2d \U0001f600.jpg'
    url = "https://example.com/x?q='1'&r=\"2\""
    line = BatchLine(
        offset=2**40,
        length=2**33,
        idempotency_key="k\u00e9y 'one'",
        media_name=name,
        media_url=url,
    )
    batch_id, _ = _create(store, project, [line])
    (got,) = store.batch_imports(batch_id, 0, 1)
    assert (got.idempotency_key, got.media_name, got.media_url) == ("k\u00e9y 'one'", name, url)
    assert (got.packet_offset, got.packet_length, got.batch_line) == (2**40, 2**33, 0)
    assert (got.status, got.mode, got.percent, got.attempts) == ("queued", "create", 0.0, 0)
    assert got.created_at is not None and got.created_at.tzinfo is not None


def test_the_import_table_is_analyzed_as_it_doubles(store: Store) -> None:
    """PostgreSQL plans the claim and the key look-ups by the import table's statistics: a
    batch that leaves the table with twice the rows they last saw has it analyzed, one that
    does not leaves them be."""
    if store.dialect != "postgresql":
        return  # SQLite's planner needs no statistics for these (a CROSS JOIN orders them)
    from sqlalchemy import text

    def seen() -> float:
        with store.engine.connect() as conn:
            return float(
                conn.execute(
                    text("SELECT reltuples FROM pg_class WHERE oid = CAST('import' AS regclass)")
                ).scalar_one()
            )

    project = store.create_project("p").id
    _create(store, project, _lines(*(f"a{n}" for n in range(10))))
    assert seen() <= 0  # too few rows to bother: never analyzed (-1) or empty
    _create(store, project, _lines(*(f"b{n}" for n in range(70))))
    assert seen() == 80
    _create(store, project, _lines(*(f"c{n}" for n in range(70))))
    assert seen() == 80  # 150 rows: not yet twice 80
    _create(store, project, _lines(*(f"d{n}" for n in range(20))))
    assert seen() == 170
