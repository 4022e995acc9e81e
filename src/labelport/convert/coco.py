"""COCO object detection JSON: images, categories, annotations (bbox, polygons, RLE, keypoints).

Read in one typed msgspec pass into compact structs (no dict per annotation), annotations
grouped by image id by reference, then yielded image by image. Category ids are looked up in a
dict, so id 0 is an ordinary id.
"""

from __future__ import annotations

import gc
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from labelport.convert import numbers
from labelport.convert.model import ATTRIBUTES, Conversion, Item, box, find_media, points_of
from labelport.convert.sources import decode_json, peek, read_bytes, validation_path


class Image(msgspec.Struct, gc=False):
    id: int | str
    file_name: str
    width: int | None = None
    height: int | None = None
    coco_url: str | None = None


class Rle(msgspec.Struct, gc=False):
    counts: list[int] | str
    size: list[int] | None = None


class Annotation(msgspec.Struct, gc=False):
    image_id: int | str
    category_id: int | str
    id: int | str | None = None
    bbox: tuple[float, float, float, float] | None = None
    segmentation: list[list[float]] | Rle | None = None
    keypoints: list[float] | None = None
    iscrowd: int = 0
    score: float | None = None
    attributes: dict[str, Any] | None = None
    # Written by labelport only for the rare box whose x_max no float w makes x + w equal.
    labelport_xyxy: tuple[float, float, float, float] | None = None


class Category(msgspec.Struct, gc=False):
    id: int | str
    name: str
    keypoints: list[str] | None = None
    skeleton: list[list[int]] | None = None


class CocoFile(msgspec.Struct, gc=False):
    images: list[Image]
    annotations: list[Annotation] = msgspec.field(default_factory=list)
    categories: list[Category] = msgspec.field(default_factory=list)


class LooseCocoFile(msgspec.Struct, gc=False):
    images: list[msgspec.Raw] = msgspec.field(default_factory=list)
    annotations: list[msgspec.Raw] = msgspec.field(default_factory=list)
    categories: list[msgspec.Raw] = msgspec.field(default_factory=list)


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(detect(p) for p in sorted(path.glob("*.json"))[:5])
    head = peek(path, 1 << 16)
    # "images" with COCO's image keys, or beside "annotations" / "categories"
    return (
        path.suffix == ".json"
        and b'"images"' in head
        and (b'"file_name"' in head or b'"annotations"' in head or b'"categories"' in head)
    )


def _sources(path: Path) -> list[Path]:
    if path.is_dir():
        return [p for p in sorted(path.glob("*.json")) if detect(p)]
    return [path]


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    for source in _sources(path):
        yield from _read_one(source, conv)


def _decode(source: Path, conv: Conversion) -> CocoFile | None:
    shown = source.name
    data = read_bytes(source, conv, shown)
    if data is None:
        return None
    try:
        return decode_json(data, conv, shown, CocoFile)
    except msgspec.ValidationError:
        pass
    # One bad record fails the fast typed decode: decode record by record, keep the good ones,
    # and report every bad one with its place.
    try:
        loose = msgspec.json.decode(data, type=LooseCocoFile)
    except msgspec.ValidationError as exc:
        conv.problem("convert.invalid", f"{shown}:{validation_path(exc)}", str(exc))
        return None
    parts: dict[str, list[Any]] = {}
    for key, kind in (("images", Image), ("annotations", Annotation), ("categories", Category)):
        good = parts[key] = []
        for index, raw in enumerate(getattr(loose, key)):
            try:
                good.append(msgspec.json.decode(raw, type=kind))
            except msgspec.ValidationError as exc:
                inner = validation_path(exc)
                conv.problem(
                    "convert.invalid",
                    f"{shown}:{key}/{index}" + (f"/{inner}" if inner else ""),
                    str(exc),
                )
    return CocoFile(**parts)


def _read_one(source: Path, conv: Conversion) -> Iterator[Item]:
    coco = _decode(source, conv)
    if coco is None:
        return
    # The decoded file holds a container per annotation (bbox lists, segmentation lists) and
    # no cycles: freezing them keeps every later collection from rescanning a million of them.
    gc.freeze()
    try:
        yield from _items(coco, source, conv)
    finally:
        gc.unfreeze()


def _items(coco: CocoFile, source: Path, conv: Conversion) -> Iterator[Item]:
    shown = source.name
    categories = {c.id: c for c in coco.categories}
    conv.labels.extend(c.name for c in coco.categories if c.name not in conv.labels)
    # Annotations grouped by image by reference (8 bytes each); the index of an annotation is
    # only needed for a problem, so the rare bad ones are remembered by identity.
    by_image: dict[Any, list[Annotation]] = {image.id: [] for image in coco.images}
    bad_category: dict[int, int] = {}
    for index, ann in enumerate(coco.annotations):
        group = by_image.get(ann.image_id)
        if group is None:
            conv.problem(
                "convert.image_unknown",
                f"{shown}:annotations/{index}/image_id",
                f"annotation {ann.id} refers to image id {ann.image_id!r}, which is not in"
                " `images`",
            )
            continue
        group.append(ann)
        if ann.category_id not in categories:
            bad_category[id(ann)] = index
    coco.annotations = []  # the grouped references are all that is kept
    conv.total_files = (conv.total_files or 0) + len(coco.images)
    media_dirs = (conv.media_dir, source.parent, source.parent / "images", source.parent.parent)
    for position, image in enumerate(coco.images):
        item = Item(
            name=image.file_name,
            source=f"{shown}:images/{position}",
            width=image.width,
            height=image.height,
            key=f"coco:{image.file_name}",
        )
        item.media_path = find_media(image.file_name, *media_dirs)
        if item.media_path is None and image.coco_url:
            item.media_url = image.coco_url
        item.instances = out = []
        for ann in by_image.pop(image.id, ()):
            if (
                (ann.segmentation is None or ann.segmentation == [])
                and ann.keypoints is None
                and ann.attributes is None
                and ann.score is None
                and (not ann.iscrowd and ann.labelport_xyxy is None and ann.bbox is not None)
                and ann.category_id in categories
            ):
                # the common case, a plain box, without the general path's per-key work
                x, y, w, h = ann.bbox
                out.append({
                    "type": "box", "name": categories[ann.category_id].name,
                    "x_min": x, "y_min": y, "x_max": x + w, "y_max": y + h,
                    "id": f"coco:ann:{ann.id}",
                })  # fmt: skip
            else:
                _convert(ann, bad_category.get(id(ann), -1), categories, item, conv, shown)
        yield item


def _convert(
    ann: Annotation,
    index: int,
    categories: dict[Any, Category],
    item: Item,
    conv: Conversion,
    shown: str,
) -> None:
    category = categories.get(ann.category_id)
    if category is None:
        item.problems.append(
            _problem(
                "convert.class_unknown",
                f"{shown}:annotations/{index}/category_id",
                f"category id {ann.category_id!r} is not in `categories`",
            )
        )
        return
    name = category.name
    ext = f"coco:ann:{ann.id if ann.id is not None else index}"
    common: dict[str, Any] = {}
    if ann.score is not None:
        common["score"] = ann.score
    if ann.attributes:
        common[ATTRIBUTES] = dict(ann.attributes)
    if ann.iscrowd:
        conv.lose(item, "crowd_flag")
    out = item.instances
    segmentation = ann.segmentation
    polygons = segmentation if isinstance(segmentation, list) else []
    polygons = [p for p in polygons if len(p) >= 6]
    if isinstance(segmentation, Rle):
        conv.lose(item, "rle_mask")
    if polygons:
        for part, flat in enumerate(polygons):
            out.append(
                {
                    "type": "polygon",
                    "name": name,
                    "points": points_of(flat),
                    "id": ext if part == 0 else f"{ext}:{part}",
                    **common,
                }
            )
    elif ann.labelport_xyxy is not None:
        out.append(box(name, *ann.labelport_xyxy, id=ext, **common))
    elif ann.bbox is not None:
        x, y, w, h = ann.bbox
        out.append(box(name, x, y, x + w, y + h, id=ext, **common))
    if ann.keypoints:
        nodes = _nodes(ann.keypoints, category, item, conv)
        if nodes:
            edges = [
                {"from": a - 1, "to": b - 1}
                for a, b in (category.skeleton or [])
                if any(n["id"] == a - 1 for n in nodes) and any(n["id"] == b - 1 for n in nodes)
            ]
            out.append(
                {"type": "keypoints", "name": name, "nodes": nodes, "edges": edges,
                 "id": f"{ext}:keypoints", **common}
            )  # fmt: skip


def _nodes(flat: list[float], category: Category, item: Item, conv: Conversion) -> list[dict]:
    names = category.keypoints or []
    nodes = []
    for k in range(len(flat) // 3):
        x, y, v = flat[3 * k : 3 * k + 3]
        if v == 0:
            conv.lose(item, "keypoint_unlabelled")
            continue
        node: dict[str, Any] = {"id": k, "x": x, "y": y, "occluded": v == 1}
        if k < len(names):
            node["name"] = names[k]
        nodes.append(node)
    return nodes


def _problem(code: str, path: str, message: str) -> Any:
    from labelport.format import Problem

    return Problem(code, path, message)


# -- write -----------------------------------------------------------------------------------


def polygon_area(points: list[dict[str, float]]) -> float:
    total = 0.0
    for a, b in zip(points, points[1:] + points[:1], strict=True):
        total += a["x"] * b["y"] - b["x"] * a["y"]
    return abs(total) / 2


def write(export: Any, out_dir: Path) -> Path:
    """`annotations.json` with boxes (bbox) and polygons (segmentation + bbox); anything else is
    counted in `export.losses`. Written streamed: images and annotations go to two temporary
    parts joined at the end, so a big project is never one dict in memory."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "annotations.json"
    label_ids = {label["name"]: n for n, label in enumerate(export.labels, start=1)}
    categories = [{"id": n, "name": name, "supercategory": ""} for name, n in label_ids.items()]
    groups = {str(g["id"]): g for g in export.attribute_groups}
    encode = msgspec.json.Encoder().encode
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        images_part, anns_part = Path(tmp) / "images", Path(tmp) / "annotations"
        with open(images_part, "wb") as images, open(anns_part, "wb") as anns:
            ann_id = 0
            for f in export.files():
                if f.file["media_type"] != "image":
                    export.lose("type_not_in_format", len(f.instances))
                    continue
                image = {
                    "id": f.file["id"],
                    "file_name": f.media_name,
                    "width": f.file["width"],
                    "height": f.file["height"],
                }
                images.write((b"," if images.tell() else b"") + encode(image))
                for inst in f.instances:
                    ann = _annotation(inst, f.file["id"], label_ids, groups, export)
                    if ann is None:
                        continue
                    ann_id += 1
                    ann["id"] = ann_id
                    anns.write((b"," if anns.tell() else b"") + encode(ann))
        with open(target, "wb") as out:
            out.write(b'{"info":{"description":"labelport export"},"licenses":[],"images":[')
            with open(images_part, "rb") as part:
                shutil.copyfileobj(part, out)
            out.write(b'],"annotations":[')
            with open(anns_part, "rb") as part:
                shutil.copyfileobj(part, out)
            out.write(b'],"categories":' + encode(categories) + b"}")
    return target


def _annotation(
    inst: dict[str, Any],
    image_id: int,
    label_ids: dict[str, int],
    groups: dict[str, Any],
    export: Any,
) -> dict[str, Any] | None:
    kind = inst["type"]
    if kind not in ("box", "polygon") or inst.get("label_name") not in label_ids:
        export.lose("type_not_in_format")
        return None
    ann: dict[str, Any] = {"image_id": image_id, "category_id": label_ids[inst["label_name"]]}
    if kind == "box":
        x, y = inst["x_min"], inst["y_min"]
        w, rounded_w = numbers.span_for_sum(x, inst["x_max"])
        h, rounded_h = numbers.span_for_sum(y, inst["y_max"])
        ann.update(bbox=[x, y, w, h], area=w * h, segmentation=[], iscrowd=0)
        if rounded_w or rounded_h:  # COCO's x, w cannot hold this x_max: keep it exactly too
            ann["labelport_xyxy"] = [x, y, inst["x_max"], inst["y_max"]]
    else:
        pts = inst["points"]
        xs, ys = [p["x"] for p in pts], [p["y"] for p in pts]
        x, y = min(xs), min(ys)
        ann.update(
            segmentation=[[v for p in pts for v in (p["x"], p["y"])]],
            bbox=[x, y, max(xs) - x, max(ys) - y],
            area=polygon_area(pts),
            iscrowd=0,
        )
    if inst.get("score") is not None:
        ann["score"] = inst["score"]
    attributes = export.attribute_names(inst.get("attribute_groups") or {}, groups)
    if attributes:
        ann["attributes"] = attributes
    if math.isnan(ann["area"]):  # pragma: no cover - coordinates are finite by the format
        return None
    return ann
