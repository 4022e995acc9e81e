"""Turn checked instance structs into instance rows (INSTANCE_COLUMNS order) without dicts between.

This is the hot path of a million-box import: one tuple per instance, built by a per-type
function chosen once per instance type, so a box costs a few attribute reads and one hash.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from labelport.store.plan import Resolved

# Keys every instance type shares; everything else a struct declares is its geometry.
COMMON_FIELDS = frozenset(
    {
        "name",
        "label_file_id",
        "number",
        "sequence_id",
        "machine_made",
        "model_ref",
        "model_run_ref",
        "model_id",
        "model_run_id",
        "score",
        "attribute_groups",
        "id",
        "frame_number",
    }
)
BOX_FIELDS = ("x_min", "y_min", "x_max", "y_max")

_encode = msgspec.json.Encoder(order="deterministic").encode


def instance_type(instance: Any) -> str:
    """The `type` tag of an instance struct (msgspec keeps tags in the struct config)."""
    return instance.__struct_config__.tag


def geometry_fields(struct_type: type) -> tuple[str, ...]:
    return tuple(
        f for f in struct_type.__struct_fields__ if f not in COMMON_FIELDS and f not in BOX_FIELDS
    )


def geometry_json(instance: Any, fields: tuple[str, ...]) -> str | None:
    geometry = {f: getattr(instance, f) for f in fields if getattr(instance, f) is not None}
    return _encode(geometry).decode() if geometry else None


def _stable_str_hash(text: str | None) -> int:
    # str hashes are salted per process; crc32 is stable and fast, and only feeds the tuple hash.
    return 0 if text is None else zlib.crc32(text.encode())


def content_hash(row_without_hash: tuple[Any, ...]) -> str:
    """Stable across processes: numbers/bools/None hash deterministically, strings go through crc32.

    Ids that the store assigns (sequence, model, run) are part of the content on purpose: the same
    box moved to another track is a changed instance.
    """
    parts = tuple(_stable_str_hash(v) if isinstance(v, str) else v for v in row_without_hash)
    return format(hash(parts) & 0xFFFFFFFFFFFFFFFF, "016x")


class RowBuilder:
    """Builds the rows of one import once the store has resolved sequence/model ids."""

    def __init__(
        self,
        instances: Iterable[tuple[int | None, int, Any]],
        label_id_of: Callable[[Any], int | None],
        model_ref_of_id: dict[int, str],
    ) -> None:
        self._instances = instances
        self._label_id_of = label_id_of
        self._model_ref_of_id = model_ref_of_id
        self._geometry: dict[type, tuple[str, ...]] = {}

    def __call__(self, resolved: Resolved) -> Iterator[tuple[Any, ...]]:
        seq_ids = resolved.sequence_ids
        model_ids = resolved.model_ids
        run_ids = resolved.model_run_ids
        geometry_cache = self._geometry
        label_id_of = self._label_id_of
        for frame, _index, inst in self._instances:
            kind = inst.__struct_config__.tag
            label_id = label_id_of(inst)
            sequence_id = None
            if frame is not None and label_id is not None:
                sequence_id = inst.sequence_id or seq_ids.get((label_id, inst.number or 1))
            model_ref = inst.model_ref
            if model_ref is None and inst.model_id is not None:
                model_ref = self._model_ref_of_id.get(inst.model_id)
            model_id = model_ids.get(model_ref) if model_ref is not None else inst.model_id
            model_run_id = inst.model_run_id
            if inst.model_run_ref is not None and model_ref is not None:
                model_run_id = run_ids.get((model_ref, inst.model_run_ref))
            if kind == "box":
                box = (inst.x_min, inst.y_min, inst.x_max, inst.y_max)
            else:
                box = (None, None, None, None)
            fields = geometry_cache.get(type(inst))
            if fields is None:
                fields = geometry_cache[type(inst)] = geometry_fields(type(inst))
            geometry = geometry_json(inst, fields) if fields else None
            attributes = inst.attribute_groups
            attributes_json = _encode(attributes).decode() if attributes else None
            row = (
                frame,
                label_id,
                sequence_id,
                kind,
                inst.machine_made is not False,
                model_id,
                model_run_id,
                inst.score,
                *box,
                geometry,
                attributes_json,
                None if inst.id is None else str(inst.id),
            )
            yield (*row, content_hash(row))
