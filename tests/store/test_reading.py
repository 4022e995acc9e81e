"""`Store.reading()`: the reads of a block share one read transaction."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event

from labelport.ingest.context import load_context
from labelport.store import Store


def _begins(store: Store) -> list[int]:
    begun: list[int] = []

    def begin(conn: Any) -> None:
        begun.append(threading.get_ident())

    event.listen(store.engine, "begin", begin)
    return begun


def test_the_reads_of_a_block_are_one_transaction(store: Store) -> None:
    project = store.create_project("p").id
    store.create_labels(project, ["cat"])
    begun = _begins(store)
    load_context(store, project, None)
    alone = len(begun)
    assert alone >= 4  # labels, attribute groups, models, model runs: one each
    begun.clear()
    with store.reading():
        context = load_context(store, project, None)
        with store.reading():  # within one: the same transaction
            directories = store.list_directories(project)
    assert len(begun) == 1
    assert [x["name"] for x in context.labels] == ["cat"] and directories[0].is_default
    begun.clear()
    store.list_labels(project)  # after the block: a transaction of its own again
    assert len(begun) == 1


def test_another_thread_reads_on_its_own(store: Store) -> None:
    project = store.create_project("p").id
    begun = _begins(store)
    with store.reading():
        store.list_labels(project)
        other = threading.Thread(target=store.list_labels, args=(project,))
        other.start()
        other.join()
    assert len(begun) == 2 and len(set(begun)) == 2
