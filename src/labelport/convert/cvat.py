"""CVAT XML 1.1, for images (`<image>` with shapes) and for video (`<track>`s of shapes by frame).

Tracks become sequences: `number` is the track id + 1 when ids start at 0 (else the id), so the
same track keeps its number on every import; frames marked `outside` are left out. Shapes drawn
by a person (`source="manual"`, or no source) are `machine_made: false`; `source="auto"` /
`"semi-auto"` (a model drew it) are machine made. A `points` shape of several points is one
`keypoints` instance (nodes 0..n-1), as CVAT shows it. Attributes declared in `<meta>` become
attribute groups of the matching kind (select, radio, checkbox, number, text).

A project export (`<meta><project>`, images with `subset="Train"`, media under
`images/<subset>/`) gives one file per (subset, name): the same name in two subsets is two files.

`write` makes `annotations.xml` in CVAT 1.1: images (CVAT for images) and video tracks (CVAT
for video) with `outside` shapes where a track stops, so CVAT does not stretch it over frames
it does not have.
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
# CVAT's `source` values for shapes a model drew; "manual", "file", "consensus" and an absent
# source are a person's work (or its copy).
_MACHINE_SOURCES = frozenset({"auto", "semi-auto", "semi_auto"})
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
    project = root.find("meta/project") is not None
    for index, image in enumerate(images):
        name = image.get("name") or f"image-{image.get('id')}"
        subset = image.get("subset") or ""
        # A project export repeats names (and ids) across its subsets: the subset is part of
        # the file's identity, and its media sit in images/<subset>/.
        if project and subset:
            name = f"{subset}/{name}"
        key = f"cvat:{shown}:{name}"
        item = Item(name=name, source=f"{shown}:image/{index}", key=key)
        item.width, item.height = _int(image.get("width")), _int(image.get("height"))
        if subset and not project:  # a task export that names its subset
            item.media_path = find_media(name, source.parent / "images" / subset, *media_dirs)
        else:  # images/<subset>/<name> before any folder where only the basename matches
            item.media_path = find_media(name, conv.media_dir, source.parent / "images",
                                         source.parent)  # fmt: skip
        item.instances = []
        # where each instance came from, for the problems found later (importer, server)
        item.places = []
        for n, shape in enumerate(s for s in image if s.tag in _SHAPES):
            where = f"{item.source}/{shape.tag}/{n}"
            for k, inst in enumerate(_shape(shape, shape.get("label"), labels, where, item, conv)):
                inst["id"] = f"cvat:{image.get('id', index)}:{n}" + (f":{k}" if k else "")
                item.instances.append(inst)
                item.places.append(where)
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
        if not label:
            _no_label(item, f"{shown}:track/{index}", "track")
            continue
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
    if not label:
        _no_label(item, where, shape.tag)
        return []
    if labels and label not in labels:
        item.problems.append(
            Problem(
                "convert.class_unknown",
                where,
                f"label {label!r} is not declared in <meta> labels"
                + (f" ({', '.join(sorted(labels))})" if labels else ""),
            )
        )
        return []
    origin = (source or shape.get("source") or "manual").lower()
    common: dict[str, Any] = {"machine_made": origin in _MACHINE_SOURCES}
    attributes: dict[str | None, Any] = {
        a.get("name"): a.text or "" for a in shape.iter("attribute")
    }
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
        xyxy: list[Any] = [number(get(k)) for k in ("xtl", "ytl", "xbr", "ybr")]
        if None in xyxy:
            return _bad(item, where, "a box needs xtl, ytl, xbr, ybr numbers")
        rotation = number(get("rotation")) or 0.0
        if rotation:
            conv.lose(item, "rotation")
            x1, y1, x2, y2 = xyxy
            turned = _rotated(x1, y1, x2, y2, rotation)
            return [{"type": "polygon", "name": label, "points": turned}]
        return [box(label, *xyxy)]
    if kind in ("polygon", "polyline", "points"):
        points = _points(get("points"))
        if points is None:
            return _bad(item, where, "points must be x,y pairs separated by ;")
        if kind == "points" and len(points) == 1:
            return [{"type": "point", "name": label, "points": points}]
        if kind == "points":  # one shape, one instance: CVAT's points are one object
            nodes = [{"id": i, "x": p["x"], "y": p["y"]} for i, p in enumerate(points)]
            return [{"type": "keypoints", "name": label, "nodes": nodes}]
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
            corners: dict[str, dict[str, float]] = {}
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


def _no_label(item: Item, where: str, what: str) -> None:
    item.problems.append(
        Problem(
            "convert.invalid",
            where,
            f'the {what} has an empty label (label=""): CVAT writes this for shapes whose'
            " label was deleted; give it a label in CVAT, or remove it",
        )
    )


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


def _rotated(x1: float, y1: float, x2: float, y2: float, degrees: float) -> list[dict[str, float]]:
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    corners = ((x1, y1), (x2, y1), (x2, y2), (x1, y2))
    return [
        {"x": cx + (x - cx) * cos - (y - cy) * sin, "y": cy + (x - cx) * sin + (y - cy) * cos}
        for x, y in corners
    ]


# --- writer ------------------------------------------------------------------------------------

# labelport attribute kinds -> CVAT input types; CVAT has no multiple choice (lists are joined).
_INPUT_TYPES = {"select": "select", "radio": "radio", "multiple_select": "select",
                "text": "text", "slider": "number"}  # fmt: skip


def write(export: Any, out_dir: Path) -> Path:
    """`annotations.xml` (CVAT for images) for the project's images, and one `<video>.xml` (CVAT
    for video, tracks) per video; media beside them under `images/` when the export copies it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = {str(g["id"]): g for g in export.attribute_groups}
    labels_xml = _labels_xml(export)
    images_path = out_dir / "annotations.xml"
    images_out = None
    image_id = 0
    try:
        for f in export.files():
            kind = f.file["media_type"]
            if kind == "video":
                _write_video(export, f, groups, labels_xml, out_dir)
                continue
            if kind != "image":
                export.lose("type_not_in_format", len(f.instances))
                continue
            if images_out is None:
                images_out = open(images_path, "w", encoding="utf-8")  # noqa: SIM115
                images_out.write(_head(export, "annotation", labels_xml, None))
            image = ET.Element("image", id=str(image_id), name=f.media_name)
            image.set("width", str(f.file["width"] or 0))
            image.set("height", str(f.file["height"] or 0))
            image_id += 1
            for inst in f.instances:
                shape = _shape_xml(export, inst, groups)
                if shape is not None:
                    image.append(shape)
            ET.indent(image, level=1)
            images_out.write("  " + ET.tostring(image, encoding="unicode") + "\n")
        if images_out is not None:
            images_out.write("</annotations>\n")
    finally:
        if images_out is not None:
            images_out.close()
    return out_dir


def _head(export: Any, mode: str, labels_xml: str, video: dict[str, Any] | None) -> str:
    task = ET.Element("task")
    ET.SubElement(task, "name").text = export.project.name
    ET.SubElement(task, "mode").text = mode
    if video is not None:
        ET.SubElement(task, "size").text = str(video["frame_count"] or 0)
        size = ET.SubElement(task, "original_size")
        ET.SubElement(size, "width").text = str(video["width"] or 0)
        ET.SubElement(size, "height").text = str(video["height"] or 0)
    task_xml = ET.tostring(task, encoding="unicode").replace("</task>", labels_xml + "</task>")
    source = ""
    if video is not None:
        element = ET.Element("source")
        element.text = video["media_name"]
        source = ET.tostring(element, encoding="unicode")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        f"  <meta>{task_xml}{source}</meta>\n"
    )


def _labels_xml(export: Any) -> str:
    labels = ET.Element("labels")
    for label in export.labels:
        element = ET.SubElement(labels, "label")
        ET.SubElement(element, "name").text = label["name"]
        attributes = ET.SubElement(element, "attributes")
        for group in export.attribute_groups:
            if group["label_ids"] and label["id"] not in group["label_ids"]:
                continue
            if group["name"] == "occluded":  # CVAT's own flag, written on each shape
                continue
            attribute = ET.SubElement(attributes, "attribute")
            ET.SubElement(attribute, "name").text = group["name"]
            ET.SubElement(attribute, "mutable").text = "True"
            ET.SubElement(attribute, "input_type").text = _INPUT_TYPES.get(group["kind"], "text")
            if group["kind"] == "slider":
                low = group["min_value"] if group["min_value"] is not None else 0
                high = group["max_value"] if group["max_value"] is not None else 100
                values = [_num(low), _num(high), "1"]
            else:
                values = [o["name"] for o in group["options"]]
            ET.SubElement(attribute, "default_value").text = values[0] if values else ""
            ET.SubElement(attribute, "values").text = "\n".join(values)
    return ET.tostring(labels, encoding="unicode")


def _write_video(
    export: Any, f: Any, groups: dict[str, Any], labels_xml: str, out_dir: Path
) -> None:
    video = {**f.file, "media_name": f.media_name}
    frame_count = f.file["frame_count"]
    tracks: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for inst in f.instances:
        if inst.get("label_name") is None or inst.get("frame") is None:
            export.lose("type_not_in_format")
            continue
        tracks.setdefault((inst["label_name"], inst["number"] or 1), []).append(inst)
    keys = sorted(tracks, key=lambda k: (k[1], k[0]))
    numbers = [number for _label, number in keys]
    # The reader takes a track's number from its id (id + 1 when ids start at 0). Numbers that
    # are unique across labels are written as the ids and read back as they are; CVAT's ids are
    # unique across labels, so otherwise the tracks are numbered 0..n-1 (read back as 1..n).
    ids = numbers if len(set(numbers)) == len(numbers) else list(range(len(keys)))
    with open(out_dir / f"{f.media_name}.xml", "w", encoding="utf-8") as out:
        out.write(_head(export, "interpolation", labels_xml, video))
        for track_id, key in zip(ids, keys, strict=True):
            instances = sorted(tracks[key], key=lambda i: i["frame"])
            origin = _source(instances[0])
            track = ET.Element("track", id=str(track_id), label=key[0], source=origin)
            frames = {i["frame"] for i in instances}
            for inst in instances:
                shape = _shape_xml(export, inst, groups, in_track=True)
                if shape is None:
                    continue
                if _source(inst) == origin:
                    del shape.attrib["source"]
                shape.set("frame", str(inst["frame"]))
                shape.set("keyframe", "1")
                shape.set("outside", "0")
                track.append(shape)
                after = inst["frame"] + 1
                # CVAT carries a track on to its next keyframe: where this one has no instance
                # on the next frame, an `outside` shape there ends it.
                if after not in frames and (frame_count is None or after < frame_count):
                    gone = ET.Element(shape.tag, dict(shape.attrib))
                    gone.set("frame", str(after))
                    gone.set("outside", "1")
                    track.append(gone)
            ET.indent(track, level=1)
            out.write("  " + ET.tostring(track, encoding="unicode") + "\n")
        out.write("</annotations>\n")


def _source(inst: dict[str, Any]) -> str:
    return "auto" if inst.get("machine_made") else "manual"


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _xy(points: list[dict[str, float]]) -> str:
    return ";".join(f"{_num(p['x'])},{_num(p['y'])}" for p in points)


def _shape_xml(
    export: Any, inst: dict[str, Any], groups: dict[str, Any], in_track: bool = False
) -> ET.Element | None:
    kind, label = inst["type"], inst.get("label_name")
    if label is None:
        export.lose("type_not_in_format")
        return None
    attrs: dict[str, str] = {}
    if kind == "box":
        tag = "box"
        for key, field in (("xtl", "x_min"), ("ytl", "y_min"), ("xbr", "x_max"), ("ybr", "y_max")):
            attrs[key] = _num(inst[field])
    elif kind in ("polygon", "line", "point"):
        tag = {"polygon": "polygon", "line": "polyline", "point": "points"}[kind]
        attrs["points"] = _xy(inst["points"])
    elif kind == "keypoints":
        tag = "points"
        nodes = inst["nodes"]
        attrs["points"] = _xy(nodes)
        # CVAT's points have no names, no edges and no per-point flags
        if inst.get("edges") or any(n.get("name") or n.get("occluded") for n in nodes):
            export.lose("type_not_in_format")
    elif kind == "ellipse":
        tag = "ellipse"
        attrs.update(cx=_num(inst["center_x"]), cy=_num(inst["center_y"]),
                     rx=_num(inst["width"]), ry=_num(inst["height"]))  # fmt: skip
        if inst.get("rotation"):
            attrs["rotation"] = repr(math.degrees(inst["rotation"]))
    elif kind == "cuboid":
        tag = "cuboid"
        for face, n in (("front_face", 1), ("rear_face", 2)):
            for corner, key in (("top_left", "tl"), ("top_right", "tr"), ("bot_left", "bl"),
                                ("bot_right", "br")):  # fmt: skip
                attrs[f"x{key}{n}"] = _num(inst[face][corner]["x"])
                attrs[f"y{key}{n}"] = _num(inst[face][corner]["y"])
    elif kind == "tag" and not in_track:
        tag = "tag"
    else:
        export.lose("type_not_in_format")
        return None
    if inst.get("score") is not None or inst.get("model_ref"):
        export.lose("prediction_details")
    attributes = export.attribute_names(inst.get("attribute_groups") or {}, groups)
    occluded = attributes.pop("occluded", False) in (True, "true", "True", 1)
    element = ET.Element(tag, label=label, source=_source(inst))
    if tag != "tag":
        element.set("occluded", "1" if occluded else "0")
    for key, value in attrs.items():
        element.set(key, value)
    if tag != "tag":
        element.set("z_order", "0")
    for name, value in attributes.items():
        shown: Any = value  # an option name, a number, a bool, a string; a list is joined
        if isinstance(value, list):
            export.lose("attribute_value_unmapped")
            shown = ",".join(str(v) for v in value)
        text = ("true" if shown else "false") if isinstance(shown, bool) else str(shown)
        ET.SubElement(element, "attribute", name=name).text = text
    return element
