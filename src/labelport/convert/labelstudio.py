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
from typing import Any, overload
from urllib.parse import parse_qs, quote, urlparse

import msgspec

from labelport.convert.model import (
    ATTRIBUTES,
    Conversion,
    Item,
    box,
    find_media,
    finite_numbers,
)
from labelport.convert.sources import load_json, peek
from labelport.format import Problem

# Exact pixel values beside the percents, written only where the percents cannot give the
# float back (see `_percent`); Label Studio keeps unknown keys of a value as they are.
EXACT = "labelport_px"
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
    places: list[str] = []  # each image instance's result, for the problems found later
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
                     instances, frames, places)  # fmt: skip
    if media_type == "video":
        item.frames = dict(sorted(frames.items()))
    else:
        item.instances, item.places = instances, places
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
    places: list[str],
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
            score = result.get("score")
            for k, (frame, inst) in enumerate(made):
                inst.update(common)
                # a prediction's regions may each carry their own score (the block's is overall)
                if common.get("machine_made") and isinstance(score, int | float):
                    inst["score"] = min(max(float(score), 0.0), 1.0)
                inst["id"] = f"{prefix}:{result.get('id', index)}" + (f":{k}" if k else "")
                regions.setdefault(str(result.get("id", index)), []).append(inst)
                if frame is not None:
                    frames.setdefault(frame, []).append(inst)
                else:
                    instances.append(inst)
                    places.append(f"{where}/{index}")
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
                places.append(f"{where}/{index}")
        else:
            conv.lose(item, "caption")


def _region(
    result: dict[str, Any],
    where: str,
    size: tuple[float, float] | None,
    item: Item,
    conv: Conversion,
) -> list[tuple[int | None, dict[str, Any]]]:
    made = _percent_region(result, where, size, item, conv)
    exact = result["value"].get(EXACT)
    if isinstance(exact, dict) and len(made) == 1 and made[0][0] is None:
        made[0][1].update(_exact(made[0][1], exact))
    return made


def _exact(inst: dict[str, Any], exact: dict[str, Any]) -> dict[str, Any]:
    """The pixel values labelport's writer left where percents cannot give the float back;
    used only while they agree with the percents (a region moved in Label Studio keeps the
    stale key, and then the percents win)."""
    out: dict[str, Any] = {}
    for key, value in exact.items():
        mine = inst.get(key)
        if key == "points" and isinstance(value, list) and isinstance(mine, list):
            pairs = list(zip(mine, value, strict=False))
            if len(value) == len(mine) and all(
                isinstance(v, list) and len(v) == 2 and finite_numbers(v)
                and _near(p["x"], v[0]) and _near(p["y"], v[1]) for p, v in pairs
            ):  # fmt: skip
                out[key] = [{"x": float(v[0]), "y": float(v[1])} for v in value]
            else:
                return {}
        elif isinstance(mine, float | int) and finite_numbers([value]) and _near(mine, value):
            out[key] = float(value)
        else:
            return {}
    return out


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a))


def _percent_region(
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
        out: list[tuple[int | None, dict[str, Any]]] = []
        for step in value.get("sequence") or []:
            # `enabled: false` ends the region's lifespan after this keyframe; the box is still
            # on the keyframe's own frame
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


# --- writer ------------------------------------------------------------------------------------


def write(export: Any, out_dir: Path) -> Path:
    """`tasks.json`: one task per image or video, people's instances as one annotation and each
    model's (by `model_ref`) as a prediction with its score. Media is named as Label Studio's
    local-files storage serves it (`/data/local-files/?d=images/NAME`, the document root being
    the export folder)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "tasks.json"
    encode = msgspec.json.Encoder().encode
    groups = {str(g["id"]): g for g in export.attribute_groups}
    with open(target, "wb") as out:
        out.write(b"[")
        first = True
        for n, f in enumerate(export.files(), start=1):
            task = _write_task(export, f, n, groups)
            if task is None:
                continue
            out.write((b"" if first else b",\n") + encode(task))
            first = False
        out.write(b"]\n")
    return target


def _write_task(export: Any, f: Any, n: int, groups: dict[str, Any]) -> dict[str, Any] | None:
    kind = f.file["media_type"]
    if kind not in ("image", "video"):
        export.lose("type_not_in_format", len(f.instances))
        return None
    width, height = float(f.file["width"] or 0), float(f.file["height"] or 0)
    annotation: list[dict[str, Any]] = []
    predictions: dict[str | None, list[dict[str, Any]]] = {}
    scores: dict[str | None, list[float]] = {}
    if kind == "video":
        results = _video_results(export, f, width, height)
    else:
        results = []
        for inst in f.instances:
            made = _image_results(export, inst, width, height, groups)
            results.extend((inst, r) for r in made)
    for inst, result in results:
        if inst.get("machine_made"):
            ref = inst.get("model_ref")
            if inst.get("score") is not None:
                result["score"] = inst["score"]
                scores.setdefault(ref, []).append(inst["score"])
            predictions.setdefault(ref, []).append(result)
        else:
            annotation.append(result)
    data_key = "video" if kind == "video" else "image"
    task: dict[str, Any] = {
        "id": n,
        "data": {data_key: f"/data/local-files/?d=images/{quote(f.media_name)}"},
        "annotations": [{"id": n, "result": annotation}] if annotation else [],
        "predictions": [
            _prediction(ref, made, scores.get(ref)) for ref, made in predictions.items()
        ],
    }
    return task


def _prediction(ref: str | None, results: list[Any], scores: list[float] | None) -> dict[str, Any]:
    block: dict[str, Any] = {"model_version": ref or "", "result": results}
    if scores:  # the block's score: its regions' mean (each region keeps its own)
        block["score"] = sum(scores) / len(scores)
    return block


def _region_id(inst: dict[str, Any]) -> str:
    return f"lp{inst['id']}"


def _image_results(
    export: Any, inst: dict[str, Any], w: float, h: float, groups: dict[str, Any]
) -> list[dict[str, Any]]:
    name, kind = inst.get("label_name"), inst["type"]
    if name is None or not w or not h:
        export.lose("type_not_in_format")
        return []
    rid = _region_id(inst)
    base = {"id": rid, "from_name": "label", "to_name": "image",
            "original_width": int(w), "original_height": int(h), "image_rotation": 0}  # fmt: skip
    exact: dict[str, Any] = {}
    if kind == "box":
        x = _percent(inst["x_min"], w, exact, "x_min")
        y = _percent(inst["y_min"], h, exact, "y_min")
        # the reader adds the width to its own x (which may be a few ulps off x_min)
        bw = _percent(inst["x_max"], w, exact, "x_max", base=x * w / 100)
        bh = _percent(inst["y_max"], h, exact, "y_max", base=y * h / 100)
        value = {"x": x, "y": y, "width": bw, "height": bh, "rotation": 0,
                 "rectanglelabels": [name]}  # fmt: skip
        out: dict[str, Any] = {**base, "type": "rectanglelabels", "value": value}
    elif kind == "polygon":
        points, lost = [], False
        for p in inst["points"]:
            px, py = _percent(p["x"], w), _percent(p["y"], h)
            lost |= px is None or py is None
            points.append([px if px is not None else p["x"] * 100 / w,
                           py if py is not None else p["y"] * 100 / h])  # fmt: skip
        if lost:
            exact["points"] = [[p["x"], p["y"]] for p in inst["points"]]
        value = {"points": points, "closed": True, "polygonlabels": [name]}
        out = {**base, "type": "polygonlabels", "value": value}
    elif kind == "point":
        p = inst["points"][0]
        px, py = _percent(p["x"], w), _percent(p["y"], h)
        if px is None or py is None:
            exact["points"] = [[p["x"], p["y"]]]
        value = {
            "x": px if px is not None else p["x"] * 100 / w,
            "y": py if py is not None else p["y"] * 100 / h,
            "keypointlabels": [name],
        }
        out = {**base, "type": "keypointlabels", "value": value}
    elif kind == "ellipse":
        value = {"x": _percent(inst["center_x"], w, exact, "center_x"),
                 "y": _percent(inst["center_y"], h, exact, "center_y"),
                 "radiusX": _percent(inst["width"], w, exact, "width"),
                 "radiusY": _percent(inst["height"], h, exact, "height"),
                 "rotation": math.degrees(inst.get("rotation") or 0.0),
                 "ellipselabels": [name]}  # fmt: skip
        out = {**base, "type": "ellipselabels", "value": value}
    elif kind == "tag":
        return [{"id": rid, "from_name": "choice", "to_name": "image", "type": "choices",
                 "value": {"choices": [name]}}]  # fmt: skip
    else:
        export.lose("type_not_in_format")
        return []
    if exact:
        out["value"][EXACT] = exact
    made = [out]
    attributes = export.attribute_names(inst.get("attribute_groups") or {}, groups)
    kinds = {g["name"]: g["kind"] for g in groups.values()}
    for attr, payload in attributes.items():
        made.append(_attribute_result(rid, attr, payload, kinds.get(attr, "text")))
    return made


def _attribute_result(rid: str, name: str, payload: Any, kind: str) -> dict[str, Any]:
    common = {"id": rid, "from_name": name, "to_name": "image"}
    if kind in ("select", "radio", "multiple_select"):
        choices = payload if isinstance(payload, list) else [payload]
        return {**common, "type": "choices", "value": {"choices": [str(c) for c in choices]}}
    if kind == "slider" and isinstance(payload, int | float) and not isinstance(payload, bool):
        return {**common, "type": "number", "value": {"number": payload}}
    return {**common, "type": "textarea", "value": {"text": [str(payload)]}}


def _video_results(
    export: Any, f: Any, w: float, h: float
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    tracks: dict[tuple[str, int, bool], list[dict[str, Any]]] = {}
    for inst in f.instances:
        if inst["type"] != "box" or inst.get("label_name") is None or inst.get("frame") is None:
            export.lose("type_not_in_format")  # Label Studio's video regions are rectangles
            continue
        key = (inst["label_name"], inst["number"] or 1, bool(inst.get("machine_made")))
        tracks.setdefault(key, []).append(inst)
    out = []
    for (name, number, _machine), instances in sorted(tracks.items()):
        instances.sort(key=lambda i: i["frame"])
        frames = {i["frame"] for i in instances}
        sequence = []
        for inst in instances:
            if inst.get("attribute_groups"):
                export.lose("attribute_without_group")
            sequence.append({
                "frame": inst["frame"] + 1,  # Label Studio counts frames from 1
                # a keyframe followed by no instance ends the region's lifespan there
                "enabled": inst["frame"] + 1 in frames,
                "x": _video_percent(export, inst["x_min"], w),
                "y": _video_percent(export, inst["y_min"], h),
                "width": _video_percent(export, inst["x_max"], w, inst["x_min"]),
                "height": _video_percent(export, inst["y_max"], h, inst["y_min"]),
                "rotation": 0,
            })  # fmt: skip
        result = {"id": f"lp{name}-{number}", "from_name": "box", "to_name": "video",
                  "type": "videorectangle", "origin": "manual",
                  "original_width": int(w), "original_height": int(h),
                  "value": {"sequence": sequence, "labels": [name],
                            "framesCount": f.file["frame_count"]}}  # fmt: skip
        out.append((instances[0], result))
    return out


def _video_percent(export: Any, target: float, size: float, base: float = 0.0) -> float:
    # video regions are read back frame by frame from the sequence: no room for exact pixels
    found = _percent(target, size, base=base)
    if found is None:
        export.lose("rounding")
        return (target - base) * 100 / size
    return found


@overload
def _percent(
    target: float, size: float, exact: dict[str, Any], key: str = "", base: float = 0.0
) -> float: ...
@overload
def _percent(
    target: float, size: float, exact: None = None, key: str = "", base: float = 0.0
) -> float | None: ...
def _percent(
    target: float,
    size: float,
    exact: dict[str, Any] | None = None,
    key: str = "",
    base: float = 0.0,
) -> float | None:
    """The percent p for which the reader's `base + p * size / 100` is `target` to the bit; a
    few floats either side of the plain quotient are tried. When none does it, the plain
    quotient is returned and the pixel value goes into `exact[key]` (or None without `exact`)."""
    plain = (target - base) * 100 / size
    for candidate in _around(plain):
        if base + candidate * size / 100 == target:
            return candidate
    if exact is None:
        return None
    exact[key] = target
    return plain


def _around(plain: float) -> Iterator[float]:
    yield plain
    up = down = plain
    for _ in range(32):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        yield up
        yield down
