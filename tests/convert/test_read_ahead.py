"""`labelport import` reads its source in a forked process while it loads the store
(convert/read_ahead.py): what it imports is what one process reading the source would import,
and anything that goes wrong in the child leaves the command to read the source itself."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_batch_import import annotations, coco

from labelport.convert import read_ahead
from labelport.convert.importer import (
    FIRST_BATCH,
    ImportOptions,
    Prepared,
    Unprepared,
    read_records,
    run,
)
from labelport.convert.model import Conversion
from labelport.convert.read_ahead import ReadAhead
from labelport.convert.targets import EmbeddedTarget
from labelport.service import Service
from media_factory import make_png

FIXTURES = Path(__file__).parent / "fixtures"


def options(**kw: Any) -> ImportOptions:
    return ImportOptions(**{"format": "coco", "create_labels": True, **kw})


def test_the_child_reads_what_this_process_reads(tmp_path: Path) -> None:
    source = coco(tmp_path / "coco", annotations())
    ahead = ReadAhead.fork(source, options())
    read = ahead.result()
    assert read is not None
    here = list(read_records(source, options(), Conversion(), "coco"))
    records = list(read.records)
    assert read.count == len(records) == len(here) == 5
    assert read.all_prepared and read.label_names == {"cat", "dog"}
    for got, want in zip(records, here, strict=True):
        assert isinstance(got, Prepared) and isinstance(want, Prepared)
        # the same packet under the same key: a later run finds it unchanged either way
        assert (got.head, got.fields, got.digest, got.key) == (
            want.head,
            want.fields,
            want.digest,
            want.key,
        )
        assert (got.count, got.labels, got.media_path) == (want.count, want.labels, want.media_path)
        assert (got.item.name, got.item.places) == (want.item.name, want.item.places)
        # passed without its instance dicts, which cost more to pass than to convert
        assert got.item.instances is None and want.item.instances


def test_items_the_importer_decides_itself_come_whole(tmp_path: Path) -> None:
    """An item with attributes to look up in the project, or whose media is not found, is
    passed whole for the command to decide, as it would read it."""
    source = coco(tmp_path / "coco", annotations())
    doc = json.loads(source.read_text())
    doc["annotations"][0]["attributes"] = {"occluded": True}
    source.write_text(json.dumps(doc))
    (source.parent / "images" / "b.png").unlink()
    read = ReadAhead.fork(source, options()).result()
    assert read is not None
    assert not read.all_prepared  # the command goes through every record first
    whole = [r for r in read.records if isinstance(r, Unprepared)]
    assert [r.item.name for r in whole] == ["a.png", "b.png"]
    assert [len(r.item.instances or ()) for r in whole] == [2, 2]
    assert whole[0].media_path is not None and whole[1].media_path is None


def _import(tmp_path: Path, name: str, ahead: ReadAhead | None) -> tuple[dict, dict]:
    source = tmp_path / "coco" / "annotations.json"
    images = source.parent / "images"
    with Service.open(data_dir=tmp_path / name, workers=2, media_roots=[images]) as service:
        project = service.create_project("Ahead")
        outcome = run(source, EmbeddedTarget(service, project["string_id"]), options(), None, ahead)
        files, _ = service.list_files(project["id"], per_page=100)
        stored = {
            f["original_filename"]: sorted(
                (i["label_name"], i["x_min"], i["y_min"], i["x_max"], i["y_max"])
                for i in service.list_instances(project["id"], f["id"], per_page=100)[0]
            )
            for f in files
        }
    return outcome.to_dict(), stored


def test_an_import_read_ahead_is_the_import_read_here(tmp_path: Path) -> None:
    source = coco(tmp_path / "coco", annotations())
    ahead = ReadAhead.fork(source, options())
    with_child = _import(tmp_path, "ahead", ahead)
    alone = _import(tmp_path, "here", None)
    assert with_child == alone
    assert with_child[0]["files_ok"] == 4 and with_child[0]["files_failed"] == 1


def test_records_come_in_pieces_in_their_order(tmp_path: Path) -> None:
    """The spool holds a first piece of FIRST_BATCH records, then pieces of _PIECE: taken one
    piece at a time, they are every record, in the source's order."""
    images = FIRST_BATCH + read_ahead._PIECE + 3
    root = tmp_path / "many"
    (root / "images").mkdir(parents=True)
    make_png(root / "images" / "0.png", 8, 8)
    doc = {
        "images": [
            {"id": n, "file_name": f"{n}.png", "width": 8, "height": 8} for n in range(images)
        ],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": n, "image_id": n, "category_id": 1, "bbox": [1, 1, 2, 2]} for n in range(images)
        ],
    }
    source = root / "annotations.json"
    source.write_text(json.dumps(doc))
    for n in range(1, images):
        os.link(root / "images" / "0.png", root / "images" / f"{n}.png")
    read = ReadAhead.fork(source, options()).result()
    assert read is not None and read.count == images
    names = [r.item.name for r in read.records]
    assert names == [f"{n}.png" for n in range(images)]
    assert images - FIRST_BATCH > read_ahead._PIECE  # three pieces, the last a short one


def test_unknown_labels_are_found_as_without_the_child(tmp_path: Path) -> None:
    """Without --create-labels, a label the project lacks stops the import before anything
    is stored, each instance named, whether the source was read ahead or here."""
    source = coco(tmp_path / "coco", annotations())
    images = source.parent / "images"
    outcomes = []
    for name, ahead in (
        ("ahead", ReadAhead.fork(source, options(create_labels=False))),
        ("here", None),
    ):
        with Service.open(data_dir=tmp_path / name, workers=1, media_roots=[images]) as service:
            project = service.create_project("Labels")
            service.create_labels(project["id"], ["cat"])
            target = EmbeddedTarget(service, project["string_id"])
            outcome = run(source, target, options(create_labels=False), None, ahead)
            assert service.list_imports(project["id"])[0] == []
        outcomes.append(outcome.to_dict())
    assert outcomes[0] == outcomes[1]
    assert outcomes[0]["stopped"] and outcomes[0]["problems"]
    assert {p["code"] for p in outcomes[0]["problems"]} == {"label.unknown"}


@pytest.mark.parametrize("how", ["reader fails", "too large"])
def test_a_child_that_does_not_read_it_all_leaves_the_reading_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    source = coco(tmp_path / "coco", annotations())
    if how == "reader fails":

        def failing(*args: Any) -> Any:
            raise RuntimeError("a reader's bug")

        monkeypatch.setattr(read_ahead, "read_records", failing)  # the fork inherits it
    else:
        monkeypatch.setattr(read_ahead, "KEEP_INSTANCES", 3)
    ahead = ReadAhead.fork(source, options())
    monkeypatch.undo()
    assert ahead.result() is None
    assert _import(tmp_path, "fallback", ahead) == _import(tmp_path, "here", None)


def test_closing_stops_a_child_still_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = coco(tmp_path / "coco", annotations())
    monkeypatch.setattr(read_ahead, "read_records", lambda *args: time.sleep(60) or [])
    ahead = ReadAhead.fork(source, options())
    pid = ahead._pid
    assert pid is not None
    started = time.monotonic()
    ahead.close()
    assert time.monotonic() - started < 5
    with pytest.raises(ChildProcessError):  # ended and reaped
        os.waitpid(pid, os.WNOHANG)
    assert ahead.result() is None


def test_media_the_child_wrote_lives_as_long_as_the_conversion() -> None:
    """LabelMe's embedded images are written out by the reader, here the child, which leaves
    without cleaning up: the folder is the command's to remove once it is done with it."""
    source = FIXTURES / "labelme_embedded" / "part_0007.json"
    read = ReadAhead.fork(source, ImportOptions(format="labelme")).result()
    assert read is not None
    [folder] = read.conv.made_media
    [record] = read.records
    assert record.media_path is not None
    assert record.media_path.is_file() and folder in record.media_path.parents
    del read, record
    gc.collect()
    assert not folder.exists()


def test_only_reject_imports_in_a_process_without_threads_read_ahead(tmp_path: Path) -> None:
    source = coco(tmp_path / "coco", annotations())
    assert ReadAhead.start(source, options(on_error="skip_files")) is None
    assert ReadAhead.start(source, options(dry_run=True)) is None


COMMAND = """
import sys
from labelport.convert import read_ahead
start = read_ahead.ReadAhead.start.__func__
def watched(cls, path, options):
    print("store loaded when the child started:", "sqlalchemy" in sys.modules, file=sys.stderr)
    ahead = start(cls, path, options)
    print("read ahead:", ahead is not None, file=sys.stderr)
    return ahead
read_ahead.ReadAhead.start = classmethod(watched)
from labelport.cli import main
sys.argv = ["labelport", *sys.argv[1:]]
main()
"""


def test_the_command_forks_before_it_loads_the_store(tmp_path: Path) -> None:
    source = coco(tmp_path / "coco", annotations())
    data = tmp_path / "data"
    run_cli = [sys.executable, "-c", COMMAND]
    subprocess.run([*run_cli, "project", "create", "p", "--data-dir", data], check=True)
    done = subprocess.run(
        [*run_cli, "import", source, "--project", "p", "--create-labels", "--data-dir", data],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "store loaded when the child started: False" in done.stderr
    assert "read ahead: True" in done.stderr
    assert done.returncode == 1, done.stderr  # c.png's box is outside its image
    assert "files imported" in done.stdout


def test_a_source_that_may_be_too_large_to_hold_is_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command would wait for a child that gives up, then read it all again."""
    source = coco(tmp_path / "coco", annotations())
    folder = source.parent
    assert read_ahead._small_enough(source) and read_ahead._small_enough(folder)
    monkeypatch.setattr(read_ahead, "READ_AHEAD_BYTES", source.stat().st_size - 1)
    assert not read_ahead._small_enough(source)
    assert not read_ahead._small_enough(folder)
    monkeypatch.undo()
    # a folder's media does not count, its other files do, however small
    (folder / "images" / "big.png").write_bytes(b"\0" * (read_ahead.READ_AHEAD_BYTES + 1))
    assert read_ahead._small_enough(folder)
    monkeypatch.setattr(read_ahead, "READ_AHEAD_FILES", 0)  # annotations.json is one
    assert not read_ahead._small_enough(folder)
    # a pipe is read once: should the child give up, the command could not read it again
    os.mkfifo(tmp_path / "pipe")
    assert not read_ahead._small_enough(tmp_path / "pipe")
