"""Diffgram's export JSON: `{file id: {file, image|video|..., instance_list, sequence_list}}`
beside `label_map`, `attribute_groups_reference` and `export_info`.

labelport writes the same shape without Diffgram's round-trip gaps: machine_made, model and run
references, score, audio times, keypoints, text tokens, 3D and geo shapes, external ids and
attribute values (named through the reference) all survive a write and a read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from labelport.convert.model import ATTRIBUTES, AttributeSpec, Conversion, Item, find_media
from labelport.convert.sources import load_json, peek

MEDIA_KEYS = ("image", "video", "text", "audio", "point_cloud", "geo")
# Keys of an exported instance that name rows of the exporting project: never sent on.
_PROJECT_KEYS = frozenset(
    {
        "id", "file_id", "label_id", "label_file_id", "label_file", "label_name", "sequence_id",
        "model_id", "model_run_id", "frame", "frame_number", "external_id", "attribute_groups",
        "created_time", "hash", "version", "status", "import_id", "content_hash",
    }
)  # fmt: skip
_NOT_FILES = frozenset({"readme", "label_map", "export_info", "attribute_groups_reference",
                        "label_colour_map"})  # fmt: skip


def detect(path: Path) -> bool:
    if path.is_dir() or path.suffix != ".json":
        return False
    head = peek(path, 1 << 14)
    return b'"label_map"' in head or b'"export_info"' in head


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    data = load_json(path, conv)
    if data is None:
        return
    shown = path.name
    if not isinstance(data, dict):
        conv.problem("convert.invalid", shown, "a Diffgram export is a JSON object")
        return
    label_map = {str(k): v for k, v in (data.get("label_map") or {}).items()}
    groups = _groups(data.get("attribute_groups_reference"), conv)
    entries = [(k, v) for k, v in data.items() if k not in _NOT_FILES]
    conv.total_files = (conv.total_files or 0) + len(entries)
    for key, entry in entries:
        where = f"{shown}:{key}"
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), dict):
            conv.problem("convert.invalid", where, "a file entry needs a `file` object")
            continue
        yield _item(entry, where, label_map, groups, path.parent, conv)


def _groups(reference: Any, conv: Conversion) -> dict[str, dict[str, Any]]:
    items = reference.values() if isinstance(reference, dict) else reference or []
    groups = {}
    for group in items:
        if not isinstance(group, dict) or "id" not in group:
            continue
        groups[str(group["id"])] = group
        options = [o.get("name") for o in group.get("options") or [] if isinstance(o, dict)]
        conv.attribute_specs[group.get("name") or str(group["id"])] = AttributeSpec(
            name=group.get("name") or str(group["id"]),
            kind=group.get("kind", "text"),
            options=[o for o in options if o],
            min_value=group.get("min_value"),
            max_value=group.get("max_value"),
        )
    return groups


def _item(
    entry: dict[str, Any],
    where: str,
    label_map: dict[str, str],
    groups: dict[str, Any],
    root: Path,
    conv: Conversion,
) -> Item:
    info = entry["file"]
    media_type = info.get("type") or next((k for k in MEDIA_KEYS if k in entry), "image")
    name = info.get("media_name") or info.get("original_filename") or f"file-{info.get('id')}"
    item = Item(name=name, media_type=media_type, source=where, key=f"diffgram:{name}")
    media = entry.get(media_type) or {}
    item.width, item.height = media.get("width"), media.get("height")
    item.media_path = find_media(name, conv.media_dir, root, root / "media")
    if item.media_path is None and isinstance(info.get("blob_url"), str):
        item.media_url = info["blob_url"]
    if media_type == "video":
        frames: dict[int, list[dict[str, Any]]] = {}
        loose = list(entry.get("instance_list") or [])
        for sequence in entry.get("sequence_list") or []:
            for inst in sequence.get("instance_list") or []:
                inst.setdefault("number", sequence.get("number"))
                loose.append(inst)
        for inst in loose:
            frame = inst.get("frame_number", inst.get("frame"))
            frames.setdefault(int(frame or 0), []).append(
                _instance(inst, label_map, groups, item, conv)
            )
        item.frames = dict(sorted(frames.items()))
    else:
        item.instances = [
            _instance(inst, label_map, groups, item, conv)
            for inst in entry.get("instance_list") or []
        ]
    return item


def _instance(
    inst: dict[str, Any],
    label_map: dict[str, str],
    groups: dict[str, Any],
    item: Item,
    conv: Conversion,
) -> dict[str, Any]:
    out = {k: v for k, v in inst.items() if k not in _PROJECT_KEYS and v is not None}
    name = inst.get("label_name") or inst.get("name")
    if name is None and inst.get("label_file_id") is not None:
        name = label_map.get(str(inst["label_file_id"]))
    if name is None and isinstance(inst.get("label_file"), dict):
        name = (inst["label_file"].get("label") or {}).get("name")
    if name is not None:
        out["name"] = name
    if "external_id" in inst:  # labelport's own export: the caller's id, or none
        if inst["external_id"] is not None:
            out["id"] = inst["external_id"]
    elif inst.get("id") is not None:  # Diffgram's: its instance id, kept as an external id
        out["id"] = f"diffgram:{inst['id']}"
    values = inst.get("attribute_groups") or {}
    if values:
        named: dict[str, Any] = {}
        for key, value in values.items():
            group = groups.get(str(key))
            if group is None:
                conv.lose(item, "attribute_without_group")
                continue
            named[group.get("name") or str(key)] = _value_name(group, value)
        if named:
            out[ATTRIBUTES] = named
    return out


def _value_name(group: dict[str, Any], value: Any) -> Any:
    options = {o.get("id"): o.get("name") for o in group.get("options") or []}

    def one(v: Any) -> Any:
        return options.get(v.get("id") if isinstance(v, dict) else v, v)

    if group.get("kind") in ("select", "radio"):
        return one(value)
    if group.get("kind") == "multiple_select" and isinstance(value, list):
        return [one(v) for v in value]
    return value


# -- write -----------------------------------------------------------------------------------

_MEDIA_INFO = {
    "image": ("width", "height"),
    "video": ("width", "height", "frame_count", "fps", "duration"),
    "audio": ("duration",),
    "text": ("token_count",),
    "point_cloud": (),
    "geo": (),
}
_DROP = ("label_id", "file_id", "frame", "sequence_id")


def write(export: Any, out_dir: Path) -> Path:
    """`export.json`, streamed file by file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "export.json"
    encode = msgspec.json.Encoder().encode
    labels = {label["id"]: label["name"] for label in export.labels}
    with open(target, "wb") as out:
        header = {
            "readme": "labelport export in Diffgram's shape; `external_id` is the caller's id",
            "export_info": {"project": export.project.string_id, "created_by": "labelport"},
            "label_map": {str(k): v for k, v in labels.items()},
            "attribute_groups_reference": export.attribute_groups,
        }
        out.write(encode(header)[:-1])
        for f in export.files():
            out.write(b"," + encode(str(f.file["id"])) + b":" + encode(_entry(f)))
        out.write(b"}")
    return target


def _entry(f: Any) -> dict[str, Any]:
    kind = f.file["media_type"]
    entry: dict[str, Any] = {
        "file": {
            "id": f.file["id"],
            "original_filename": f.file["original_filename"],
            "media_name": f.media_name,
            "type": kind,
            "sha256": f.file["sha256"],
        },
        kind: {k: f.file[k] for k in _MEDIA_INFO.get(kind, ())},
    }
    instances = [_exported(inst) for inst in f.instances]
    if kind != "video":
        entry["instance_list"] = instances
        return entry
    by_sequence: dict[int, list[dict[str, Any]]] = {}
    loose = []
    for inst, raw in zip(instances, f.instances, strict=True):
        if raw["sequence_id"] is None:
            loose.append(inst)
        else:
            by_sequence.setdefault(raw["sequence_id"], []).append(inst)
    entry["instance_list"] = loose
    entry["sequence_list"] = [
        {
            "id": s["id"],
            "label_file_id": s["label_id"],
            "label_name": s["label_name"],
            "number": s["number"],
            "keyframe_list": {"frame_number_list": s["keyframes"]},
            "instance_list": by_sequence.get(s["id"], []),
        }
        for s in f.sequences
    ]
    return entry


def _exported(inst: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in inst.items() if k not in _DROP}
    out["label_file_id"] = inst["label_id"]
    if inst["frame"] is not None:
        out["frame_number"] = inst["frame"]
    return out
