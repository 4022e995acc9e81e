"""What checking and planning need from the project: labels, attribute groups, models, sequences.

Loaded with a handful of queries per import (never per instance), then used for every instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from labelport import format as fmt
from labelport.format.packet import instance_path
from labelport.ingest.plan import ProjectContext
from labelport.store import Store


@dataclass
class ImportContext:
    project_id: int
    labels: list[dict[str, Any]]
    attribute_groups: list[dict[str, Any]]
    models: list[dict[str, Any]]
    model_runs: list[dict[str, Any]]
    sequences: list[dict[str, Any]]  # of the target file, when it exists
    file_id: int | None = None  # the target file, when it exists
    store: Store | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._stored_ids: frozenset[str] | None = None
        self._rebuild()

    def stored_external_ids(self) -> frozenset[str]:
        """The external ids of the target file's instances (none for a new file). Read once, on
        first use: only a relation naming an id its packet lacks needs them, and a big file has
        a million."""
        if self._stored_ids is None:
            if self.file_id is None or self.store is None:
                self._stored_ids = frozenset()
            else:
                self._stored_ids = frozenset(self.store.external_ids(self.file_id))
        return self._stored_ids

    def _rebuild(self) -> None:
        # A name present in several schemas resolves to the default schema's label (listed first).
        self.label_ids: dict[str, int] = {}
        for label in self.labels:
            self.label_ids.setdefault(label["name"], label["id"])
        self.label_index = fmt.LabelIndex(
            dict(self.label_ids), frozenset(label["id"] for label in self.labels)
        )
        self.attribute_schema = fmt.AttributeSchema.of(
            [
                fmt.AttributeGroup(
                    id=g["id"],
                    kind=g["kind"],
                    options=frozenset(o["id"] for o in g["options"]),
                    label_ids=frozenset(g["label_ids"]),
                    min=g["min_value"],
                    max=g["max_value"],
                )
                for g in self.attribute_groups
            ]
        )
        self.plan_context = ProjectContext(
            project_id=self.project_id,
            label_ids=self.label_ids,
            label_names={label["id"]: label["name"] for label in self.labels},
            model_refs={m["id"]: m["reference"] for m in self.models},
            sequences={s["id"]: (s["label_id"], s["number"]) for s in self.sequences},
        )

    def add_labels(self, labels: list[dict[str, Any]]) -> None:
        if labels:
            self.labels = [*self.labels, *labels]
            self._rebuild()

    def check_references(self, packet: Any, report: fmt.Report) -> None:
        """Ids that must belong to this project (and, for sequences, to this file and label)."""
        model_ids = {m["id"] for m in self.models}
        runs = {r["id"]: r["model_id"] for r in self.model_runs}
        sequences = {s["id"]: s for s in self.sequences}
        for frame, index, inst in _naming_ids(packet):
            at = (frame, index)
            path = instance_path(frame, index)
            if inst.model_id is not None and inst.model_id not in model_ids:
                report.problem(
                    "model.unknown",
                    f"{path}/model_id",
                    f"model {inst.model_id} is not a model of this project",
                    at,
                )
            if inst.model_run_id is not None:
                owner = runs.get(inst.model_run_id)
                if owner is None:
                    report.problem(
                        "model_run.unknown",
                        f"{path}/model_run_id",
                        f"model run {inst.model_run_id} is not a run of this project",
                        at,
                    )
                elif inst.model_id is not None and owner != inst.model_id:
                    report.problem(
                        "model_run.other_model",
                        f"{path}/model_run_id",
                        f"model run {inst.model_run_id} belongs to model {owner},"
                        f" not to model {inst.model_id}",
                        at,
                    )
            if inst.sequence_id is not None:
                seq = sequences.get(inst.sequence_id)
                if seq is None or frame is None:
                    report.problem(
                        "sequence.unknown",
                        f"{path}/sequence_id",
                        f"sequence {inst.sequence_id} is not a sequence of this video",
                        at,
                    )
                else:
                    label_id = fmt.label_id_of(inst, self.label_ids)
                    if label_id is not None and label_id != seq["label_id"]:
                        report.problem(
                            "sequence.other_label",
                            f"{path}/sequence_id",
                            f"sequence {inst.sequence_id} tracks another label",
                            at,
                        )


def _naming_ids(packet: Any) -> Iterator[tuple[int | None, int, Any]]:
    """The instances that name a model, run or sequence by id: a few, or none, in most packets,
    so whole lists are passed over without building a location per instance."""
    for frame, instances in fmt.located_lists(packet):
        for inst in instances:
            if inst is not None and (
                inst.model_id is not None
                or inst.model_run_id is not None
                or inst.sequence_id is not None
            ):
                break
        else:
            continue
        for index, inst in enumerate(instances):
            if inst is not None:
                yield frame, index, inst


def load_context(store: Store, project_id: int, file_id: int | None) -> ImportContext:
    groups = []
    for group in store.list_attribute_groups(project_id):
        fields = shallow(group)
        fields["options"] = [shallow(o) for o in group.options]
        groups.append(fields)
    return ImportContext(
        project_id=project_id,
        labels=[shallow(r) for r in store.list_labels(project_id)],
        attribute_groups=groups,
        models=[shallow(r) for r in store.list_models(project_id)],
        model_runs=[shallow(r) for r in store.list_model_runs(project_id)],
        sequences=[shallow(r) for r in store.list_sequences(file_id)] if file_id else [],
        file_id=file_id,
        store=store,
    )


def shallow(record: Any) -> dict[str, Any]:
    """A record's fields as a dict. Not `dataclasses.asdict`: it deep-copies every value (a big
    video's keyframe lists) and cost a third of a small image's import."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}
