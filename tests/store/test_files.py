"""Media files."""

from __future__ import annotations

import pytest

from labelport.store import NotFound, Store


def test_create_get_update_file(store: Store) -> None:
    p = store.create_project("acme")
    f = store.create_file(p.id, "image", original_filename="a.jpg", sha256="ab" * 32)
    assert f.directory_id == store.default_directory(p.id).id
    assert store.get_file(f.id) == f

    g = store.update_file(f.id, width=640, height=480, size=1234, blob_key="blobs/ab")
    assert (g.width, g.height, g.size, g.blob_key, g.original_filename) == (
        640, 480, 1234, "blobs/ab", "a.jpg",
    )  # fmt: skip
    with pytest.raises(TypeError, match="project_id"):
        store.update_file(f.id, project_id=2)
    with pytest.raises(NotFound):
        store.update_file(999, width=1)


def test_text_tokens_and_geo_bounds_round_trip(store: Store) -> None:
    p = store.create_project("acme")
    text = store.create_file(p.id, "text", tokens=[{"value": "hi", "start": 0}, {"value": "!"}])
    assert text.token_count == 2 and text.tokens[0]["value"] == "hi"
    geo = store.create_file(p.id, "geo", bounds=[[-1.5, 2.0], [3.0, 4.0]])
    assert store.get_file(geo.id).bounds == [[-1.5, 2.0], [3.0, 4.0]]


def test_list_files_by_directory_with_paging_and_children(store: Store) -> None:
    p = store.create_project("acme")
    d = store.create_directory(p.id, "two")
    default = [store.create_file(p.id, "image") for _ in range(5)]
    in_two = store.create_file(p.id, "video", directory_id=d.id)
    parent = default[0]
    kids = [store.create_file(p.id, "image", parent_file_id=parent.id, ordinal=n) for n in (1, 0)]

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
        store.create_file(p.id, "image", directory_id=store.default_directory(other.id).id)
    f = store.create_file(p.id, "image")
    with pytest.raises(NotFound):
        store.get_file(f.id, project_id=other.id)
    with pytest.raises(TypeError):
        store.create_file(p.id, "image", colour="red")


def test_existing_file_ids_only_in_the_project(store: Store) -> None:
    p = store.create_project("acme")
    other = store.create_project("other")
    mine = store.create_file(p.id, "image").id
    theirs = store.create_file(other.id, "image").id
    assert store.existing_file_ids(p.id, [mine, theirs, 999]) == {mine}
