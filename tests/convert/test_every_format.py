"""Every registered format: a sample of it is detected as that format and read without
problems into the boxes it holds; every writable format writes a project that its own reader
detects and reads back to the same boxes. A format added to FORMATS without a sample here fails
`test_every_format_has_a_sample`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labelport.convert import FORMATS, WRITABLE, detect_format, media_folder, module
from labelport.convert.export import Export
from labelport.convert.model import Conversion
from labelport.service import Service
from media_factory import make_mp4, make_png

# (label, x_min, y_min, x_max, y_max) on a 64 x 48 image a.png
BOXES = [("cat", 2.0, 4.0, 20.0, 30.0), ("dog", 30.0, 10.0, 50.0, 40.0)]
W, H = 64, 48


def _cvat(root: Path) -> Path:
    make_png(root / "a.png", W, H)
    boxes = "".join(
        f'<box label="{n}" xtl="{x1}" ytl="{y1}" xbr="{x2}" ybr="{y2}" occluded="0"'
        ' source="manual" z_order="0"/>'
        for n, x1, y1, x2, y2 in BOXES
    )
    labels = "".join(f"<label><name>{n}</name></label>" for n, *_ in BOXES)
    (root / "annotations.xml").write_text(
        '<?xml version="1.0"?><annotations><version>1.1</version><meta><task><labels>'
        f'{labels}</labels></task></meta><image id="0" name="a.png" width="{W}" height="{H}">'
        f"{boxes}</image></annotations>"
    )
    return root / "annotations.xml"


def _mot(root: Path) -> Path:
    seq = root / "MOT-01"
    (seq / "gt").mkdir(parents=True)
    make_mp4(seq / "MOT-01.mp4", frames=2, fps=5, width=W, height=H)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=MOT-01\nframeRate=5\n")
    (seq / "gt" / "labels.txt").write_text("cat\ndog\n")
    (seq / "gt" / "gt.txt").write_text(
        "".join(
            f"1,{k + 1},{x1:g},{y1:g},{x2 - x1:g},{y2 - y1:g},1,{k + 1},1\n"
            for k, (_n, x1, y1, x2, y2) in enumerate(BOXES)
        )
    )
    return seq


def _labelstudio(root: Path) -> Path:
    make_png(root / "a.png", W, H)
    result = [
        {
            "id": f"r{k}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
            "original_width": W, "original_height": H,
            "value": {"x": x1 * 100 / W, "y": y1 * 100 / H, "width": (x2 - x1) * 100 / W,
                      "height": (y2 - y1) * 100 / H, "rotation": 0, "rectanglelabels": [n]},
        }
        for k, (n, x1, y1, x2, y2) in enumerate(BOXES)
    ]  # fmt: skip
    tasks = [{"id": 1, "data": {"image": "/data/upload/1/a.png"},
              "annotations": [{"id": 1, "result": result}]}]  # fmt: skip
    (root / "tasks.json").write_text(json.dumps(tasks))
    return root / "tasks.json"


def _labelme(root: Path) -> Path:
    make_png(root / "a.png", W, H)
    shapes = [
        {"label": n, "points": [[x1, y1], [x2, y2]], "shape_type": "rectangle", "flags": {}}
        for n, x1, y1, x2, y2 in BOXES
    ]
    doc = {"version": "5.0.1", "flags": {}, "shapes": shapes, "imagePath": "a.png",
           "imageData": None, "imageHeight": H, "imageWidth": W}  # fmt: skip
    (root / "a.json").write_text(json.dumps(doc))
    return root / "a.json"


# Formats that cannot be written: a sample in the format's own layout. Writable formats are
# sampled by writing a project (see `_written`), which also checks the writer.
HAND_WRITTEN: dict[str, Callable[[Path], Path]] = {
    "cvat": _cvat,
    "mot": _mot,
    "labelstudio": _labelstudio,
    "labelme": _labelme,
}


def _project(service: Service, media: Path) -> int:
    project = service.create_project("Every format")
    make_png(media / "a.png", W, H)
    instances = [
        {"type": "box", "name": n, "x_min": x1, "y_min": y1, "x_max": x2, "y_max": y2,
         "machine_made": False}
        for n, x1, y1, x2, y2 in BOXES
    ]  # fmt: skip
    packet = {"media": {"type": "image"}, "instance_list": instances, "auto_create_labels": True}
    with open(media / "a.png", "rb") as stream:
        created = service.submit_packet(project["id"], packet, upload=("a.png", stream))
    assert service.wait_import(project["id"], created["id"])["status"] == "success"
    return project["id"]


def _written(fmt: str, root: Path) -> tuple[Path, Export]:
    """A project of BOXES written as `fmt`; the path the writer says it wrote."""
    (root / "media").mkdir(parents=True)
    with Service.open(data_dir=root / "data", workers=1) as service:
        project_id = _project(service, root / "media")
        out = root / "out"
        export = Export(service, project_id, out / media_folder(fmt))
        written = Path(module(fmt).write(export, out))
    return written, export


def sample(fmt: str, root: Path) -> Path:
    if fmt in WRITABLE:
        return _written(fmt, root)[0]
    root.mkdir(parents=True, exist_ok=True)
    return HAND_WRITTEN[fmt](root)


def boxes(path: Path, fmt: str) -> list[tuple[Any, ...]]:
    conv = Conversion()
    items = list(module(fmt).read(path, conv))
    assert not conv.problems, conv.problems
    assert all(not item.problems for item in items), [item.problems for item in items]
    out = []
    for item in items:
        for inst in item.all_instances():
            assert inst["type"] == "box", inst
            coords = [round(inst[k], 6) for k in ("x_min", "y_min", "x_max", "y_max")]
            out.append((inst["name"], *coords))
    return sorted(out)


def test_every_format_has_a_sample() -> None:
    assert set(FORMATS) <= set(WRITABLE) | set(HAND_WRITTEN)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_detected_and_read(tmp_path: Path, fmt: str) -> None:
    path = sample(fmt, tmp_path / fmt)
    assert detect_format(path) == fmt
    assert boxes(path, fmt) == sorted(BOXES)


@pytest.mark.parametrize("fmt", WRITABLE)
def test_every_writable_format_reads_back_what_it_wrote(tmp_path: Path, fmt: str) -> None:
    out, export = _written(fmt, tmp_path / fmt)
    assert export.file_count == 1 and not export.losses
    assert detect_format(out) == fmt
    assert boxes(out, fmt) == sorted(BOXES)
