"""LabelMe JSON: one file per image (`imagePath`, `imageWidth`, `imageHeight`, `shapes` with
`label`, `points`, `shape_type`). rectangle -> box, polygon -> polygon, line / linestrip -> line,
point -> point, circle (centre and a point on it) -> ellipse; shape flags, `group_id` and
`description` become attributes; image-level flags that are true become tags.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelport.convert.model import ATTRIBUTES, Conversion, Item, box, find_media, finite_numbers
from labelport.convert.sources import load_json, peek
from labelport.format import Problem


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(detect(p) for p in sorted(path.glob("*.json"))[:3])
    head = peek(path, 1 << 14)
    return path.suffix == ".json" and b'"shapes"' in head and b'"imagePath"' in peek(path, 1 << 20)


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    sources = sorted(p for p in path.glob("*.json") if detect(p)) if path.is_dir() else [path]
    conv.total_files = (conv.total_files or 0) + len(sources)
    for source in sources:
        data = load_json(source, conv, source.name)
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
            conv.problem("convert.invalid", source.name, "a LabelMe file has a `shapes` list")
            continue
        yield _item(data, source, conv)


def _item(data: dict[str, Any], source: Path, conv: Conversion) -> Item:
    name = str(data.get("imagePath") or source.with_suffix(".jpg").name).replace("\\", "/")
    item = Item(name=name, source=source.name, key=f"labelme:{source.name}")
    item.width, item.height = data.get("imageWidth"), data.get("imageHeight")
    item.media_path = find_media(name, conv.media_dir, source.parent)
    item.instances = []
    for index, shape in enumerate(data["shapes"]):
        where = f"{source.name}:shapes/{index}"
        inst = _shape(shape, where, item, conv) if isinstance(shape, dict) else None
        if inst is None:
            continue
        inst["id"] = f"labelme:{source.stem}:{index}"
        attributes = {k: v for k, v in (shape.get("flags") or {}).items()}
        if shape.get("group_id") is not None:
            attributes["group_id"] = shape["group_id"]
        if shape.get("description"):
            attributes["description"] = shape["description"]
        if attributes:
            inst[ATTRIBUTES] = attributes
        item.instances.append(inst)
    for flag, on in (data.get("flags") or {}).items():
        if on is True:
            tag = {"type": "tag", "name": flag, "id": f"labelme:{source.stem}:{flag}"}
            item.instances.append(tag)
    return item


def _shape(shape: dict[str, Any], where: str, item: Item, conv: Conversion) -> dict | None:
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
