"""Turn checked instance structs into instance rows (INSTANCE_COLUMNS order) without dicts between.

This is the hot path of a million-box import: one tuple per instance, built by a per-type
function chosen once per instance type, so a box costs a few attribute reads (and one digest when
its file has rows it may be compared with).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from labelport.store.plan import NO_DIGEST, Resolved

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


@functools.cache  # per type, once per process: msgspec's fields() evaluates annotations (~0.4 ms)
def geometry_fields(struct_type: type) -> tuple[tuple[str, str], ...]:
    """(attribute, key as sent) of each geometric field: a relation's `from_` is sent as `from`."""
    return tuple(
        (f.name, f.encode_name)
        for f in msgspec.structs.fields(struct_type)
        if f.name not in COMMON_FIELDS and f.name not in BOX_FIELDS
    )


def geometry_json(instance: Any, fields: tuple[tuple[str, str], ...]) -> str | None:
    geometry = {
        key: value for name, key in fields if (value := getattr(instance, name)) is not None
    }
    return _encode(geometry).decode() if geometry else None


_pack = msgspec.msgpack.Encoder().encode
_digest = hashlib.blake2b


def content_hash(row_without_hash: tuple[Any, ...]) -> str:
    """A 64-bit digest of the row's msgpack bytes: equal rows give equal hashes in every process.

    Python's own hash() would not do: before 3.12, hash(None) is the address of None, so rows
    hashed by two processes (a rerun, a server restart) would never match.
    Ids that the store assigns (sequence, model, run) are part of the content on purpose: the same
    box moved to another track is a changed instance.
    """
    return _digest(_pack(row_without_hash), digest_size=8).hexdigest()


class RowBuilder:
    """Builds the rows of one import once the store has resolved sequence/model ids.

    `digest=False` leaves every row's `content_hash` at NO_DIGEST: for a file's first import,
    whose rows meet no existing rows. The store may also ask for no digest per write
    (`Resolved.digest`) when it finds nothing to merge with; a row is hashed only if both want it.
    """

    def __init__(
        self,
        instances: Iterable[tuple[int | None, int, Any]],
        label_ids: dict[str, int],
        model_ref_of_id: dict[int, str],
        *,
        digest: bool = True,
    ) -> None:
        self._instances = instances
        self._label_ids = label_ids  # name -> id; `label_file_id` supersedes the name
        self._model_ref_of_id = model_ref_of_id
        self.digest = digest
        # per struct type: its `type` tag and its geometric fields
        self._shapes: dict[type, tuple[str, tuple[tuple[str, str], ...]]] = {}

    def __call__(self, resolved: Resolved) -> Iterator[tuple[Any, ...]]:
        seq_ids = resolved.sequence_ids
        label_ids = self._label_ids
        shapes = self._shapes
        hashing = self.digest and resolved.digest
        pack, digest, no_digest = _pack, _digest, NO_DIGEST
        for frame, _index, inst in self._instances:
            shape = shapes.get(type(inst))
            if shape is None:
                fields_of = geometry_fields(type(inst))  # type: ignore[arg-type]  # a class hashes
                shape = shapes[type(inst)] = (instance_type(inst), fields_of)
            kind, fields = shape
            label_id = inst.label_file_id
            if label_id is None and inst.name is not None:
                label_id = label_ids.get(inst.name)
            sequence_id = None
            if frame is not None and label_id is not None:
                sequence_id = inst.sequence_id or seq_ids.get((label_id, inst.number or 1))
            if inst.model_ref is None and inst.model_id is None and inst.model_run_id is None:
                model_id = model_run_id = None
            else:
                model_id, model_run_id = self._models(inst, resolved)
            attributes = inst.attribute_groups
            external_id = inst.id
            row: tuple[Any, ...]
            if kind == "box":  # the common case, spelled out: no geometry JSON, no spread
                row = (
                    frame, label_id, sequence_id, "box", inst.machine_made is not False,
                    model_id, model_run_id, inst.score,
                    inst.x_min, inst.y_min, inst.x_max, inst.y_max,
                    None,
                    _encode(attributes).decode() if attributes else None,
                    None if external_id is None else str(external_id),
                    no_digest,
                )  # fmt: skip
            else:
                row = (
                    frame, label_id, sequence_id, kind, inst.machine_made is not False,
                    model_id, model_run_id, inst.score,
                    None, None, None, None,
                    geometry_json(inst, fields) if fields else None,
                    _encode(attributes).decode() if attributes else None,
                    None if external_id is None else str(external_id),
                    no_digest,
                )  # fmt: skip
            if hashing:  # content_hash, inlined: this loop runs once per instance
                content = row[:-1]
                row = (*content, digest(pack(content), digest_size=8).hexdigest())
            yield row

    def _models(self, inst: Any, resolved: Resolved) -> tuple[int | None, int | None]:
        model_ref = inst.model_ref
        if model_ref is None and inst.model_id is not None:
            model_ref = self._model_ref_of_id.get(inst.model_id)
        model_id = resolved.model_ids.get(model_ref) if model_ref is not None else inst.model_id
        model_run_id = inst.model_run_id
        if inst.model_run_ref is not None and model_ref is not None:
            model_run_id = resolved.model_run_ids.get((model_ref, inst.model_run_ref))
        return model_id, model_run_id
