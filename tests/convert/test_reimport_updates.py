"""Re-running `labelport import` after fixing annotations in the source updates the files the
first run created (update_with_existing, media not sent again) instead of adding second files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from convert_helpers import cli

from labelport.convert.importer import ImportOptions, Outcome, run
from labelport.convert.targets import EmbeddedTarget, ServerTarget
from labelport.service import Service
from media_factory import make_png
from server_helpers import make_project, threaded_server

NAMES = ("a.png", "b.png", "c.png")


def coco_export(root: Path, annotations: list[dict[str, Any]]) -> Path:
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        if not (images / name).exists():
            make_png(images / name, 64, 48)
    doc = {
        "images": [
            {"id": n, "file_name": name, "width": 64, "height": 48}
            for n, name in enumerate(NAMES, start=1)
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": annotations,
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def ann(n: int, image: int, bbox: list[float], category: int = 1) -> dict[str, Any]:
    return {"id": n, "image_id": image, "category_id": category, "bbox": bbox}


FIRST = [
    ann(1, 1, [1, 2, 10, 10]),
    ann(2, 1, [20, 20, 5, 5], 2),
    ann(3, 1, [30, 5, 8, 8]),
    ann(4, 2, [2, 2, 4, 4]),
    ann(5, 2, [10, 10, 4, 4], 2),
    ann(6, 3, [3, 3, 3, 3]),
]
# a.png: annotation 1 moved, 2 deleted, 7 added; b.png and c.png as they were.
FIXED = [
    ann(1, 1, [5, 6, 20, 12]),
    ann(3, 1, [30, 5, 8, 8]),
    ann(7, 1, [40, 30, 6, 6], 2),
    *FIRST[3:],
]


def files_and_instances(service: Service, project_id: int) -> dict[str, dict[str, Any]]:
    """{original filename: {"file_id", "instances": {external id: instance}}}."""
    files, total = service.list_files(project_id, per_page=1000)
    assert total == len(files)
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        assert f["original_filename"] not in out, "a second file of the same media"
        instances, _ = service.list_instances(project_id, f["id"], per_page=1000)
        out[f["original_filename"]] = {
            "file_id": f["id"],
            "instances": {i["external_id"]: i for i in instances},
        }
    return out


def box(inst: dict[str, Any]) -> tuple[str, float, float, float, float]:
    return (inst["label_name"], inst["x_min"], inst["y_min"], inst["x_max"], inst["y_max"])


def summary_row(output: str, what: str) -> int:
    found = re.search(rf"│ {re.escape(what)}\s*│\s*([\d,]+)", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


def test_fixed_coco_annotations_update_their_files(database: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    where = ("--data-dir", data, "--database-url", database.url)
    assert cli("project", "create", "Fixes", *where).exit_code == 0
    source = coco_export(tmp_path / "coco", FIRST)
    args = ("import", source, "--project", "fixes", "--create-labels", *where)

    first = cli(*args, "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    assert (summary["files_ok"], summary["files_updated"], summary["instances"]) == (3, 0, 6)
    with Service.open(data_dir=data, database_url=database.url, workers=0) as service:
        project_id = service.get_project("fixes")["id"]
        before = files_and_instances(service, project_id)

    coco_export(tmp_path / "coco", FIXED)
    second = cli(*args)  # the human summary
    assert second.exit_code == 0, second.output
    assert summary_row(second.output, "files updated (annotations changed)") == 1
    assert summary_row(second.output, "files already imported (unchanged)") == 2
    assert summary_row(second.output, "files imported") == 0
    assert summary_row(second.output, "files failed") == 0

    third = cli(*args, "--json")
    assert third.exit_code == 0, third.output
    summary = json.loads(third.output)
    assert (summary["files_unchanged"], summary["files_updated"], summary["files_ok"]) == (3, 0, 0)

    with Service.open(data_dir=data, database_url=database.url, workers=0) as service:
        after = files_and_instances(service, project_id)
        imports, total = service.list_imports(project_id)
    assert sorted(after) == list(NAMES)  # one file per image, the same ones as before
    assert {n: f["file_id"] for n, f in after.items()} == {
        n: f["file_id"] for n, f in before.items()
    }
    a = after["a.png"]["instances"]
    assert sorted(a) == ["coco:ann:1", "coco:ann:3", "coco:ann:7"]
    assert box(a["coco:ann:1"]) == ("cat", 5.0, 6.0, 25.0, 18.0)
    assert box(a["coco:ann:7"]) == ("dog", 40.0, 30.0, 46.0, 36.0)
    # The unchanged instance is the same row, kept, not deleted and written again.
    assert a["coco:ann:3"] == before["a.png"]["instances"]["coco:ann:3"]
    assert after["b.png"]["instances"] == before["b.png"]["instances"]
    assert after["c.png"]["instances"] == before["c.png"]["instances"]
    assert {n: len(f["instances"]) for n, f in after.items()} == {
        "a.png": 3,
        "b.png": 2,
        "c.png": 1,
    }

    assert total == 4  # three creates and one update; the third run sent nothing
    update = imports[0]
    assert (update["mode"], update["file_id"], update["status"]) == (
        "update_with_existing",
        before["a.png"]["file_id"],
        "success",
    )
    assert update["counts"]["removed"] == 1


def yolo_export(root: Path, labels: dict[str, str]) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("cat\ndog\n")
    for stem, text in labels.items():
        image = root / "images" / f"{stem}.png"
        if not image.exists():
            make_png(image, 100, 50)
        (root / "labels" / f"{stem}.txt").write_text(text)
    return root


def import_into(target: Any, source: Path, fmt: str) -> Outcome:
    outcome = run(source, target, ImportOptions(format=fmt, create_labels=True))
    assert not outcome.failed, outcome.problems
    return outcome


def counts(outcome: Outcome) -> tuple[int, int, int]:
    return outcome.files_ok, outcome.files_updated, outcome.files_unchanged


def test_yolo_fix_then_going_back_to_the_first_version(service: Service, tmp_path: Path) -> None:
    project = service.create_project("Yolo fixes")
    target = EmbeddedTarget(service, project["string_id"])
    one = "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n"
    source = yolo_export(tmp_path / "yolo", {"one": one, "two": "0 0.5 0.5 0.5 0.5\n"})
    assert counts(import_into(target, source, "yolo")) == (2, 0, 0)
    (source / "labels" / "one.txt").write_text("0 0.5 0.5 0.4 0.2\n")
    assert counts(import_into(target, source, "yolo")) == (0, 1, 1)
    [fixed] = files_and_instances(service, project["id"])["one.png"]["instances"].values()
    assert box(fixed) == ("cat", 30.0, 20.0, 70.0, 30.0)

    # Back to the first version: its key was used by the first run, yet the file holds the
    # second one, so the first is sent again (under a new key), and only once.
    (source / "labels" / "one.txt").write_text(one)
    assert counts(import_into(target, source, "yolo")) == (0, 1, 1)
    assert counts(import_into(target, source, "yolo")) == (0, 0, 2)
    shown = files_and_instances(service, project["id"])
    assert len(shown) == 2
    assert sorted(box(i) for i in shown["one.png"]["instances"].values()) == [
        ("cat", 40.0, 20.0, 60.0, 30.0),
        ("dog", 20.0, 10.0, 30.0, 15.0),
    ]


def test_replaced_media_is_a_new_file(service: Service, tmp_path: Path) -> None:
    project = service.create_project("New media")
    target = EmbeddedTarget(service, project["string_id"])
    source = yolo_export(tmp_path / "yolo", {"one": "0 0.5 0.5 0.2 0.2\n"})
    assert counts(import_into(target, source, "yolo")) == (1, 0, 0)
    make_png(source / "images" / "one.png", 120, 60)  # other pixels under the same name
    # Instances cannot be moved onto other media in place: the old file keeps its own.
    assert counts(import_into(target, source, "yolo")) == (1, 0, 0)
    assert service.list_files(project["id"])[1] == 2


@pytest.fixture
def served(service: Service) -> Any:
    with threaded_server(_app(service)) as url:
        yield url


def _app(service: Service) -> Any:
    from labelport.api import create_app

    return create_app(service)


def test_fixed_annotations_update_through_a_server(
    service: Service, served: str, tmp_path: Path
) -> None:
    keys = make_project(service, "Served fixes")
    client_id, secret = keys.auth("editor")
    target = ServerTarget(served, f"{client_id}:{secret}", keys.string_id)
    source = coco_export(tmp_path / "coco", FIRST)
    assert counts(import_into(target, source, "coco")) == (3, 0, 0)
    before = files_and_instances(service, keys.id)
    coco_export(tmp_path / "coco", FIXED)
    assert counts(import_into(target, source, "coco")) == (0, 1, 2)
    assert counts(import_into(target, source, "coco")) == (0, 0, 3)
    after = files_and_instances(service, keys.id)
    assert {n: f["file_id"] for n, f in after.items()} == {
        n: f["file_id"] for n, f in before.items()
    }
    assert sorted(after["a.png"]["instances"]) == ["coco:ann:1", "coco:ann:3", "coco:ann:7"]
    assert box(after["a.png"]["instances"]["coco:ann:1"]) == ("cat", 5.0, 6.0, 25.0, 18.0)
    assert service.list_imports(keys.id)[1] == 4


def test_a_failed_import_is_retried_through_a_server(
    service: Service, served: str, tmp_path: Path
) -> None:
    keys = make_project(service, "Served retries")
    client_id, secret = keys.auth("editor")
    target = ServerTarget(served, f"{client_id}:{secret}", keys.string_id)
    # Outside the 64 x 48 image: only the import job, which reads the image, finds that.
    source = coco_export(tmp_path / "coco", [ann(1, 1, [60, 2, 20, 10])])
    options = ImportOptions(format="coco", create_labels=True)
    for run_number, ok_then_unchanged in ((1, (2, 0)), (2, (0, 2))):
        outcome = run(source, target, options)
        assert (outcome.files_ok, outcome.files_unchanged) == ok_then_unchanged
        assert outcome.files_failed == 1
        assert {p.code for p in outcome.problems} == {"shape.outside_media"}
        # The second run tried again under a new key instead of being answered the failure.
        assert service.list_imports(keys.id, status="failed")[1] == run_number


def test_a_server_without_imports_find_still_imports(service: Service, tmp_path: Path) -> None:
    app = _app(service)

    async def older(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/imports/find"):
            # What a server without the route answered: "find" taken for an import id.
            scope = {**scope, "path": scope["path"].replace("/imports/find", "/imports/x")}
        await app(scope, receive, send)

    keys = make_project(service, "Older server")
    client_id, secret = keys.auth("editor")
    with threaded_server(older) as url:
        target = ServerTarget(url, f"{client_id}:{secret}", keys.string_id)
        source = coco_export(tmp_path / "coco", FIRST)
        assert counts(import_into(target, source, "coco")) == (3, 0, 0)
        # As before imports/find: the server answers each known key with its first import.
        assert counts(import_into(target, source, "coco")) == (3, 0, 0)
    assert service.list_imports(keys.id)[1] == 3
