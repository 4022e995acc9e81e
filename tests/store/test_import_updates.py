"""`update_unfinished_imports`: each import its own values and every one the same constants, in
one statement (PostgreSQL: UPDATE ... FROM one JSON document of the rows; SQLite: one
executemany on the driver), read back as the store's own writes are: JSON as values, times as
aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

from labelport.store import Store
from labelport.store.import_updates import update_unfinished_imports


def test_each_import_gets_its_values_and_ended_or_foreign_ones_none(store: Store) -> None:
    project = store.create_project("p").id
    other = store.create_project("q").id
    first, second, ended = (store.create_import(project)[0].id for _ in range(3))
    foreign = store.create_import(other)[0].id
    store.update_import(ended, status="failed")
    when = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    rows = [
        {"id": x, "counts": {"instances": n, "by": {"cat": n}}, "warnings": [], "file_id": None}
        for n, x in enumerate((first, second, ended, foreign), 1)
    ]
    with store._write() as conn:
        done = update_unfinished_imports(
            conn,
            rows,
            {"status": "processing", "percent": 10.0, "heartbeat_at": when, "error": None},
            project_id=project,
        )
    assert done == 2
    got = store.get_imports([first, second, ended, foreign])
    assert [got[x].status for x in (first, second, ended, foreign)] == [
        "processing",
        "processing",
        "failed",
        "queued",
    ]
    assert got[first].counts == {"instances": 1, "by": {"cat": 1}}
    assert got[second].counts == {"instances": 2, "by": {"cat": 2}}
    assert got[first].warnings == [] and got[first].percent == 10.0
    assert got[second].heartbeat_at == when and got[second].error is None
    assert got[ended].counts is None and got[foreign].heartbeat_at is None


def test_values_that_need_quoting_and_times_of_their_own_arrive_as_given(store: Store) -> None:
    """Quotes, backslashes, braces, commas, non-ASCII, an escaped NUL and a lone surrogate's
    escape inside JSON values; a time per import: each read back as written."""
    project = store.create_project("p").id
    ids = [store.create_import(project)[0].id for _ in range(2)]
    texts = ['a"b\\c{d},e', "é ✓ 漢字 \x00 \udc80", "{}", "NULL", ""]
    times = [datetime(2030, 1, 2, 3, 4, 5, n, tzinfo=UTC) for n in (1, 999999)]
    rows = [
        {
            "id": x,
            "counts": {"names": texts, "n": n},
            "problems": [{"code": "c", "path": texts[n], "message": texts[-1 - n]}],
            "finished_at": times[n],
            "media_type": None,
        }
        for n, x in enumerate(ids)
    ]
    with store._write() as conn:
        assert update_unfinished_imports(conn, rows, {"percent": 50.0}) == 2
    got = store.get_imports(ids)
    for n, x in enumerate(ids):
        assert got[x].counts == {"names": texts, "n": n}
        assert got[x].problems == [{"code": "c", "path": texts[n], "message": texts[-1 - n]}]
        assert got[x].finished_at == times[n] and got[x].media_type is None
        assert got[x].percent == 50.0
