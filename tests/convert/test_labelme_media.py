"""LabelMe's media as LabelMe files carry it: the embedded `imageData` is the image (its
`imagePath` may name a file that is not shipped), and an `imagePath` naming the JSON itself is
never taken as the media."""

from __future__ import annotations

import base64
import gc
import json
import shutil
from pathlib import Path

from test_readers import import_into, read_all

from labelport.convert import detect_format
from labelport.convert.model import Conversion
from media_factory import make_png

FIXTURES = Path(__file__).parent / "fixtures"
EMBEDDED = FIXTURES / "labelme_embedded" / "part_0007.json"
SELF_PATH = FIXTURES / "labelme_self_path" / "bench_12.json"


def test_embedded_image_data_is_the_media() -> None:
    assert detect_format(EMBEDDED.parent) == "labelme"
    [item], conv = read_all(EMBEDDED, "labelme")
    assert item.problems == [] and conv.problems == []
    assert item.name == "../photos/part_0007.png"
    assert item.media_path is not None and item.media_path.name == "part_0007.png"
    embedded = base64.b64decode(json.loads(EMBEDDED.read_text())["imageData"])
    assert item.media_path.read_bytes() == embedded
    assert {i["machine_made"] for i in item.instances} == {False}


def test_the_scratch_folder_goes_with_the_conversion() -> None:
    from labelport.convert import labelme

    conv = Conversion()
    [item] = list(labelme.read(EMBEDDED, conv))
    folder = item.media_path.parent.parent
    assert folder.is_dir()
    del conv
    gc.collect()
    assert not folder.exists()


def test_embedded_image_without_image_path_is_named_by_its_type(tmp_path: Path) -> None:
    doc = json.loads(EMBEDDED.read_text())
    doc["imagePath"] = None
    (tmp_path / "scan.json").write_text(json.dumps(doc))
    [item], _conv = read_all(tmp_path / "scan.json", "labelme")
    assert item.name == "scan.png" and item.media_path.read_bytes()[:4] == b"\x89PNG"


def test_embedded_image_is_imported(service) -> None:
    pid, outcome = import_into(service, EMBEDDED.parent)
    assert outcome.files_ok == 1 and outcome.instances == 2
    [f], _ = service.list_files(pid)
    assert (f["original_filename"], f["width"], f["height"]) == ("part_0007.png", 16, 12)
    instances, _ = service.list_instances(pid, f["id"])
    assert sorted(i["type"] for i in instances) == ["box", "polygon"]
    assert {i["machine_made"] for i in instances} == {False}


def test_bad_image_data_is_a_problem(tmp_path: Path) -> None:
    doc = json.loads(EMBEDDED.read_text())
    doc["imageData"] = "not base64!"
    (tmp_path / "x.json").write_text(json.dumps(doc))
    [item], _conv = read_all(tmp_path / "x.json", "labelme")
    assert [(p.code, p.path) for p in item.problems] == [("convert.invalid", "x.json:imageData")]


def test_image_path_naming_the_json_is_not_the_media() -> None:
    [item], _conv = read_all(SELF_PATH, "labelme")
    assert item.name == "bench_12.jpg" and item.media_path is None


def test_image_beside_a_self_naming_json_is_the_media(service, tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    shutil.copytree(SELF_PATH.parent, folder)
    make_png(folder / "bench_12.png", 16, 12)
    [item], _conv = read_all(folder / "bench_12.json", "labelme")
    assert item.name == "bench_12.png" and item.media_path == folder / "bench_12.png"
    pid, outcome = import_into(service, folder)
    assert outcome.files_ok == 1
    [f], _ = service.list_files(pid)
    assert f["original_filename"] == "bench_12.png"
    types = sorted(i["type"] for i in service.list_instances(pid, f["id"])[0])
    assert types == ["line", "point", "tag"]
