"""Plan one import: resolve labels, sequences and models of checked instances into a WritePlan."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from labelport.format import Box, label_id_of
from labelport.ingest.rows import BoxColumns, RowBuilder, parts
from labelport.store.plan import Mode, SequencePlan, WritePlan

# (frame or None, index in its list, instance struct)
Located = tuple[int | None, int, Any]


@dataclass
class ProjectContext:
    """What planning needs to know about the project, loaded once per import."""

    project_id: int
    label_ids: dict[str, int]  # name -> id (the default schema's names win on a clash)
    label_names: dict[int, str]  # id -> name
    model_refs: dict[int, str] = field(default_factory=dict)  # model id -> reference
    # existing sequences of the target file: id -> (label_id, number)
    sequences: dict[int, tuple[int, int]] = field(default_factory=dict)


def plan_import(
    instances: Iterable[Located],
    context: ProjectContext,
    *,
    import_id: int,
    file_id: int | None,
    mode: Mode,
    warnings: list[dict[str, str]],
) -> WritePlan:
    """One pass over the instances: tracks, models and the counts the import reports.

    `file_id` None: the import creates its file, so its rows meet no existing rows and are
    written without a content digest (a later merge compares them by their columns)."""
    label_ids = context.label_ids
    label_names = context.label_names
    # Lists, not sets: a track has at most one instance per frame (checked), and a million
    # (track, frame) entries cost ~9 MB in lists against ~40 MB in sets.
    frames_by_track: dict[tuple[int, int], list[int]] = defaultdict(list)
    loose_frames: set[int] = set()  # frames of instances without a label (global, relation)
    model_refs: set[str] = set()
    run_refs: set[tuple[str, str]] = set()
    # One counter for both reports: one dict update per instance instead of two.
    per_kind: dict[tuple[type, int | None], int] = defaultdict(int)
    memo: dict[str, Any] = {}
    for part_frame, part in parts(instances):
        if isinstance(part, BoxColumns):
            _plan_columns(
                part_frame, part, label_ids, per_kind, frames_by_track, loose_frames, memo
            )
            continue
        _plan_structs(part, context, per_kind, frames_by_track, loose_frames, model_refs, run_refs)
    count = sum(per_kind.values())
    per_label: dict[int | None, int] = defaultdict(int)
    per_type: dict[str, int] = defaultdict(int)
    for (struct_type, label_id), n in per_kind.items():
        per_label[label_id] += n
        per_type[struct_type.__struct_config__.tag] += n  # type: ignore[attr-defined]
    frames = loose_frames.union(*frames_by_track.values())
    sequences = [
        SequencePlan(label_id=label_id, number=number, frames=tuple(sorted(set(track_frames))))
        for (label_id, number), track_frames in sorted(frames_by_track.items())
    ]
    del frames_by_track
    tracks_per_label: dict[str, int] = defaultdict(int)
    for seq in sequences:
        tracks_per_label[label_names.get(seq.label_id, str(seq.label_id))] += 1
    counts = {
        "instances": count,
        "instances_per_label": {
            (label_names.get(k, str(k)) if k is not None else "(no label)"): v
            for k, v in per_label.items()
        },
        "instances_per_type": dict(per_type),
        "frames_with_instances": len(frames),
        "sequences_expected": len(sequences),
        "sequences_expected_per_label": dict(tracks_per_label),
    }
    return WritePlan(
        project_id=context.project_id,
        import_id=import_id,
        file_id=file_id,
        mode=mode,
        sequences=sequences,
        model_refs=sorted(model_refs),
        model_run_refs=sorted(run_refs),
        rows=RowBuilder(
            instances, context.label_ids, context.model_refs, digest=file_id is not None
        ),
        instance_count=count,
        counts=counts,
        warnings=warnings,
    )


def _plan_structs(
    instances: Iterable[Located],
    context: ProjectContext,
    per_kind: dict[tuple[type, int | None], int],
    frames_by_track: dict[tuple[int, int], list[int]],
    loose_frames: set[int],
    model_refs: set[str],
    run_refs: set[tuple[str, str]],
) -> None:
    label_ids = context.label_ids
    for frame, _index, inst in instances:
        if inst.sequence_id is not None:
            # The caller named an existing track: its number is the truth from here on.
            inst.number = context.sequences[inst.sequence_id][1]
        label_id = label_id_of(inst, label_ids)
        per_kind[(type(inst), label_id)] += 1
        if frame is not None:
            if label_id is not None:
                frames_by_track[(label_id, inst.number or 1)].append(frame)
            else:
                loose_frames.add(frame)
        if inst.model_ref is not None or inst.model_id is not None:
            model_ref = inst.model_ref or context.model_refs.get(inst.model_id)
            if model_ref is not None:
                model_refs.add(model_ref)
                if inst.model_run_ref is not None:
                    run_refs.add((model_ref, inst.model_run_ref))


def _plan_columns(
    frame: int | None,
    columns: BoxColumns,
    label_ids: dict[str, int],
    per_kind: dict[tuple[type, int | None], int],
    frames_by_track: dict[tuple[int, int], list[int]],
    loose_frames: set[int],
    memo: dict[str, Any],
) -> None:
    """`_plan_structs` for a frame of boxes in columns (no sequence ids, models or runs).
    `memo`: what the last frame's columns gave, reused when this frame's are the same tuples
    (`compact_frames` shares equal columns)."""
    if memo.get("names") is not columns.names or memo.get("numbers") is not columns.numbers:
        ids = [*map(label_ids.get, columns.names)]
        by_track: dict[Any, list[int]] = frames_by_track
        memo.update(
            names=columns.names,
            numbers=columns.numbers,
            counts=Counter(ids).items(),
            # Each box's track's list of frames (none when a name is not a label: that box's
            # frame is a loose one; never the case once checked).
            tracks=[
                by_track[t] for t in zip(ids, columns.numbers, strict=True) if t[0] is not None
            ],
            loose=None in ids,
        )
    for label_id, n in memo["counts"]:
        per_kind[(Box, label_id)] += n
    if frame is None:
        return
    if memo["loose"]:
        loose_frames.add(frame)
    # The frame goes on each box's track's list in C, no loop step per box.
    deque(map(list.append, memo["tracks"], repeat(frame)), maxlen=0)
