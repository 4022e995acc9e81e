"""`project.import_batch`: many packets streamed as one batch, per-file outcomes, against a real
HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import labelport
from labelport.sdk import BatchFile, BatchImport, LabelportHTTPError
from labelport.service import Service
from server_helpers import ProjectKeys


def box(name: str = "cat", x: int = 10) -> dict[str, Any]:
    return {"type": "box", "name": name, "x_min": x, "y_min": 10, "x_max": x + 20, "y_max": 40}


@pytest.fixture
def media(tmp_path: Path) -> Iterator[Any]:
    from media_factory import make_jpeg, serve_directory

    root = tmp_path / "media"
    root.mkdir()
    for n in range(4):
        make_jpeg(root / f"img{n}.jpg", 128, 96)
    with serve_directory(root) as server:
        yield server


def packet(media: Any, n: int, key: str, *instances: dict[str, Any]) -> dict[str, Any]:
    return {
        "media": {"url": media.url(f"img{n}.jpg"), "type": "image"},
        "instance_list": list(instances),
        "idempotency_key": key,
    }


def test_a_batch_of_packets_with_one_bad_file_and_a_duplicate(
    project: labelport.Project, media: Any, served: tuple[str, ProjectKeys, Service]
) -> None:
    _, keys, service = served
    project.label_new("cat")

    def packets() -> Iterator[dict[str, Any] | bytes]:  # a generator: streamed, never a list
        yield packet(media, 0, "k0", box(), box(x=50))
        yield packet(media, 1, "k1", box("dgo"))  # not a label of the project: fails alone
        # JSON bytes over several lines are sent as one line
        url = media.url("img2.jpg").encode()
        yield b'{"media": {"url": "%s", "type": "image"},\n "idempotency_key": "k2"}' % url
        yield packet(media, 3, "k0", box())  # k0 again: a duplicate of line 0

    batch = project.import_batch(packets())
    assert isinstance(batch, BatchImport) and batch.id is not None
    assert batch.file_count == 4
    assert batch.wait(timeout=60) is batch
    assert batch.status == "partial"
    # a duplicate counts under its first import's status, and once more as a duplicate
    counted = (batch.counts["success"], batch.counts["rejected"], batch.counts["duplicate"])
    assert counted == (3, 1, 1)  # the bad line is refused before any fetch: `rejected`
    assert "partial" in repr(batch) and f"id={batch.id}" in repr(batch)

    files = list(batch.files(per_page=3))  # two pages
    assert [f.line for f in files] == [0, 1, 2, 3]
    assert all(isinstance(f, BatchFile) for f in files)
    ok, bad, empty, dup = files
    assert ok.ok and ok.counts["instances"] == 2 and ok.file_id is not None
    assert (bad.status, bad.ok, bad.problem_count) == ("rejected", False, 1)
    assert [(p.code, p.path) for p in bad.problems] == [("label.unknown", "instance_list/0/name")]
    assert empty.ok and empty.idempotency_key == "k2"
    assert dup.duplicate and dup.import_id == ok.import_id and dup.status == "success"
    assert [f.line for f in batch.failed()] == [1]
    assert sum(f.counts.get("instances", 0) for f in files if f.ok and not f.duplicate) == 2

    # every line is an import of its own, listed with the others
    assert project.get_import(bad.import_id).status == "rejected"
    assert service.list_imports(keys.id)[1] == 3
    assert [b.id for b in project.batches()] == [batch.id]
    assert project.get_batch(batch.id).status == "partial"

    # the same keys again: every line a duplicate, nothing new stored
    again = project.import_batch([packet(media, 0, "k0", box()), packet(media, 2, "k2")]).wait()
    assert again.counts["duplicate"] == 2 and again.status == "success"
    assert service.list_imports(keys.id)[1] == 3


def test_find_imports_by_keys_and_stems(project: labelport.Project, media: Any) -> None:
    project.label_new("cat")
    project.import_batch(
        [
            packet(media, 0, "name:a#v1", box()),
            packet(media, 1, "name:a#v2", box("dgo")),  # refused: holds no key (docs/imports.md)
            packet(media, 2, "name:b#v1", box()),
        ]
    ).wait(timeout=60)
    found = project.find_imports(keys=["name:a#v1", "name:zzz#v1"], stems=["name:a", "name:c"])
    assert set(found["keys"]) == {"name:a#v1"}
    assert found["keys"]["name:a#v1"].status == "success"
    assert found["latest"]["name:a"].data["idempotency_key"] == "name:a#v1"
    assert found["latest_success"]["name:a"].data["idempotency_key"] == "name:a#v1"
    assert "name:c" not in found["latest"] and "name:c" not in found["latest_success"]


def test_batch_options_are_checked(project: labelport.Project) -> None:
    with pytest.raises(LabelportHTTPError) as caught:
        project.import_batch([{"text_data": "x", "original_filename": "x.txt"}], media="linked")
    assert caught.value.status in (400, 422)


def test_the_files_with_warnings_are_read_alone(project: labelport.Project, media: Any) -> None:
    """`batch.warned()` pages through the lines whose import has warnings, and no others: a
    box 0.5 px past its 128 px image is clamped to it, imported, and said."""
    project.label_new("cat")
    past = {**box(x=100), "x_max": 128.5}
    packets = [packet(media, n, f"w{n}", box()) for n in range(4)]
    packets[1]["instance_list"] = [past]
    packets[3]["instance_list"] = [box(), past]
    batch = project.import_batch(packets).wait(timeout=60)
    assert batch.status == "success"
    warned = list(batch.warned(per_page=1))  # one a page: the last page is empty
    assert [f.line for f in warned] == [1, 3]
    assert [(w.code, w.path) for w in warned[1].warnings] == [
        ("shape.clamped", "instance_list/1/x_max")
    ]
    assert all(f.warning_count == 1 and f.ok for f in warned)
    assert all(f.warnings == [] for f in batch.files() if f.line in (0, 2))
