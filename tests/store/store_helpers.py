"""Helpers for store tests: files made as imports make them, a project with labels and a video,
and WritePlans built from specs.

(A module of its own rather than conftest.py, so tests can import it by a unique name.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from labelport.store import Resolved, SequencePlan, Store, WritePlan
from labelport.store import tables as t
from labelport.store.plan import NO_DIGEST
from labelport.store.records import File


def add_file(store: Store, project_id: int, media_type: str, **columns: Any) -> File:
    """A file row as an import creates it: `new_file` of a write plan, inserted in the import's
    transaction (store/write.py), here with no instances. `columns` are the file's (directory_id,
    parent_file_id, ordinal, width, tokens...)."""
    imp, _ = store.create_import(project_id, media_type=media_type)
    plan = WritePlan(
        project_id=project_id,
        import_id=imp.id,
        file_id=None,
        mode="create",
        sequences=[],
        model_refs=[],
        model_run_refs=[],
        rows=lambda resolved: (),
        instance_count=0,
        new_file={"media_type": media_type, **columns},
    )
    store.write_import(plan)
    assert plan.file_id is not None
    return store.get_file(plan.file_id, project_id)


@dataclass(frozen=True)
class Spec:
    """One instance a test wants written; turned into an INSTANCE_COLUMNS tuple."""

    label_id: int | None
    frame: int | None = None
    number: int | None = None  # sequence number (video)
    model: str | None = None
    run: str | None = None
    x: float = 0.0  # moves the box: a different x is different content
    external_id: str | None = None
    attributes: dict[str, Any] | None = None
    digest: bool = True  # False: stored as a file's first import stores it (NO_DIGEST)


def row_of(spec: Spec, resolved: Resolved) -> tuple[Any, ...]:
    seq = None if spec.number is None else resolved.sequence_ids[(spec.label_id, spec.number)]
    model_id = None if spec.model is None else resolved.model_ids[spec.model]
    run_id = None if spec.run is None else resolved.model_run_ids[(spec.model, spec.run)]
    box = (spec.x, 1.0, spec.x + 10.0, 11.0)
    attributes = None if spec.attributes is None else json.dumps(spec.attributes)
    content = repr((spec.frame, spec.label_id, spec.number, "box", box, attributes, spec.model))
    digest = hashlib.sha256(content.encode()).hexdigest() if spec.digest else NO_DIGEST
    return (spec.frame, spec.label_id, seq, "box", True, model_id, run_id, 0.5, *box, None,
            attributes, spec.external_id, digest)  # fmt: skip


def plan_of(
    ctx: Ctx,
    specs: list[Spec],
    *,
    mode: str = "create",
    import_id: int | None = None,
    file_id: int | None = None,
    rows: Callable[[Resolved], Any] | None = None,
    **extra: Any,
) -> WritePlan:
    sequences: dict[tuple[int, int], set[int]] = {}
    for s in specs:
        if s.number is not None:
            sequences.setdefault((s.label_id, s.number), set()).add(s.frame)
    return WritePlan(
        project_id=ctx.project_id,
        import_id=import_id if import_id is not None else ctx.new_import(mode=mode),
        file_id=file_id if file_id is not None else ctx.file_id,
        mode=mode,  # type: ignore[arg-type]
        sequences=[
            SequencePlan(label_id=lab, number=num, frames=tuple(sorted(frames)))
            for (lab, num), frames in sequences.items()
        ],
        model_refs=sorted({s.model for s in specs if s.model}),
        model_run_refs=sorted({(s.model, s.run) for s in specs if s.model and s.run}),
        rows=rows or (lambda resolved: (row_of(s, resolved) for s in specs)),
        instance_count=len(specs),
        **extra,
    )


@dataclass
class Ctx:
    store: Store
    project_id: int
    cat: int  # label ids
    dog: int
    file_id: int  # a video
    imports: list[int] = field(default_factory=list)

    def new_import(self, mode: str = "create") -> int:
        imp, _ = self.store.create_import(self.project_id, media_type="video", mode=mode)
        self.imports.append(imp.id)
        return imp.id

    def new_file(self) -> int:
        return add_file(self.store, self.project_id, "video", frame_count=1000).id

    def rows_in(self, table: Any) -> int:
        with self.store.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()

    def counts(self) -> dict[str, int]:
        return {
            name: self.rows_in(table)
            for name, table in [
                ("instance", t.instance),
                ("sequence", t.sequence),
                ("model", t.model),
                ("model_run", t.model_run),
            ]
        }
