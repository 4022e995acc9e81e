"""LabelMe JSON: one file per image (`imagePath`, `imageWidth`, `imageHeight`, `shapes` with
`label`, `points`, `shape_type`). rectangle -> box, polygon -> polygon, line / linestrip -> line,
point -> point, circle (centre and a point on it) -> ellipse; shape flags, `group_id` and
`description` become attributes; image-level flags that are true become tags. LabelMe is drawn by
people: every instance is human-made.

The image is the file's embedded `imageData` (base64) when it has one, as LabelMe itself uses it:
decoded into a scratch folder that lives as long as the import's `Conversion`, named by
`imagePath` (or the JSON's stem and the image's own type). Otherwise `imagePath` beside the JSON
(or in `--media`); an `imagePath` naming the JSON file itself (some tools write that) is no image:
an image with the JSON's stem beside it is used instead.
"""

from __future__ import annotations

import base64
import binascii
import math
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelport.convert.model import (
    ATTRIBUTES,
    MACHINE_MADE,
    Conversion,
    Item,
    box,
    find_media,
    finite_numbers,
)
from labelport.convert.sources import load_json, peek
from labelport.format import Problem


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(detect(p) for p in sorted(path.glob("*.json"))[:3])
    head = peek(path, 1 << 14)
    return path.suffix == ".json" and b'"shapes"' in head and b'"imagePath"' in peek(path, 1 << 20)


# Image types by their first bytes: the name of an embedded image without a usable imagePath.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF8", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    sources = sorted(p for p in path.glob("*.json") if detect(p)) if path.is_dir() else [path]
    conv.total_files = (conv.total_files or 0) + len(sources)
    scratch = _Scratch(conv)
    for source in sources:
        data = load_json(source, conv, source.name)
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
            conv.problem("convert.invalid", source.name, "a LabelMe file has a `shapes` list")
            continue
        yield _item(data, source, conv, scratch)


class _Scratch:
    """A folder for decoded embedded images, made on first use. The importer reads an item's
    media after the reader has moved on (batches go when a window fills), so the folder is
    removed when the `Conversion` is (the import is over then), or at exit."""

    def __init__(self, conv: Conversion) -> None:
        self.conv = weakref.ref(conv)
        self.folder: Path | None = None
        self.count = 0

    def write(self, name: str, data: bytes) -> Path:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="labelport-labelme-"))
            conv = self.conv()
            if conv is not None:
                conv.made_media.append(self.folder)
                weakref.finalize(conv, shutil.rmtree, self.folder, True)
            else:  # pragma: no cover - the caller holds its Conversion while reading
                weakref.finalize(self, shutil.rmtree, self.folder, True)
        self.count += 1
        # one folder per file: two JSON files may embed different images under one imagePath
        target = self.folder / str(self.count) / Path(name).name
        target.parent.mkdir()
        target.write_bytes(data)
        return target


def _image_path(data: dict[str, Any], source: Path) -> str | None:
    """`imagePath` as a relative path, or None when there is none or it names the JSON itself."""
    raw = data.get("imagePath")
    if not isinstance(raw, str) or not raw.strip():
        return None
    name = raw.strip().replace("\\", "/")
    if Path(name).name == source.name or Path(name).suffix.lower() == ".json":
        return None
    return name


def _embedded(data: dict[str, Any], source: Path, item: Item) -> bytes | None:
    encoded = data.get("imageData")
    if encoded is None or encoded == "":
        return None
    try:
        if not isinstance(encoded, str):
            raise ValueError
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        item.problems.append(
            Problem(
                "convert.invalid",
                f"{source.name}:imageData",
                "imageData is not a base64 string of the image",
            )
        )
        return None


def _sibling_image(source: Path) -> Path | None:
    for suffix in _IMAGE_SUFFIXES:
        for candidate in (source.with_suffix(suffix), source.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    return None


def _item(data: dict[str, Any], source: Path, conv: Conversion, scratch: _Scratch) -> Item:
    image_path = _image_path(data, source)
    item = Item(name=image_path or "", source=source.name, key=f"labelme:{source.name}")
    item.width, item.height = data.get("imageWidth"), data.get("imageHeight")
    embedded = _embedded(data, source, item)
    if embedded is not None:
        if not image_path:
            suffix = next((s for magic, s in _MAGIC if embedded.startswith(magic)), ".png")
            item.name = source.stem + suffix
        item.media_path = scratch.write(item.name, embedded)
    elif image_path:
        item.media_path = find_media(image_path, conv.media_dir, source.parent)
    else:
        found = _sibling_image(source)
        item.name = found.name if found is not None else source.with_suffix(".jpg").name
        item.media_path = find_media(item.name, conv.media_dir, source.parent)
    item.instances = []
    # where each instance came from, for the problems found later (importer, server)
    item.places = places = []
    for index, shape in enumerate(data["shapes"]):
        where = f"{source.name}:shapes/{index}"
        if not isinstance(shape, dict):
            item.problems.append(
                Problem("convert.invalid", where, "a shape is an object with `label` and `points`")
            )
            continue
        inst = _shape(shape, where, item, conv)
        if inst is None:
            continue
        inst["id"] = f"labelme:{source.stem}:{index}"
        inst[MACHINE_MADE] = False
        attributes = {k: v for k, v in (shape.get("flags") or {}).items()}
        if shape.get("group_id") is not None:
            attributes["group_id"] = shape["group_id"]
        if shape.get("description"):
            attributes["description"] = shape["description"]
        if attributes:
            inst[ATTRIBUTES] = attributes
        item.instances.append(inst)
        places.append(where)
    for flag, on in (data.get("flags") or {}).items():
        if on is True:
            tag = {"type": "tag", "name": flag, "id": f"labelme:{source.stem}:{flag}",
                   MACHINE_MADE: False}  # fmt: skip
            item.instances.append(tag)
            places.append(f"{source.name}:flags/{flag}")
    return item


def _shape(
    shape: dict[str, Any], where: str, item: Item, conv: Conversion
) -> dict[str, Any] | None:
    label = shape.get("label")
    kind = shape.get("shape_type") or "polygon"
    raw = shape.get("points")
    if (
        not label
        or not isinstance(raw, list)
        or not all(isinstance(p, list) and len(p) == 2 and finite_numbers(p) for p in raw)
    ):
        item.problems.append(
            Problem("convert.invalid", where, "a shape needs a `label` and [x, y] `points`")
        )
        return None
    points = [{"x": x, "y": y} for x, y in raw]
    needed = {"rectangle": 2, "circle": 2, "point": 1, "line": 2, "linestrip": 2, "polygon": 3}
    if kind not in needed:
        conv.lose(item, "rle_mask" if kind == "mask" else "unsupported_shape")
        return None
    if len(points) < needed[kind]:
        item.problems.append(
            Problem("convert.invalid", where, f"a {kind} needs at least {needed[kind]} points")
        )
        return None
    if kind == "rectangle":
        (x1, y1), (x2, y2) = raw[0], raw[1]
        return box(label, min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    if kind == "circle":
        (cx, cy), (px, py) = raw[0], raw[1]
        r = math.hypot(px - cx, py - cy)
        return {"type": "ellipse", "name": label, "center_x": cx, "center_y": cy,
                "width": r, "height": r}  # fmt: skip
    if kind == "point":
        return {"type": "point", "name": label, "points": points[:1]}
    if kind in ("line", "linestrip"):
        return {"type": "line", "name": label, "points": points}
    return {"type": "polygon", "name": label, "points": points}
