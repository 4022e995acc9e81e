"""Label Studio JSON export: a list of tasks, each with `data` (the media) and `annotations` /
`predictions`, each a `result` list. Percent coordinates become pixels (`original_width`,
`original_height`; else the image's own size). Annotations are human (`machine_made: false`);
predictions are machine made with their `model_version` as `model_ref` and their score.
Per-region choices / text (results sharing a region's id) become that region's attributes;
file-level choices become tags.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from labelport.convert.model import ATTRIBUTES, Conversion, Item, box, find_media
from labelport.convert.sources import load_json, peek
from labelport.format import Problem

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
_REGION_KEYS = {
    "rectanglelabels": "rectanglelabels", "polygonlabels": "polygonlabels",
    "keypointlabels": "keypointlabels", "ellipselabels": "ellipselabels",
    "videorectangle": "labels", "brushlabels": "brushlabels",
}  # fmt: skip


def detect(path: Path) -> bool:
    if path.is_dir() or path.suffix != ".json":
        return False
    head = peek(path, 1 << 14).lstrip()
    return (
        head.startswith(b"[")
        and b'"data"' in head
        and (b'"annotations"' in head or b'"predictions"' in head)
    )


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    tasks = load_json(path, conv)
    if tasks is None:
        return
    if not isinstance(tasks, list):
        conv.problem("convert.invalid", path.name, "a Label Studio export is a list of tasks")
        return
    conv.total_files = (conv.total_files or 0) + len(tasks)
    for index, task in enumerate(tasks):
        where = f"{path.name}:{index}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            conv.problem("convert.invalid", where, "a task needs a `data` object")
            continue
        yield _task(task, where, path.parent, conv)


def _media_ref(data: dict[str, Any]) -> tuple[str, str]:
    for key in ("image", "video", "img", "url"):
        if isinstance(data.get(key), str):
            return key, data[key]
    for key, value in data.items():
        if isinstance(value, str):
            return key, value
    return "image", ""


def _task(task: dict[str, Any], where: str, root: Path, conv: Conversion) -> Item:
    key, ref = _media_ref(task["data"])
    parsed = urlparse(ref)
    local = parse_qs(parsed.query).get("d", [None])[0] if "local-files" in ref else None
    name = Path(local or parsed.path).name or f"task-{task.get('id')}"
    media_type = "video" if key == "video" else "image"
    key = f"labelstudio:{task.get('id', where)}"
    item = Item(name=name, media_type=media_type, source=where, key=key)
    item.media_path = find_media(name, conv.media_dir, root, root / "images") or (
        find_media(_UPLOAD_PREFIX.sub("", name), conv.media_dir, root, root / "images")
    )
    if item.media_path is None and parsed.scheme in ("http", "https"):
        item.media_url = ref
    size = _size(task, item)
    frames: dict[int, list[dict[str, Any]]] = {}
    instances: list[dict[str, Any]] = []
    for kind in ("annotations", "predictions"):
        for n, block in enumerate(task.get(kind) or []):
            if not isinstance(block, dict) or block.get("was_cancelled"):
                continue
            common: dict[str, Any] = {"machine_made": kind == "predictions"}
            if kind == "predictions":
                if block.get("model_version"):
                    common["model_ref"] = str(block["model_version"])
                if isinstance(block.get("score"), int | float):
                    common["score"] = min(max(float(block["score"]), 0.0), 1.0)
            prefix = f"labelstudio:{task.get('id')}:{kind[:4]}:{block.get('id', n)}"
            results = block.get("result") or []
            _results(results, f"{where}/{kind}/{n}/result", prefix, common, size, item, conv,
                     instances, frames)  # fmt: skip
    if media_type == "video":
        item.frames = dict(sorted(frames.items()))
    else:
        item.instances = instances
    return item


def _size(task: dict[str, Any], item: Item) -> tuple[float, float] | None:
    for block in (task.get("annotations") or []) + (task.get("predictions") or []):
        for result in (block or {}).get("result") or []:
            if result.get("original_width") and result.get("original_height"):
                return float(result["original_width"]), float(result["original_height"])
    if item.media_path is not None and item.media_type == "image":
        from PIL import Image

        try:
            with Image.open(item.media_path) as im:
                return float(im.size[0]), float(im.size[1])
        except OSError:
            return None
    return None


def _results(
    results: list[Any],
    where: str,
    prefix: str,
    common: dict[str, Any],
    size: tuple[float, float] | None,
    item: Item,
    conv: Conversion,
    instances: list[dict[str, Any]],
    frames: dict[int, list[dict[str, Any]]],
) -> None:
    regions: dict[str, list[dict[str, Any]]] = {}
    extras: list[tuple[int, dict[str, Any]]] = []
    for index, result in enumerate(results):
        if not isinstance(result, dict) or not isinstance(result.get("value"), dict):
            item.problems.append(Problem("convert.invalid", f"{where}/{index}", "not a result"))
            continue
        kind = result.get("type")
        if kind in _REGION_KEYS:
            try:
                made = _region(result, f"{where}/{index}", size, item, conv)
            except (KeyError, TypeError, ValueError) as exc:
                item.problems.append(
                    Problem("convert.invalid", f"{where}/{index}", f"a {kind} result: {exc!r}")
                )
                continue
            for k, (frame, inst) in enumerate(made):
                inst.update(common)
                inst["id"] = f"{prefix}:{result.get('id', index)}" + (f":{k}" if k else "")
                regions.setdefault(str(result.get("id", index)), []).append(inst)
                (frames.setdefault(frame, []) if frame is not None else instances).append(inst)
        else:
            extras.append((index, result))
    for index, result in extras:
        value, name = result["value"], result.get("from_name", result.get("type"))
        linked = regions.get(str(result.get("id")))
        payload = value.get("choices", value.get("text", value.get("rating", value.get("number"))))
        if isinstance(payload, list) and len(payload) == 1 and result.get("type") != "choices":
            payload = payload[0]
        if linked and payload is not None:
            for inst in linked:
                inst.setdefault(ATTRIBUTES, {})[name] = payload
        elif result.get("type") == "choices" and item.media_type == "image":
            for choice in value.get("choices") or []:
                tag_id = f"{prefix}:{result.get('id', index)}:{choice}"
                instances.append({"type": "tag", "name": choice, **common, "id": tag_id})
        else:
            conv.lose(item, "caption")


def _region(
    result: dict[str, Any],
    where: str,
    size: tuple[float, float] | None,
    item: Item,
    conv: Conversion,
) -> list[tuple[int | None, dict[str, Any]]]:
    value = result["value"]
    kind = result["type"]
    names = value.get(_REGION_KEYS[kind]) or []
    if kind == "brushlabels":
        conv.lose(item, "rle_mask")
        return []
    if not names:
        item.problems.append(Problem("convert.invalid", where, f"a {kind} result has no label"))
        return []
    if size is None:
        item.problems.append(
            Problem(
                "convert.invalid",
                where,
                "no original_width/original_height and the image was not found: percent"
                " coordinates cannot be turned into pixels",
            )
        )
        return []
    w, h = size
    name = names[0]
    if kind == "videorectangle":
        out = []
        for step in value.get("sequence") or []:
            if not step.get("enabled", True):
                continue
            x, y = step["x"] * w / 100, step["y"] * h / 100
            bw, bh = step["width"] * w / 100, step["height"] * h / 100
            out.append((int(step["frame"]) - 1, box(name, x, y, x + bw, y + bh)))
        return out
    if kind == "polygonlabels":
        points = [{"x": px * w / 100, "y": py * h / 100} for px, py in value.get("points") or []]
        return [(None, {"type": "polygon", "name": name, "points": points})]
    if kind == "keypointlabels":
        point = {"x": value["x"] * w / 100, "y": value["y"] * h / 100}
        return [(None, {"type": "point", "name": name, "points": [point]})]
    if kind == "ellipselabels":
        return [(None, {"type": "ellipse", "name": name, "center_x": value["x"] * w / 100,
                        "center_y": value["y"] * h / 100, "width": value["radiusX"] * w / 100,
                        "height": value["radiusY"] * h / 100,
                        "rotation": math.radians(value.get("rotation") or 0)})]  # fmt: skip
    x, y = value["x"] * w / 100, value["y"] * h / 100
    bw, bh = value["width"] * w / 100, value["height"] * h / 100
    rotation = value.get("rotation") or 0
    if rotation:  # Label Studio rotates about the top-left corner
        conv.lose(item, "rotation")
        a = math.radians(rotation)
        cos, sin = math.cos(a), math.sin(a)
        corners = ((0, 0), (bw, 0), (bw, bh), (0, bh))
        points = [
            {"x": x + dx * cos - dy * sin, "y": y + dx * sin + dy * cos} for dx, dy in corners
        ]
        return [(None, {"type": "polygon", "name": name, "points": points})]
    return [(None, box(name, x, y, x + bw, y + bh))]
