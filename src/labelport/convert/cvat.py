"""CVAT XML 1.1, for images (`<image>` with shapes) and for video (`<track>`s of shapes by frame).

Tracks become sequences: `number` is the track id + 1 when ids start at 0 (else the id), so the
same track keeps its number on every import; frames marked `outside` are left out. `source`
manual means `machine_made: false`. Attributes declared in `<meta>` become attribute groups of
the matching kind (select, radio, checkbox, number, text).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelport.convert.model import ATTRIBUTES, AttributeSpec, Conversion, Item, box, find_media
from labelport.convert.sources import load_xml, number, peek
from labelport.format import Problem

_SHAPES = ("box", "polygon", "polyline", "points", "ellipse", "cuboid", "tag", "mask", "skeleton")
_KINDS = {"select": "select", "radio": "radio", "checkbox": "select", "number": "slider",
          "text": "text"}  # fmt: skip


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(detect(p) for p in sorted(path.glob("*.xml"))[:3])
    head = peek(path)
    return path.suffix == ".xml" and b"<annotations" in head


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    sources = sorted(p for p in path.glob("*.xml") if detect(p)) if path.is_dir() else [path]
    for source in sources:
        yield from _read_one(source, conv)


def _read_one(source: Path, conv: Conversion) -> Iterator[Item]:
    shown = source.name
    root = load_xml(source, conv, shown)
    if root is None:
        return
    labels = _meta(root, conv)
    media_dirs = (conv.media_dir, source.parent, source.parent / "images")
    images = root.findall("image")
    tracks = root.findall("track")
    conv.total_files = (conv.total_files or 0) + len(images) + (1 if tracks else 0)
    for index, image in enumerate(images):
        name = image.get("name") or f"image-{image.get('id')}"
        item = Item(name=name, source=f"{shown}:image/{index}", key=f"cvat:{shown}:{name}")
        item.width, item.height = _int(image.get("width")), _int(image.get("height"))
        item.media_path = find_media(name, *media_dirs)
        item.instances = []
        for n, shape in enumerate(s for s in image if s.tag in _SHAPES):
            where = f"{item.source}/{shape.tag}/{n}"
            for k, inst in enumerate(_shape(shape, shape.get("label"), labels, where, item, conv)):
                inst["id"] = f"cvat:{image.get('id', index)}:{n}" + (f":{k}" if k else "")
                item.instances.append(inst)
        yield item
    if tracks:
        yield _video(root, tracks, labels, shown, media_dirs, conv)


def _meta(root: ET.Element, conv: Conversion) -> set[str]:
    labels: set[str] = set()
    for label in root.iterfind("meta//labels/label"):
        name = label.findtext("name")
        if not name:
            continue
        labels.add(name)
        if name not in conv.labels:
            conv.labels.append(name)
        for attribute in label.iterfind("attributes/attribute"):
            attr_name = attribute.findtext("name")
            input_type = (attribute.findtext("input_type") or "text").strip()
            if not attr_name or attr_name in conv.attribute_specs:
                continue
            values = [v for v in (attribute.findtext("values") or "").split("\n") if v != ""]
            spec = AttributeSpec(attr_name, _KINDS.get(input_type, "text"))
            if input_type in ("select", "radio"):
                spec.options = values
            elif input_type == "checkbox":
                spec.options = ["false", "true"]
            elif input_type == "number" and len(values) >= 2:
                spec.min_value, spec.max_value = number(values[0]), number(values[1])
            conv.attribute_specs[attr_name] = spec
    return labels


def _video(
    root: ET.Element,
    tracks: list[ET.Element],
    labels: set[str],
    shown: str,
    media_dirs: tuple[Path | None, ...],
    conv: Conversion,
) -> Item:
    name = (root.findtext("meta/source") or root.findtext("meta/task/source") or "").strip()
    name = name or Path(shown).with_suffix(".mp4").name
    item = Item(name=name, media_type="video", source=f"{shown}:tracks", key=f"cvat:{shown}:{name}")
    item.media_path = find_media(name, *media_dirs)
    item.frames = {}
    ids = [_int(t.get("id")) or 0 for t in tracks]
    offset = 1 if ids and min(ids) == 0 else 0
    for index, track in enumerate(tracks):
        track_id = ids[index]
        label = track.get("label")
        for n, shape in enumerate(s for s in track if s.tag in _SHAPES):
            if shape.get("outside") == "1":
                continue
            frame = _int(shape.get("frame"))
            where = f"{shown}:track/{index}/{shape.tag}/{n}"
            if frame is None or frame < 0:
                item.problems.append(Problem("convert.invalid", where, "a frame number is needed"))
                continue
            if shape.get("keyframe") == "0":
                conv.lose(item, "interpolated")
            source = shape.get("source") or track.get("source")
            for k, inst in enumerate(_shape(shape, label, labels, where, item, conv, source)):
                inst["number"] = track_id + offset
                inst["id"] = f"cvat:track:{track_id}:{frame}" + (f":{k}" if k else "")
                item.frames.setdefault(frame, []).append(inst)
    item.frames = dict(sorted(item.frames.items()))
    return item


def _int(text: str | None) -> int | None:
    value = number(text)
    return int(value) if value is not None else None


def _shape(
    shape: ET.Element,
    label: str | None,
    labels: set[str],
    where: str,
    item: Item,
    conv: Conversion,
    source: str | None = None,
) -> list[dict[str, Any]]:
    if not label or (labels and label not in labels):
        item.problems.append(
            Problem(
                "convert.class_unknown",
                where,
                f"label {label!r} is not declared in <meta> labels"
                + (f" ({', '.join(sorted(labels))})" if labels else ""),
            )
        )
        return []
    common: dict[str, Any] = {"machine_made": (source or shape.get("source")) != "manual"}
    attributes: dict[str, Any] = {a.get("name"): a.text or "" for a in shape.iter("attribute")}
    if shape.get("occluded") == "1":
        attributes["occluded"] = True
    if attributes:
        common[ATTRIBUTES] = attributes
    if (shape.get("z_order") or "0") != "0":
        conv.lose(item, "z_order")
    out = _geometry(shape, label, where, item, conv)
    return [{**inst, **common} for inst in out]


def _geometry(
    shape: ET.Element, label: str, where: str, item: Item, conv: Conversion
) -> list[dict[str, Any]]:
    kind = shape.tag
    get = shape.get
    if kind == "box":
        corners = [number(get(k)) for k in ("xtl", "ytl", "xbr", "ybr")]
        if None in corners:
            return _bad(item, where, "a box needs xtl, ytl, xbr, ybr numbers")
        rotation = number(get("rotation")) or 0.0
        if rotation:
            conv.lose(item, "rotation")
            return [{"type": "polygon", "name": label, "points": _rotated(*corners, rotation)}]
        return [box(label, *corners)]
    if kind in ("polygon", "polyline", "points"):
        points = _points(get("points"))
        if points is None:
            return _bad(item, where, "points must be x,y pairs separated by ;")
        if kind == "points":
            return [{"type": "point", "name": label, "points": [p]} for p in points]
        return [{"type": "polygon" if kind == "polygon" else "line", "name": label,
                 "points": points}]  # fmt: skip
    if kind == "ellipse":
        values = [number(get(k)) for k in ("cx", "cy", "rx", "ry")]
        if None in values:
            return _bad(item, where, "an ellipse needs cx, cy, rx, ry numbers")
        cx, cy, rx, ry = values
        rotation = math.radians(number(get("rotation")) or 0.0)
        return [{"type": "ellipse", "name": label, "center_x": cx, "center_y": cy,
                 "width": rx, "height": ry, "rotation": rotation}]  # fmt: skip
    if kind == "cuboid":
        faces = {}
        for face, n in (("front_face", 1), ("rear_face", 2)):
            corners = {}
            for corner, key in (("top_left", "tl"), ("top_right", "tr"), ("bot_left", "bl"),
                                ("bot_right", "br")):  # fmt: skip
                x, y = number(get(f"x{key}{n}")), number(get(f"y{key}{n}"))
                if x is None or y is None:
                    return _bad(item, where, f"a cuboid needs x{key}{n} and y{key}{n}")
                corners[corner] = {"x": x, "y": y}
            faces[face] = corners
        return [{"type": "cuboid", "name": label, **faces}]
    if kind == "tag":
        return [{"type": "tag", "name": label}]
    conv.lose(item, "rle_mask" if kind == "mask" else "unsupported_shape")
    return []


def _bad(item: Item, where: str, message: str) -> list[dict[str, Any]]:
    item.problems.append(Problem("convert.invalid", where, message))
    return []


def _points(text: str | None) -> list[dict[str, float]] | None:
    if not text:
        return None
    out = []
    for pair in text.split(";"):
        x, _, y = pair.partition(",")
        fx, fy = number(x), number(y)
        if fx is None or fy is None:
            return None
        out.append({"x": fx, "y": fy})
    return out


def _rotated(x1: float, y1: float, x2: float, y2: float, degrees: float) -> list[dict]:
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    corners = ((x1, y1), (x2, y1), (x2, y2), (x1, y2))
    return [
        {"x": cx + (x - cx) * cos - (y - cy) * sin, "y": cy + (x - cx) * sin + (y - cy) * cos}
        for x, y in corners
    ]
