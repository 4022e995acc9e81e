"""Pascal VOC XML: one `Annotations/<stem>.xml` per image (`filename`, `size`, `object`s with
`name` and `bndbox`), images in `JPEGImages/`. `difficult`, `truncated`, `occluded`, `pose` and
CVAT's `<attributes>` become attributes; a `<polygon>` (written by labelport, and by tools that
extend VOC) becomes a polygon. A `<part>` (VOC's person layout: a head, hand or foot box with its
own name) becomes a box of its own and a `relation` from the part to its object; `<actions>`
flags become attributes named by the action (true or false, as the file says). VOC is drawn by
people: every instance is human-made. Coordinates are read and written as given (no 1-pixel
shift).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelport.convert.model import ATTRIBUTES, MACHINE_MADE, Conversion, Item, box, find_media
from labelport.convert.sources import load_xml, number, peek
from labelport.format import Problem

_FLAGS = ("difficult", "truncated", "occluded")


def detect(path: Path) -> bool:
    if path.is_dir():
        folder = path / "Annotations"
        return (folder.is_dir() and any(folder.glob("*.xml"))) or any(
            detect(p) for p in sorted(path.glob("*.xml"))[:3]
        )
    return path.suffix == ".xml" and b"<annotation" in peek(path) and b"<bndbox" in peek(path)


def _sources(path: Path) -> tuple[Path, list[Path]]:
    if path.is_file():
        return path.parent, [path]
    folder = path / "Annotations" if (path / "Annotations").is_dir() else path
    return folder, sorted(folder.glob("*.xml"))


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    folder, sources = _sources(path)
    root_dir = folder.parent if folder.name == "Annotations" else folder
    conv.total_files = (conv.total_files or 0) + len(sources)
    for source in sources:
        shown = source.relative_to(root_dir).as_posix()
        root = load_xml(source, conv, shown)
        if root is None:
            continue
        filename = (root.findtext("filename") or source.with_suffix(".jpg").name).strip()
        item = Item(name=filename, source=shown, key=f"voc:{shown}")
        item.width = _int(root.findtext("size/width"))
        item.height = _int(root.findtext("size/height"))
        item.media_path = find_media(
            filename, conv.media_dir, root_dir / "JPEGImages", root_dir / "images", folder
        )
        item.instances = []
        # where each instance came from, for the problems found later (importer, server)
        item.places = []
        for index, obj in enumerate(root.iter("object")):
            where = f"{shown}:object/{index}"
            inst = _object(obj, where, item)
            if inst is not None:
                inst["id"] = f"voc:{shown}:{index}"
                inst[MACHINE_MADE] = False
                item.instances.append(inst)
                item.places.append(where)
                for part_where, part in _parts(obj, inst["id"], where, item):
                    item.instances.append(part)
                    item.places.append(part_where)
        yield item


def _int(text: str | None) -> int | None:
    value = number(text)
    return int(value) if value is not None else None


def _object(obj: ET.Element, where: str, item: Item) -> dict[str, Any] | None:
    name = (obj.findtext("name") or "").strip()
    if not name:
        item.problems.append(Problem("convert.invalid", f"{where}/name", "an object has no name"))
        return None
    attributes: dict[str, Any] = {}
    for flag in _FLAGS:
        text = obj.findtext(flag)
        if text is not None and text.strip() in ("1", "true", "True"):  # 0 is VOC's default
            attributes[flag] = True
    pose = obj.findtext("pose")
    if pose and pose.strip() and pose.strip() != "Unspecified":
        attributes["pose"] = pose.strip()
    actions = obj.find("actions")
    if actions is not None:
        for action in actions:
            value = (action.text or "").strip()
            if value in ("0", "1", "true", "false"):
                attributes[action.tag] = value in ("1", "true")
            else:
                item.problems.append(
                    Problem(
                        "convert.invalid",
                        f"{where}/actions/{action.tag}",
                        f"an action flag is 0 or 1, not {value!r}",
                    )
                )
    for attribute in obj.iter("attribute"):
        key = attribute.findtext("name")
        if key:
            attributes[key] = attribute.findtext("value") or ""
    polygon = obj.find("polygon")
    inst: dict[str, Any] | None
    if polygon is not None:
        inst = _polygon(polygon, name, f"{where}/polygon", item)
    else:
        coords: list[Any] = [
            number(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")
        ]
        if None in coords:
            item.problems.append(
                Problem(
                    "convert.invalid",
                    f"{where}/bndbox",
                    "a bndbox needs numbers in xmin, ymin, xmax and ymax",
                )
            )
            return None
        inst = box(name, *coords)
    if inst is not None and attributes:
        inst[ATTRIBUTES] = attributes
    return inst


def _parts(
    obj: ET.Element, parent: str, where: str, item: Item
) -> Iterator[tuple[str, dict[str, Any]]]:
    """A part's box, then the relation that ties it to its object (part -> whole), each with
    its place."""
    for k, part in enumerate(obj.findall("part")):
        name = (part.findtext("name") or "").strip()
        coords: list[Any] = [
            number(part.findtext(f"bndbox/{c}")) for c in ("xmin", "ymin", "xmax", "ymax")
        ]
        if not name or None in coords:
            item.problems.append(
                Problem(
                    "convert.invalid",
                    f"{where}/part/{k}",
                    "a part needs a name and numbers in bndbox xmin, ymin, xmax and ymax",
                )
            )
            continue
        part_id = f"{parent}:part/{k}"
        place = f"{where}/part/{k}"
        yield place, box(name, *coords, id=part_id, **{MACHINE_MADE: False})
        yield place, {"type": "relation", "from": part_id, "to": parent, "id": f"{part_id}:of",
                      MACHINE_MADE: False}  # fmt: skip


def _polygon(element: ET.Element, name: str, where: str, item: Item) -> dict[str, Any] | None:
    points = [(number(p.findtext("x")), number(p.findtext("y"))) for p in element.iter("pt")]
    if not points:  # the x1, y1, x2, y2, ... style
        n = 1
        while element.find(f"x{n}") is not None:
            points.append((number(element.findtext(f"x{n}")), number(element.findtext(f"y{n}"))))
            n += 1
    if len(points) < 3 or any(x is None or y is None for x, y in points):
        item.problems.append(
            Problem("convert.invalid", where, "a polygon needs at least 3 points with numbers")
        )
        return None
    return {"type": "polygon", "name": name, "points": [{"x": x, "y": y} for x, y in points]}


# -- write -----------------------------------------------------------------------------------


def write(export: Any, out_dir: Path) -> Path:
    folder = out_dir / "Annotations"
    folder.mkdir(parents=True, exist_ok=True)
    groups = {str(g["id"]): g for g in export.attribute_groups}
    for f in export.files():
        if f.file["media_type"] != "image":
            export.lose("type_not_in_format", len(f.instances))
            continue
        root = ET.Element("annotation")
        ET.SubElement(root, "folder").text = "JPEGImages"
        ET.SubElement(root, "filename").text = f.media_name
        size = ET.SubElement(root, "size")
        for key, value in (("width", f.file["width"]), ("height", f.file["height"]), ("depth", 3)):
            ET.SubElement(size, key).text = str(value)
        ET.SubElement(root, "segmented").text = "0"
        for inst in f.instances:
            if inst["type"] not in ("box", "polygon") or inst.get("label_name") is None:
                export.lose("type_not_in_format")
                continue
            _write_object(root, inst, export.attribute_names(inst["attribute_groups"], groups))
        ET.indent(root)
        ET.ElementTree(root).write(
            folder / Path(f.media_name).with_suffix(".xml").name, encoding="unicode"
        )
    return folder


def _write_object(root: ET.Element, inst: dict[str, Any], attributes: dict[str, Any]) -> None:
    obj = ET.SubElement(root, "object")
    ET.SubElement(obj, "name").text = inst["label_name"]
    ET.SubElement(obj, "pose").text = str(attributes.pop("pose", "Unspecified"))
    for flag in ("truncated", "difficult"):
        on = attributes.pop(flag, False) in (True, "true")
        ET.SubElement(obj, flag).text = "1" if on else "0"
    if inst["type"] == "box":
        corners = (inst["x_min"], inst["y_min"], inst["x_max"], inst["y_max"])
    else:
        xs, ys = [p["x"] for p in inst["points"]], [p["y"] for p in inst["points"]]
        corners = (min(xs), min(ys), max(xs), max(ys))
        polygon = ET.SubElement(obj, "polygon")
        for p in inst["points"]:
            pt = ET.SubElement(polygon, "pt")
            ET.SubElement(pt, "x").text = repr(p["x"])
            ET.SubElement(pt, "y").text = repr(p["y"])
    bndbox = ET.SubElement(obj, "bndbox")
    for key, value in zip(("xmin", "ymin", "xmax", "ymax"), corners, strict=True):
        ET.SubElement(bndbox, key).text = repr(value)
    if attributes:
        element = ET.SubElement(obj, "attributes")
        for key, value in attributes.items():
            attribute = ET.SubElement(element, "attribute")
            ET.SubElement(attribute, "name").text = key
            ET.SubElement(attribute, "value").text = str(value)
