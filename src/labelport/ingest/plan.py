"""Plan one import: resolve labels, sequences and models of checked instances into a WritePlan."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labelport.ingest.rows import RowBuilder
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

    def label_id_of(self) -> Callable[[Any], int | None]:
        label_ids = self.label_ids

        def resolve(inst: Any) -> int | None:
            if inst.label_file_id is not None:
                return inst.label_file_id
            if inst.name is None:
                return None
            return label_ids.get(inst.name)

        return resolve


def plan_import(
    instances: list[Located],
    context: ProjectContext,
    *,
    import_id: int,
    file_id: int,
    mode: Mode,
    warnings: list[dict[str, str]],
) -> WritePlan:
    """One pass over the instances: tracks, models and the counts the import reports."""
    label_id_of = context.label_id_of()
    label_names = context.label_names
    frames_by_track: dict[tuple[int, int], set[int]] = defaultdict(set)
    model_refs: set[str] = set()
    run_refs: set[tuple[str, str]] = set()
    per_label: dict[int | None, int] = defaultdict(int)
    per_type: dict[str, int] = defaultdict(int)
    frames: set[int] = set()
    for frame, _index, inst in instances:
        if inst.sequence_id is not None:
            # The caller named an existing track: its number is the truth from here on.
            inst.number = context.sequences[inst.sequence_id][1]
        label_id = label_id_of(inst)
        per_label[label_id] += 1
        per_type[inst.__struct_config__.tag] += 1
        if frame is not None:
            frames.add(frame)
            if label_id is not None:
                frames_by_track[(label_id, inst.number or 1)].add(frame)
        if inst.model_ref is not None or inst.model_id is not None:
            model_ref = inst.model_ref or context.model_refs.get(inst.model_id)
            if model_ref is not None:
                model_refs.add(model_ref)
                if inst.model_run_ref is not None:
                    run_refs.add((model_ref, inst.model_run_ref))
    sequences = [
        SequencePlan(label_id=label_id, number=number, frames=tuple(sorted(track_frames)))
        for (label_id, number), track_frames in sorted(frames_by_track.items())
    ]
    tracks_per_label: dict[str, int] = defaultdict(int)
    for seq in sequences:
        tracks_per_label[label_names.get(seq.label_id, str(seq.label_id))] += 1
    counts = {
        "instances": len(instances),
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
        rows=RowBuilder(instances, label_id_of, context.model_refs),
        instance_count=len(instances),
        counts=counts,
        warnings=warnings,
    )
