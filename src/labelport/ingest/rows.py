"""Turn checked instance structs into instance rows (INSTANCE_COLUMNS order) without dicts between.

This is the hot path of a million-box import: one tuple per instance, built by a per-type
function chosen once per instance type, so a box costs a few attribute reads (and one digest when
its file has rows it may be compared with). A video frame of plain boxes is held as columns
(`BoxColumns`) from the job's start instead, and its rows are zipped from them in C.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Iterable, Iterator
from itertools import repeat
from operator import attrgetter
from typing import Any

import msgspec

from labelport.format import Box, MediaInfo, Packet, iter_instances, label_id_of, located_lists
from labelport.format.problems import RejectedIndexes
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


class BoxColumns:
    """A video frame's checked boxes as columns: what their rows need and nothing else.

    A million `Box` structs cost ~263 MiB (a 16-slot struct and four float objects a box); as
    columns ~32 MiB (the coordinates as doubles; the name, number and machine_made columns one
    tuple shared by every frame that repeats them). The job keeps a packet's frames this way
    from its start to its write (`compact_frames`), so the decoded packet is not held whole
    while the media is fetched and probed and the rows are written. Iterating gives the boxes
    back as structs, for any reader that wants instances."""

    __slots__ = ("coordinates", "machine_made", "names", "numbers")

    names: tuple[str, ...]
    numbers: tuple[int, ...]
    machine_made: tuple[bool, ...]
    # x_min of every box, then y_min, x_max, y_max: doubles in one buffer, not float objects.
    coordinates: bytes

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[Box]:
        return iter(self.boxes())

    def column(self, index: int) -> memoryview[float]:
        """x_min (0), y_min (1), x_max (2) or y_max (3) of every box, in order."""
        n = len(self.names)
        return memoryview(self.coordinates).cast("d")[index * n : (index + 1) * n]

    def boxes(self) -> list[Box]:
        return [
            Box(name=name, number=k, machine_made=m, x_min=a, y_min=b, x_max=c, y_max=d)
            for name, k, m, a, b, c, d in zip(
                self.names,
                self.numbers,
                self.machine_made,
                *map(self.column, range(4)),
                strict=True,
            )
        ]


_name, _number, _machine_made = attrgetter("name"), attrgetter("number"), attrgetter("machine_made")
_x_min, _y_min = attrgetter("x_min"), attrgetter("y_min")
_x_max, _y_max = attrgetter("x_max"), attrgetter("y_max")
# The keys columns cannot carry, read in one C call: a frame where a box has one stays structs.
_OTHER_KEYS = attrgetter(
    "label_file_id", "sequence_id", "model_ref", "model_run_ref", "model_id", "model_run_id",
    "score", "id", "attribute_groups",
)  # fmt: skip
_NO_OTHER_KEYS = (None,) * 9


def compact_frames(packet: Packet) -> None:
    """Put each frame of plain boxes (a name and a number, no ids, models, scores or attributes)
    in columns, in place, its structs freed as it goes. Only for a packet checked without a
    problem: its boxes are normalised (number set, min < max) and none is rejected."""
    frames: dict[int, Any] | None = packet.frame_packet_map
    if not frames:
        return
    # Every frame's column object is made before any struct is freed. Made one by one as the
    # structs went, these small objects took slots in the pymalloc arenas the structs were
    # leaving and kept those arenas from going back to the OS (71 of the 263 MiB of the W1
    # packet's structs came back; 236 MiB this way, with the columns' buffers above pymalloc's
    # 512 bytes and so outside its arenas).
    shells = [BoxColumns.__new__(BoxColumns) for _ in range(len(frames))]
    # A video's frames mostly repeat the same objects in the same order: equal name, number and
    # machine_made columns are one shared tuple, which planning and rows then recognise by
    # identity (`_Memo`) and compute once.
    last: list[tuple[Any, ...]] = [(), (), ()]
    for frame, boxes in frames.items():
        shell = shells.pop()
        if boxes.__class__ is not list or not boxes or set(map(type, boxes)) != {Box}:
            continue
        if [*map(_OTHER_KEYS, boxes)].count(_NO_OTHER_KEYS) != len(boxes):  # (a dict: no set)
            continue
        columns = [tuple(map(get, boxes)) for get in (_name, _number, _machine_made)]
        if None in columns[0]:
            continue
        for i, column in enumerate(columns):
            if column == last[i]:
                columns[i] = last[i]
            else:
                last[i] = column
        shell.names, shell.numbers, shell.machine_made = columns
        coordinates = [*map(_x_min, boxes), *map(_y_min, boxes), *map(_x_max, boxes)]
        coordinates += map(_y_max, boxes)
        shell.coordinates = _doubles(len(coordinates)).pack(*coordinates)
        del coordinates, columns
        frames[frame] = shell  # read as a list of boxes


@functools.cache
def _doubles(count: int) -> struct.Struct:
    return struct.Struct(f"={count}d")


def media_view(packet: Packet, media: MediaInfo) -> Packet:
    """`packet` as `check_media` needs to see it: the frames in columns that it would find
    nothing wrong with (within the video, every box inside the media) left out, the others back
    as structs (in `packet` too, so that a clamped box is what is written), in packet order."""
    frames: dict[int, Any] | None = packet.frame_packet_map
    if not frames or not any(lst.__class__ is BoxColumns for lst in frames.values()):
        return packet
    last = media.frame_count - 1 if media.frame_count is not None else None
    planar = media.width is not None and media.height is not None
    width, height = media.width or 0, media.height or 0
    shown: dict[int, list[Any]] = {}
    for frame, listed in frames.items():
        if isinstance(listed, BoxColumns):
            # min < max in every box (checked), so these four bound all eight comparisons.
            if (last is None or frame <= last) and (
                not planar
                or (
                    min(listed.column(0)) >= 0
                    and max(listed.column(2)) <= width
                    and min(listed.column(1)) >= 0
                    and max(listed.column(3)) <= height
                )
            ):
                continue
            listed = frames[frame] = listed.boxes()
        shown[frame] = listed
    return msgspec.structs.replace(packet, frame_packet_map=shown)


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


class KeptInstances:
    """The packet's instances less the rejected ones, as often as asked (planning, then rows),
    without holding a list of a million tuples."""

    def __init__(
        self, packet: Any, rejected: RejectedIndexes | set[tuple[int | None, int]]
    ) -> None:
        self.packet = packet
        self.rejected = rejected

    def __iter__(self) -> Iterator[tuple[int | None, int, Any]]:
        if not self.rejected:
            return iter_instances(self.packet)
        rejected = self.rejected
        return (loc for loc in iter_instances(self.packet) if loc[:2] not in rejected)


def parts(
    instances: Iterable[tuple[int | None, int, Any]],
) -> Iterator[tuple[int | None, BoxColumns | Iterable[tuple[int | None, int, Any]]]]:
    """`instances` in packet order: (frame, its boxes in columns) for a frame kept that way,
    (None, located structs) for the rest. Columns only come from `compact_frames`, which leaves
    nothing rejected."""
    lists: list[tuple[int | None, Any]] = (
        located_lists(instances.packet) if isinstance(instances, KeptInstances) else []
    )
    if (
        not isinstance(instances, KeptInstances)
        or instances.rejected
        or not any(listed.__class__ is BoxColumns for _frame, listed in lists)
    ):
        yield None, instances
        return
    for frame, listed in lists:
        if isinstance(listed, BoxColumns):
            yield frame, listed  # in place of its list
        else:
            yield None, ((frame, i, inst) for i, inst in enumerate(listed) if inst is not None)


class _Memo:
    """What was worked out for the last frame's name and number columns (see compact_frames)."""

    names: tuple[str, ...] = ()
    numbers: tuple[int, ...] = ()
    label_ids: list[int | None]
    sequence_ids: list[int | None]


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
        hashing = self.digest and resolved.digest
        self._memo = _Memo()  # of this write: its sequence ids
        for frame, part in parts(self._instances):
            if isinstance(part, BoxColumns):
                yield from self._column_rows(frame, part, resolved, hashing)
            else:
                yield from self._struct_rows(part, resolved, hashing)

    def _column_rows(
        self, frame: int | None, columns: BoxColumns, resolved: Resolved, hashing: bool
    ) -> Iterator[tuple[Any, ...]]:
        # The rows of _struct_rows for these boxes, zipped in C: no loop step per box.
        memo = self._memo
        if memo.names is not columns.names or memo.numbers is not columns.numbers:
            memo.names, memo.numbers = columns.names, columns.numbers
            memo.label_ids = [*map(self._label_ids.get, columns.names)]
            # (None, n) is no track's key: no label, no sequence, as for a struct
            sequence_of: dict[Any, int] = resolved.sequence_ids
            tracks = zip(memo.label_ids, columns.numbers, strict=True)
            memo.sequence_ids = [*map(sequence_of.get, tracks)]
        label_ids = memo.label_ids
        sequence_ids = repeat(None) if frame is None else memo.sequence_ids
        none = repeat(None)
        rows = zip(
            repeat(frame), label_ids, sequence_ids, repeat("box"), columns.machine_made,
            none, none, none,
            *map(columns.column, range(4)),
            none, none, none,
            repeat(NO_DIGEST),
        )  # fmt: skip
        if not hashing:
            yield from rows
            return
        pack, digest = _pack, _digest
        for row in rows:
            content = row[:-1]
            yield (*content, digest(pack(content), digest_size=8).hexdigest())

    def _struct_rows(
        self, instances: Iterable[tuple[int | None, int, Any]], resolved: Resolved, hashing: bool
    ) -> Iterator[tuple[Any, ...]]:
        seq_ids = resolved.sequence_ids
        label_ids = self._label_ids
        shapes = self._shapes
        pack, digest, no_digest = _pack, _digest, NO_DIGEST
        for frame, _index, inst in instances:
            shape = shapes.get(type(inst))
            if shape is None:
                fields_of = geometry_fields(type(inst))  # type: ignore[arg-type]  # a class hashes
                shape = shapes[type(inst)] = (instance_type(inst), fields_of)
            kind, fields = shape
            label_id = label_id_of(inst, label_ids)
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
