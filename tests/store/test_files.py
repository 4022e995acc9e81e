"""Media files, created as an import creates them (store_helpers.add_file)."""

from __future__ import annotations

import pytest
from store_helpers import add_file

from labelport.store import NotFound, Store


def test_create_and_get_file(store: Store) -> None:
    p = store.create_project("acme")
    f = add_file(
        store, p.id, "image", original_filename="a.jpg", sha256="ab" * 32, width=640, height=480,
        size=1234, blob_key="blobs/ab",
    )  # fmt: skip
    assert f.directory_id == store.default_directory(p.id).id
    assert (f.media_type, f.width, f.height, f.size, f.blob_key, f.original_filename) == (
        "image", 640, 480, 1234, "blobs/ab", "a.jpg",
    )  # fmt: skip
    assert store.get_file(f.id) == f


def test_text_tokens_and_geo_bounds_round_trip(store: Store) -> None:
    p = store.create_project("acme")
    text = add_file(store, p.id, "text", tokens=[{"value": "hi", "start": 0}, {"value": "!"}])
    assert text.token_count == 2 and text.tokens[0]["value"] == "hi"
    geo = add_file(store, p.id, "geo", bounds=[[-1.5, 2.0], [3.0, 4.0]])
    assert store.get_file(geo.id).bounds == [[-1.5, 2.0], [3.0, 4.0]]


def test_list_files_by_directory_with_paging_and_children(store: Store) -> None:
    p = store.create_project("acme")
    d = store.create_directory(p.id, "two")
    default = [add_file(store, p.id, "image") for _ in range(5)]
    in_two = add_file(store, p.id, "video", directory_id=d.id)
    parent = default[0]
    kids = [add_file(store, p.id, "image", parent_file_id=parent.id, ordinal=n) for n in (1, 0)]

    assert [f.id for f in store.list_files(p.id)] == [f.id for f in default] + [in_two.id]
    assert (
        store.list_files(p.id, store.default_directory(p.id).id, limit=2, offset=1) == default[1:3]
    )
    assert store.list_files(p.id, d.id) == [in_two]
    assert store.list_files(p.id, media_type="video") == [in_two]
    assert store.list_files(p.id, parent_file_id=parent.id) == kids[::-1]
    assert store.count_files(p.id) == 6
    assert store.count_files(p.id, d.id) == 1


def test_file_errors(store: Store) -> None:
    p = store.create_project("acme")
    other = store.create_project("other")
    with pytest.raises(NotFound):
        add_file(store, p.id, "image", directory_id=store.default_directory(other.id).id)
    assert store.count_files(p.id) == 0  # the failed import left no file behind
    f = add_file(store, p.id, "image")
    with pytest.raises(NotFound):
        store.get_file(f.id, project_id=other.id)


def test_existing_file_ids_only_in_the_project(store: Store) -> None:
    p = store.create_project("acme")
    other = store.create_project("other")
    mine = add_file(store, p.id, "image").id
    theirs = add_file(store, other.id, "image").id
    assert store.existing_file_ids(p.id, [mine, theirs, 999]) == {mine}
