"""`labelport import` sends batches: one look-up and one request for many files, each file still
its own import (all-or-nothing per file), in embedded and --server mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from convert_helpers import cli

from labelport.convert.importer import ImportOptions, Outcome, Progress, run
from labelport.convert.targets import EmbeddedTarget, ServerTarget
from labelport.service import Service
from media_factory import make_png, serve_directory
from server_helpers import make_project, threaded_server

NAMES = ("a.png", "b.png", "c.png", "d.png", "e.png")
BAD = "c.png"  # its box is outside the 64 x 48 image: only the import job, with the media, sees it


def ann(n: int, image: int, bbox: list[float], category: int = 1) -> dict[str, Any]:
    return {"id": n, "image_id": image, "category_id": category, "bbox": bbox}


def annotations(*, bad: bool = True, moved: bool = False) -> list[dict[str, Any]]:
    out = []
    for n, name in enumerate(NAMES, start=1):
        if name == BAD and bad:
            out.append(ann(10 * n, n, [60, 2, 20, 10]))
        else:
            out.append(ann(10 * n, n, [1, 2, 10, 10]))
        out.append(ann(10 * n + 1, n, [20, 20, 5, 5], 2))
    if moved:  # a.png's first box moved
        out[0] = ann(10, 1, [5, 6, 20, 12])
    return out


def coco(root: Path, anns: list[dict[str, Any]]) -> Path:
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
        "annotations": anns,
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def summary(result: Any) -> dict[str, Any]:
    return json.loads(result.output)


def counts(s: dict[str, Any]) -> tuple[int, int, int, int]:
    return s["files_ok"], s["files_updated"], s["files_unchanged"], s["files_failed"]


def batch_ids(service: Service, project_id: int) -> list[int | None]:
    """The batch of each import of the project (None: sent alone)."""
    imports, _ = service.list_imports(project_id, per_page=500)
    return [service.store.get_import(i["id"]).batch_id for i in imports]


def test_cli_import_sends_one_batch_and_a_bad_file_fails_alone(
    database: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    where = ("--data-dir", data, "--database-url", database.url)
    assert cli("project", "create", "Batches", *where).exit_code == 0
    source = coco(tmp_path / "coco", annotations())
    args = ("import", source, "--project", "batches", "--create-labels", "--json", *where)

    first = cli(*args)
    assert first.exit_code == 1, first.output
    s = summary(first)
    assert counts(s) == (4, 0, 0, 1)
    assert s["instances"] == 8 and s["instances_per_label"] == {"cat": 4, "dog": 4}
    # the job's problem, placed under the source's place of the file
    assert {p["code"] for p in s["problems"]} == {"shape.outside_media"}
    assert all(
        p["path"].startswith("annotations.json:annotations[id=") and "(image c.png) > " in p["path"]
        for p in s["problems"]
    )

    with Service.open(data_dir=data, database_url=database.url, workers=0) as service:
        project_id = service.get_project("batches")["id"]
        ids = batch_ids(service, project_id)
        assert len(ids) == 5 and None not in ids and len(set(ids)) == 1  # one batch of 5
        files, total = service.list_files(project_id, per_page=100)
        assert total == 4 and BAD not in {f["original_filename"] for f in files}
        before = {f["original_filename"]: f["id"] for f in files}

    # Run again: the good files are unchanged (not sent), the failed one is tried again.
    again = cli(*args)
    assert again.exit_code == 1
    assert counts(summary(again)) == (0, 0, 4, 1)

    # Fixed in the source: the failed file lands; then a run sends nothing at all.
    coco(tmp_path / "coco", annotations(bad=False))
    fixed = cli(*args)
    assert fixed.exit_code == 0, fixed.output
    assert counts(summary(fixed)) == (1, 0, 4, 0)
    with Service.open(data_dir=data, database_url=database.url, workers=0) as service:
        sent_before = len(batch_ids(service, project_id))
    unchanged = cli(*args)
    assert unchanged.exit_code == 0
    assert counts(summary(unchanged)) == (0, 0, 5, 0)

    # A changed annotation updates the file the first run created, in place.
    coco(tmp_path / "coco", annotations(bad=False, moved=True))
    changed = cli(*args)
    assert changed.exit_code == 0, changed.output
    assert counts(summary(changed)) == (0, 1, 4, 0)
    with Service.open(data_dir=data, database_url=database.url, workers=0) as service:
        ids = batch_ids(service, project_id)
        assert len(ids) == sent_before + 1  # the unchanged run sent nothing
        imports, _ = service.list_imports(project_id)
        update = imports[0]
        assert (update["mode"], update["file_id"], update["status"]) == (
            "update_with_existing",
            before["a.png"],
            "success",
        )
        files, total = service.list_files(project_id, per_page=100)
        assert total == 5
        assert {
            f["original_filename"]: f["id"] for f in files if f["original_filename"] != BAD
        } == before
        instances, _ = service.list_instances(project_id, before["a.png"], per_page=100)
        moved = [i for i in instances if i["external_id"] == "coco:ann:10"]
        assert [(i["x_min"], i["y_min"], i["x_max"], i["y_max"]) for i in moved] == [
            (5.0, 6.0, 25.0, 18.0)
        ]


class Bar(Progress):
    def __init__(self) -> None:
        self.files = 0
        self.instances = 0
        self.total_files = 0

    def total(self, files: int) -> None:
        self.total_files = files

    def advance(self, files: int, instances: int) -> None:
        assert files >= 0 and instances >= 0
        self.files += files
        self.instances += instances


def test_small_windows_and_the_progress_bar(tmp_path: Path) -> None:
    images = tmp_path / "coco" / "images"
    with Service.open(data_dir=tmp_path / "data", workers=2, media_roots=[images]) as service:
        project = service.create_project("Windows")
        target = EmbeddedTarget(service, project["string_id"])
        source = coco(tmp_path / "coco", annotations())
        options = ImportOptions(format="coco", create_labels=True, batch_size=2)
        bar = Bar()
        outcome = run(source, target, options, bar)
        assert (outcome.files_ok, outcome.files_failed) == (4, 1)
        # every file told once, and only the instances that landed
        assert (bar.total_files, bar.files, bar.instances) == (5, 5, 8)
        assert len(set(batch_ids(service, project["id"]))) == 3  # windows of 2, 2 and 1


def test_lines_in_flight_are_bounded(tmp_path: Path) -> None:
    """A batch is sent only while the lines sent and not yet ended, with its own, stay within
    `lines_in_flight`: the importer's memory stays bounded however long the source."""
    images = tmp_path / "coco" / "images"
    with Service.open(data_dir=tmp_path / "data", workers=2, media_roots=[images]) as service:
        project = service.create_project("Bounded")
        target = EmbeddedTarget(service, project["string_id"])
        sent: list[tuple[int, int]] = []  # (batch id, lines)
        in_flight_at_send: list[int] = []
        real = target.submit_batch

        def submit_batch(lines: list[bytes], *args: Any, **kwargs: Any) -> dict[str, Any]:
            running = sum(
                n
                for batch_id, n in sent
                if service.get_batch(project["id"], batch_id, per_page=0)["status"]
                not in ("success", "partial", "failed")
            )
            in_flight_at_send.append(running + len(lines))
            created = real(lines, *args, **kwargs)
            sent.append((created["id"], len(lines)))
            return created

        target.submit_batch = submit_batch  # type: ignore[method-assign]
        source = coco(tmp_path / "coco", annotations())
        options = ImportOptions(format="coco", create_labels=True, batch_size=2, lines_in_flight=3)
        outcome = run(source, target, options)
        assert (outcome.files_ok, outcome.files_failed) == (4, 1)
        assert [n for _, n in sent] == [2, 2, 1]
        assert max(in_flight_at_send) <= 3, in_flight_at_send


def test_a_batch_of_good_files_is_counted_without_reading_its_pages(
    database: Any, tmp_path: Path
) -> None:
    """Every file of the batch landed: its outcome is what was sent (all or nothing per file),
    the same counts as the server's, and the batch's pages of per-file outcomes are not read."""
    images = tmp_path / "coco" / "images"
    with Service.open(
        data_dir=tmp_path / "data", database_url=database.url, workers=2, media_roots=[images]
    ) as service:
        project = service.create_project("Good")
        target = EmbeddedTarget(service, project["string_id"])
        pages: list[int] = []
        asked_for_warnings: list[int] = []
        real = target.get_batch

        def get_batch(
            batch_id: int, *, page: int = 1, per_page: int = 100, warned: bool = False
        ) -> dict[str, Any]:
            if per_page and not warned:
                pages.append(page)
            if warned:
                asked_for_warnings.append(page)
            return real(batch_id, page=page, per_page=per_page, warned=warned)

        target.get_batch = get_batch  # type: ignore[method-assign]
        source = coco(tmp_path / "coco", annotations(bad=False))
        bar = Bar()
        outcome = run(source, target, ImportOptions(format="coco", create_labels=True), bar)
        assert (outcome.files_ok, outcome.files_failed, outcome.instances) == (5, 0, 10)
        assert dict(outcome.instances_per_label) == {"cat": 5, "dog": 5}
        assert (bar.files, bar.instances) == (5, 10)
        assert pages == []
        assert asked_for_warnings == []  # the batch counts no line with warnings
        stored = service.list_imports(project["id"], per_page=100)[0]
        per_label: dict[str, int] = {}
        for imp in stored:
            for name, n in (imp["counts"].get("instances_per_label") or {}).items():
                per_label[name] = per_label.get(name, 0) + n
        assert per_label == {"cat": 5, "dog": 5}
        # a bad file among them: the pages are read for its problems
        (tmp_path / "coco" / "annotations.json").unlink()
        source = coco(tmp_path / "coco", annotations(bad=True, moved=True))
        outcome = run(source, target, ImportOptions(format="coco", create_labels=True))
        assert outcome.files_failed == 1 and pages


def clamped() -> list[dict[str, Any]]:
    out = annotations(bad=False)
    out[0] = ann(10, 1, [60, 2, 4.5, 10])  # 0.5 px past a.png's right edge: clamped
    return out


CLAMPED = ("shape.clamped", "annotations.json:annotations[id=10] (image a.png) > x_max")


def test_a_clamped_box_is_imported_and_said_in_the_summary(database: Any, tmp_path: Path) -> None:
    """A warning (a box less than a pixel past its image, clamped to it) does not fail the file,
    but what was stored is not what the source said: the summary says so, with the box's place
    in the source, on every path a file's outcome comes back by."""
    data = tmp_path / "data"
    where = ("--data-dir", data, "--database-url", database.url)
    source = coco(tmp_path / "coco", clamped())
    for name in ("Json", "Text"):
        assert cli("project", "create", name, *where).exit_code == 0
    args = ("import", source, "--create-labels", *where)
    as_json = cli(*args, "--project", "json", "--json")
    assert as_json.exit_code == 0, as_json.output
    s = summary(as_json)
    assert counts(s) == (5, 0, 0, 0) and s["problem_count"] == 0
    assert s["warning_count"] == 1
    assert [(w["code"], w["path"]) for w in s["warnings"]] == [CLAMPED]
    as_text = cli(*args, "--project", "text")
    assert as_text.exit_code == 0, as_text.output
    assert "1 warning in 1 group" in as_text.output and "shape.clamped" in as_text.output
    # a batch that is not all good is read page by page: its warnings come with its lines
    (tmp_path / "coco" / "annotations.json").unlink()
    mixed = clamped()
    mixed[4] = ann(30, 3, [60, 2, 20, 10])  # c.png's box far outside: that file fails
    source = coco(tmp_path / "coco", mixed)
    assert cli("project", "create", "Mixed", *where).exit_code == 0
    s = summary(cli(*args, "--project", "mixed", "--json"))
    assert counts(s) == (4, 0, 0, 1) and s["warning_count"] == 1
    assert [(w["code"], w["path"]) for w in s["warnings"]] == [CLAMPED]


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[Any]:
    source = coco(tmp_path / "coco", annotations())
    with serve_directory(source.parent / "images") as server:
        yield server


def run_through(target: Any, source: Path, **options: Any) -> Outcome:
    return run(source, target, ImportOptions(format="coco", create_labels=True, **options))


def test_server_mode_with_media_urls_sends_batches(tmp_path: Path, media_server: Any) -> None:
    source = tmp_path / "coco" / "annotations.json"
    with Service.open(data_dir=tmp_path / "data", workers=2, allow_private_urls=True) as service:
        keys = make_project(service, "Served batches")
        client_id, secret = keys.auth("editor")
        with threaded_server(_app(service)) as url:
            target = ServerTarget(url, f"{client_id}:{secret}", keys.string_id)
            prefix = media_server.base_url + "/"
            outcome = run_through(target, source, media_url=prefix)
            assert (outcome.files_ok, outcome.files_failed) == (4, 1)
            assert {p.code for p in outcome.problems} == {"shape.outside_media"}
            assert outcome.problems[0].path == (
                "annotations.json:annotations[id=30] (image c.png) > x_max"
            )
            ids = batch_ids(service, keys.id)
            assert len(ids) == 5 and None not in ids and len(set(ids)) == 1
            again = run_through(target, source, media_url=prefix)
            assert (again.files_ok, again.files_unchanged, again.files_failed) == (0, 4, 1)
            coco(tmp_path / "coco", annotations(bad=False, moved=True))
            fixed = run_through(target, source, media_url=prefix)
            assert (fixed.files_ok, fixed.files_updated, fixed.files_unchanged) == (1, 1, 3)
        assert service.list_files(keys.id)[1] == 5


def test_server_mode_with_shared_local_media(tmp_path: Path) -> None:
    source = coco(tmp_path / "coco", clamped())  # a.png's first box clamped: a warning
    images = source.parent / "images"
    with Service.open(data_dir=tmp_path / "data", workers=2, media_roots=[images]) as service:
        keys = make_project(service, "Shared media")
        client_id, secret = keys.auth("editor")
        with threaded_server(_app(service)) as url:
            target = ServerTarget(
                url, f"{client_id}:{secret}", keys.string_id, media_is_shared=True
            )
            outcome = run_through(target, source, media_dir=images)
            assert (outcome.files_ok, outcome.files_failed) == (5, 0), outcome.problems
        # the warning comes back from the server too, placed in the source
        assert [(w.code, w.path) for w in outcome.warnings] == [CLAMPED]
        ids = batch_ids(service, keys.id)
        assert len(ids) == 5 and None not in ids and len(set(ids)) == 1
        files, _ = service.list_files(keys.id)
        # read from its path by the server and copied (media mode copy), not uploaded
        assert all(f["sha256"] and f["size"] for f in files)


def test_media_mode_reference_stores_no_copy(database: Any, tmp_path: Path) -> None:
    # Needs media by reference (the lead's part of issue 11): no blob for a referenced file.
    data = tmp_path / "data"
    where = ("--data-dir", data, "--database-url", database.url)
    assert cli("project", "create", "Referenced", *where).exit_code == 0
    source = coco(tmp_path / "coco", annotations(bad=False))
    images = source.parent / "images"
    args = ("import", source, "--project", "referenced", "--create-labels", "--json", *where)
    result = cli(*args, "--media", images, "--media-mode", "reference")
    assert result.exit_code == 0, result.output
    assert counts(summary(result)) == (5, 0, 0, 0)
    with Service.open(data_dir=data, database_url=database.url, workers=0) as service:
        project_id = service.get_project("referenced")["id"]
        files, total = service.list_files(project_id)
        assert total == 5
        for f in files:
            row = service.store.get_file(f["id"])
            assert row.blob_key is None
            assert row.source_url == (images / f["original_filename"]).resolve().as_uri()
    # unchanged on a second run, and a changed annotation updates the referenced file
    assert counts(summary(cli(*args, "--media", images, "--media-mode", "reference"))) == (
        0,
        0,
        5,
        0,
    )
    coco(tmp_path / "coco", annotations(bad=False, moved=True))
    result = cli(*args, "--media", images, "--media-mode", "reference")
    assert counts(summary(result)) == (0, 1, 4, 0), result.output


def test_media_mode_reference_needs_media_the_server_can_read(tmp_path: Path) -> None:
    source = coco(tmp_path / "coco", annotations(bad=False))
    result = cli(
        "import", source, "--project", "p", "--server", "http://127.0.0.1:9", "--key", "a:b",
        "--media-mode", "reference",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--media-is-shared" in result.output
    result = cli("import", source, "--project", "p", "--media-mode", "linked")
    assert result.exit_code == 2 and "--media-mode" in result.output
    result = cli("import", source, "--project", "p", "--media-is-shared")
    assert result.exit_code == 2 and "--server" in result.output


def _app(service: Service) -> Any:
    from labelport.api import create_app

    return create_app(service)
