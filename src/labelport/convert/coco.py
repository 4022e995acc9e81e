"""COCO object detection JSON: images, categories, annotations (bbox, polygons, RLE, keypoints).

Read in one typed msgspec pass into compact structs (no dict per annotation), annotations
grouped by image id by reference, then yielded image by image. Category ids are looked up in a
dict, so id 0 is an ordinary id.

An annotations folder (COCO's and datumaro's `<task>_<subset>.json` files) is read as a whole:
the files of one subset (instances, person_keypoints, stuff, captions, image_info, labels) are
merged image by image, so an image listed by several files is one item. Captions are counted
as the `caption` loss; stuff masks are RLE (`rle_mask`); panoptic files (PNG segment maps) are
skipped whole and counted (`panoptic_file`). A results file (a list of detections with `score`,
which names images by id only) joins the subset whose images it names; its detections are
machine-made. Annotations of the other files are human unless they carry a score.
"""

from __future__ import annotations

import gc
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import msgspec

from labelport.convert import numbers
from labelport.convert.model import (
    ATTRIBUTES,
    MACHINE_MADE,
    Conversion,
    Item,
    box,
    find_media,
    points_of,
)
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
    category_id: int | str | None = None  # captions have none
    id: int | str | None = None
    bbox: tuple[float, float, float, float] | None = None
    segmentation: list[list[float]] | Rle | None = None
    keypoints: list[float] | None = None
    iscrowd: int = 0
    score: float | None = None
    attributes: dict[str, Any] | None = None
    caption: str | None = None
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


class _Ids(msgspec.Struct):
    """What names a record that failed to decode: its id, and an annotation's image."""

    id: Any = None
    image_id: Any = None


# Problems are placed by what names a record in COCO, not by its index in an array:
# `instances.json:annotations[id=17] (image 000123.jpg)/bbox/2`, `...:images[id=3]`.


def _id_text(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def ann_place(ann_id: Any, image_name: str | None, index: int | None = None) -> str:
    """Where an annotation is: `annotations[id=17] (image 000123.jpg)`; by its index only when
    it has no usable id."""
    where = (
        f"annotations[id={_id_text(ann_id)}]"
        if isinstance(ann_id, int | str) and not isinstance(ann_id, bool)
        else f"annotations/{index}"
        if index is not None
        else "annotations[no id]"
    )
    return f"{where} (image {image_name})" if image_name else where


def image_place(image: Image) -> str:
    return f"images[id={_id_text(image.id)}] ({image.file_name})"


def _shared_ids(images: list[Image]) -> dict[Any, list[str]]:
    """Image ids given to more than one image of a file -> those images' names. Annotations name
    their image by id only: under a shared id they cannot be told apart."""
    if len({image.id for image in images}) == len(images):
        return {}  # the usual case, told without building the lists
    names: dict[Any, list[str]] = {}
    for image in images:
        names.setdefault(image.id, []).append(image.file_name)
    return {key: found for key, found in names.items() if len(found) > 1}


def _shared_id_message(image_id: Any, names: list[str]) -> str:
    return (
        f"image id {_id_text(image_id)} is given to {len(names)} images ({', '.join(names)}): "
        "the annotations of that id cannot be told apart"
    )


def _raw_place(key: str, raw: msgspec.Raw, index: int, image_names: dict[Any, str]) -> str:
    """The place of a record that did not decode, by its id where it has one."""
    try:
        ids = msgspec.json.decode(raw, type=_Ids)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return f"{key}/{index}"
    usable = isinstance(ids.id, int | str) and not isinstance(ids.id, bool)
    if key == "annotations":
        image = image_names.get(ids.image_id) if isinstance(ids.image_id, int | str) else None
        return ann_place(ids.id, image, index)
    return f"{key}[id={_id_text(ids.id)}]" if usable else f"{key}/{index}"


def detect(path: Path) -> bool:
    if path.is_dir():
        files = sorted(path.glob("*.json"))[:5] or sorted(path.glob("annotations/*.json"))[:5]
        return any(detect(p) for p in files)
    head = peek(path, 1 << 16)
    # "images" with COCO's image keys, or beside "annotations" / "categories"
    return path.suffix == ".json" and (
        (
            b'"images"' in head
            and (b'"file_name"' in head or b'"annotations"' in head or b'"categories"' in head)
        )
        or _is_results(head)
    )


def _is_results(head: bytes) -> bool:
    """A results file: a list of detections, each with an image id, a category and a score."""
    return (
        head.lstrip()[:1] == b"["
        and b'"image_id"' in head
        and b'"category_id"' in head
        and b'"score"' in head
    )


def _sources(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    found = [p for p in sorted(path.glob("*.json")) if detect(p)]
    if not found and (path / "annotations").is_dir():  # an export's root: its files are there
        found = [p for p in sorted((path / "annotations").glob("*.json")) if detect(p)]
    return found


# COCO's own task prefixes (and datumaro's `labels_`): the rest of the name is the subset.
_TASKS = ("person_keypoints_", "instances_", "captions_", "image_info_", "labels_", "stuff_",
          "panoptic_")  # fmt: skip
# Files of a subset whose annotations are the ground truth come first: their image ids are the
# ones a results file uses.
_ORDER = {"instances_": 0, "person_keypoints_": 1, "labels_": 2, "stuff_": 3, "captions_": 4}


def _task(source: Path) -> tuple[str, str]:
    for prefix in _TASKS:
        if source.stem.startswith(prefix):
            return prefix, source.stem[len(prefix) :]
    return "", ""


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    sources = _sources(path)
    if not sources:
        conv.problem(
            "convert.invalid",
            str(path),
            "no COCO annotation file here (looked for .json files with `images` or "
            "`annotations` in this folder and in its annotations/)",
        )
        return
    if len(sources) == 1 and not _is_results(peek(sources[0], 1 << 16)):
        if _is_panoptic(sources[0], conv):
            return
        yield from _read_one(sources[0], conv)
        return
    yield from _read_folder(sources, conv)


def _is_panoptic(source: Path, conv: Conversion) -> bool:
    if _task(source)[0] == "panoptic_" or b'"segments_info"' in peek(source, 1 << 16):
        conv.lose(None, "panoptic_file")
        conv.skip_file(
            str(source), "COCO panoptic segmentation is not supported: the file is skipped"
        )
        return True
    return False


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
    image_names: dict[Any, str] = {}
    for key, kind in (("images", Image), ("annotations", Annotation), ("categories", Category)):
        good = parts[key] = []
        for index, raw in enumerate(getattr(loose, key)):
            try:
                good.append(msgspec.json.decode(raw, type=kind))
            except msgspec.ValidationError as exc:
                inner = validation_path(exc)
                place = _raw_place(key, raw, index, image_names)
                conv.problem(
                    "convert.invalid", f"{shown}:{place}" + (f"/{inner}" if inner else ""), str(exc)
                )
        if key == "images":  # the images come first: annotations are placed by their names
            image_names = {image.id: image.file_name for image in good}
    return CocoFile(**parts)


def _read_one(source: Path, conv: Conversion) -> Iterator[Item]:
    coco = _decode(source, conv)
    if coco is None:
        return
    # The decoded file holds a container per annotation (bbox lists, segmentation lists) and
    # no cycles: freezing them keeps every later collection from rescanning a million of them.
    gc.freeze()
    try:
        conv.total_files = (conv.total_files or 0) + len(coco.images)
        yield from _items(coco, source, conv)
    finally:
        gc.unfreeze()


class _Subset:
    """The files of one subset merged: one image per file name, category ids renumbered across
    files (an id means a category only within its file), and where each image was first seen."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.coco = CocoFile(images=[])
        self.where: list[str] = []  # per merged image: "file:images[id=..] (name)", first file
        self.by_name: dict[str, Any] = {}  # file name -> merged image id
        self.by_source_id: dict[Any, Any] = {}  # image id in the first file naming it -> merged
        self.categories: dict[tuple[str, tuple[str, ...] | None], int] = {}
        self.first_ids: dict[Any, int] = {}  # category id in the first file using it -> merged
        self.by_ann: dict[tuple[Any, Any], Annotation] = {}  # (merged image, ann id) -> ann
        self.machine: set[int] = set()  # id() of results detections
        self.root = root

    def add(self, coco: CocoFile, shown: str, conv: Conversion) -> None:
        for image_id, names in _shared_ids(coco.images).items():
            place = f"{shown}:images[id={_id_text(image_id)}]/id"
            conv.problem("convert.invalid", place, _shared_id_message(image_id, names))
        image_ids: dict[Any, Any] = {}
        for image in coco.images:
            merged = self.by_name.get(image.file_name)
            if merged is None:
                merged = self.by_name[image.file_name] = len(self.coco.images)
                self.coco.images.append(image)
                self.where.append(f"{shown}:{image_place(image)}")
            self.by_source_id.setdefault(image.id, merged)
            image_ids[image.id] = merged
        for merged in image_ids.values():
            self.coco.images[merged].id = merged  # annotations now name their merged image
        categories = {c.id: self._category(c) for c in coco.categories}
        self._annotations(coco.annotations, image_ids, categories, shown, conv)

    def add_results(self, results: list[Annotation], shown: str, conv: Conversion) -> None:
        # detections use the ground truth's ids (instances first), as COCO's evaluation does
        self._annotations(results, self.by_source_id, self.first_ids, shown, conv, machine=True)

    def _category(self, category: Category) -> int:
        key = (category.name, tuple(category.keypoints) if category.keypoints else None)
        merged = self.categories.get(key)
        if merged is None:
            merged = self.categories[key] = len(self.coco.categories)
            self.coco.categories.append(
                Category(merged, category.name, category.keypoints, category.skeleton)
            )
        self.first_ids.setdefault(category.id, merged)
        return merged

    def _annotations(
        self,
        annotations: list[Annotation],
        image_ids: dict[Any, Any],
        categories: dict[Any, int],
        shown: str,
        conv: Conversion,
        machine: bool = False,
    ) -> None:
        out = self.coco.annotations
        for index, ann in enumerate(annotations):
            image = image_ids.get(ann.image_id)
            if image is None:
                conv.problem(
                    "convert.image_unknown",
                    f"{shown}:{ann_place(ann.id, None, index)}/image_id"
                    if not machine
                    else f"{shown}:{index}/image_id",
                    f"annotation {ann.id} refers to image id {ann.image_id!r}, which is not in"
                    " `images`",
                )
                continue
            ann.image_id = image
            if not _is_caption(ann):  # a caption's category (datumaro writes 0) means nothing
                category = categories.get(ann.category_id)
                if category is None:
                    name = self.coco.images[image].file_name
                    conv.problem(
                        "convert.class_unknown",
                        f"{shown}:{ann_place(ann.id, name, index)}/category_id"
                        if not machine
                        else f"{shown}:{index} (image {name})/category_id",
                        f"category id {ann.category_id!r} is not in `categories`",
                    )
                    continue
                ann.category_id = category
            if machine:
                # results rarely have ids: their place in the file names them, stably
                ann.id = f"{shown}:{index}"
                self.machine.add(id(ann))
            elif ann.id is not None and not _is_caption(ann):
                earlier = self.by_ann.setdefault((image, ann.id), ann)
                if earlier is not ann:
                    if self._same_object(earlier, ann):
                        continue
                    ann.id = f"{Path(shown).stem}:{ann.id}"  # another object under a used id
            out.append(ann)

    def _same_object(self, earlier: Annotation, ann: Annotation) -> bool:
        """COCO's person_keypoints file repeats the instances file's person annotations (same
        id, same image) with keypoints added: one object, whose keypoints join the first."""
        names = self.coco.categories
        # _annotations has replaced both category ids by their merged (int) index
        if names[cast(int, earlier.category_id)].name != names[cast(int, ann.category_id)].name:
            return False
        if ann.keypoints and not earlier.keypoints:
            earlier.keypoints = ann.keypoints
            earlier.category_id = ann.category_id  # the category that names the keypoints
        if ann.segmentation and not earlier.segmentation:
            earlier.segmentation = ann.segmentation
        return True


def _is_caption(ann: Annotation) -> bool:
    return (
        ann.caption is not None
        and ann.bbox is None
        and ann.segmentation is None
        and ann.keypoints is None
    )


def _read_folder(sources: list[Path], conv: Conversion) -> Iterator[Item]:
    """Every file of a folder, merged per subset, then yielded subset by subset."""
    subsets: dict[str, _Subset] = {}
    results: list[Path] = []
    files = []
    for source in sources:
        if _is_results(peek(source, 1 << 16)):
            results.append(source)
        elif not _is_panoptic(source, conv):
            files.append(source)
    files.sort(key=lambda f: (_ORDER.get(_task(f)[0], 5), f.name))
    gc.freeze()
    try:
        for source in files:
            coco = _decode(source, conv)
            if coco is None:
                continue
            name = _task(source)[1]
            root = source.parent.parent if source.parent.name == "annotations" else source.parent
            subset = subsets.get(name) or subsets.setdefault(name, _Subset(name, root))
            subset.add(coco, source.name, conv)
        for source in results:
            _add_results(source, list(subsets.values()), conv)
        conv.total_files = (conv.total_files or 0) + sum(
            len(s.coco.images) for s in subsets.values()
        )
        # the same file name in two subsets is two images: their keys name the subset
        seen: dict[str, int] = {}
        for subset in subsets.values():
            for image in subset.coco.images:
                seen[image.file_name] = seen.get(image.file_name, 0) + 1
        shared = {name for name, n in seen.items() if n > 1}
        for subset in subsets.values():
            yield from _items(subset.coco, None, conv, subset=subset, shared=shared)
    finally:
        gc.unfreeze()


def _add_results(source: Path, subsets: list[_Subset], conv: Conversion) -> None:
    data = read_bytes(source, conv, source.name)
    if data is None:
        return
    try:
        detections = decode_json(data, conv, source.name, list[Annotation])
    except msgspec.ValidationError as exc:
        conv.problem("convert.invalid", f"{source.name}:{validation_path(exc)}", str(exc))
        return
    if detections is None:
        return
    wanted = {d.image_id for d in detections}
    best = max(subsets, key=lambda s: len(wanted & s.by_source_id.keys()), default=None)
    if best is None or not wanted & best.by_source_id.keys():
        conv.problem(
            "convert.image_unknown",
            source.name,
            "a COCO results file names images by id only: import it from the folder that holds"
            " its ground-truth file (the one with `images`)",
        )
        return
    best.add_results(detections, source.name, conv)


def _items(
    coco: CocoFile,
    source: Path | None,
    conv: Conversion,
    *,
    subset: _Subset | None = None,
    shared: frozenset[str] | set[str] = frozenset(),
) -> Iterator[Item]:
    """The items of one file (`source`), or of a merged subset whose annotations were checked
    against their own files when merged."""
    shown = source.name if source is not None else ""
    categories: dict[Any, Category] = {c.id: c for c in coco.categories}
    conv.labels.extend(c.name for c in coco.categories if c.name not in conv.labels)
    # Annotations grouped by image by reference (8 bytes each); the index of an annotation is
    # only needed for a problem, so the rare bad ones are remembered by identity.
    by_image: dict[Any, list[Annotation]] = {image.id: [] for image in coco.images}
    shared_ids = _shared_ids(coco.images) if subset is None else {}
    # The index of the annotations that need theirs: without an id (it names them, as it does
    # results) or with an unknown category (its problem's place).
    index_of: dict[int, int] = {}
    for index, ann in enumerate(coco.annotations):
        group = by_image.get(ann.image_id)
        if group is None:
            conv.problem(
                "convert.image_unknown",
                f"{shown}:{ann_place(ann.id, None, index)}/image_id",
                f"annotation {ann.id} refers to image id {ann.image_id!r}, which is not in"
                " `images`",
            )
            continue
        group.append(ann)
        if ann.id is None or ann.category_id not in categories:
            index_of[id(ann)] = index
    coco.annotations = []  # the grouped references are all that is kept
    if subset is not None:
        folder = subset.root
        media_dirs: tuple[Path | None, ...] = (
            conv.media_dir, folder / "images" / subset.name, folder / subset.name,
            folder / "images", folder, folder / "annotations",
        )  # fmt: skip
        machine = subset.machine
    else:
        assert source is not None
        media_dirs = (conv.media_dir, source.parent, source.parent / "images", source.parent.parent)
        machine = set()
    for position, image in enumerate(coco.images):
        key = image.file_name
        if subset is not None and key in shared:
            key = f"{subset.name}/{key}"
        item = Item(
            name=image.file_name,
            source=subset.where[position]
            if subset is not None
            else f"{shown}:{image_place(image)}",
            width=image.width,
            height=image.height,
            key=f"coco:{key}",
        )
        item.media_path = find_media(image.file_name, *media_dirs)
        if item.media_path is None and image.coco_url:
            item.media_url = image.coco_url
        out: list[dict[str, Any]] = []
        item.instances = out
        # where each instance came from, for the problems found later (importer, server)
        item.places = places = []
        in_file = (shown or item.source.partition(":")[0]) + ":"
        name = image.file_name
        after_id = f"] (image {name})" if name else "]"  # ann_place's ending, for an int id
        if shared_ids and image.id in shared_ids:
            message = _shared_id_message(image.id, shared_ids[image.id])
            item.problems.append(_problem("convert.invalid", f"{item.source}/id", message))
            yield item  # none of the id's annotations: which image each is of is not known
            continue
        for ann in by_image.pop(image.id, ()):
            category = categories.get(ann.category_id)
            if (
                category is not None
                and ann.id is not None
                and ann.bbox is not None
                and (ann.segmentation is None or ann.segmentation == [])
                and ann.keypoints is None
                and ann.attributes is None
                and ann.score is None
                and not ann.iscrowd
                and ann.labelport_xyxy is None
                and (not machine or id(ann) not in machine)
            ):
                # the common case, a plain box (drawn by a person: it has no score), without
                # the general path's per-key work
                x, y, w, h = ann.bbox
                out.append({
                    "type": "box", "name": category.name,
                    "x_min": x, "y_min": y, "x_max": x + w, "y_max": y + h,
                    "id": f"coco:ann:{ann.id}", MACHINE_MADE: False,
                })  # fmt: skip
                places.append(
                    f"{in_file}annotations[id={ann.id}{after_id}"
                    if type(ann.id) is int
                    else in_file + ann_place(ann.id, name)
                )
                continue
            before = len(out)
            index = index_of.get(id(ann), -1)
            _convert(ann, index, categories, item, conv, shown, id(ann) in machine)
            if len(out) > before:
                place = in_file + ann_place(ann.id, name, index)
                places.extend([place] * (len(out) - before))
        yield item


def _convert(
    ann: Annotation,
    index: int,
    categories: dict[Any, Category],
    item: Item,
    conv: Conversion,
    shown: str,
    machine: bool = False,
) -> None:
    if _is_caption(ann):
        conv.lose(item, "caption")
        return
    category = categories.get(ann.category_id)
    if category is None:
        item.problems.append(
            _problem(
                "convert.class_unknown",
                f"{shown}:{ann_place(ann.id, item.name, index)}/category_id",
                f"category id {ann.category_id!r} is not in `categories`",
            )
        )
        return
    name = category.name
    ext = f"coco:ann:{ann.id}" if ann.id is not None else f"coco:annotations/{index}"
    common: dict[str, Any] = {}
    if machine:
        # a results file's detections; their ids (if any) are not those of the ground truth
        ext = f"coco:result:{ann.id}"
        common[MACHINE_MADE] = True
    if ann.score is not None:
        common["score"] = ann.score
    if ann.attributes:
        common[ATTRIBUTES] = dict(ann.attributes)
    if ann.iscrowd:
        conv.lose(item, "crowd_flag")
    out = item.instances
    assert out is not None  # _items gives every item a list first
    segmentation = ann.segmentation
    polygons = []
    for part, flat in enumerate(segmentation if isinstance(segmentation, list) else []):
        if len(flat) % 2:
            where = f"{shown}:{ann_place(ann.id, item.name, index)}/segmentation/{part}"
            message = f"a polygon is x, y pairs: this part has {len(flat)} numbers"
            item.problems.append(_problem("convert.invalid", where, message))
        elif len(flat) < 6:
            conv.lose(item, "polygon_too_few_points")  # a line or a point: not an area
        else:
            polygons.append(flat)
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


def _nodes(
    flat: list[float], category: Category, item: Item, conv: Conversion
) -> list[dict[str, Any]]:
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
