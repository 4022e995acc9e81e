"""Reading what imports wrote: instances, sequences, models and runs, per-label counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from labelport.store import tables as t
from labelport.store.base import StoreBase
from labelport.store.records import (
    Instance,
    Model,
    ModelRun,
    Sequence,
    from_row,
)


class AnnotationsMixin(StoreBase):
    def list_instances(
        self,
        file_id: int,
        *,
        frame_min: int | None = None,
        frame_max: int | None = None,
        limit: int | None = 1000,
        offset: int = 0,
    ) -> list[Instance]:
        """Instances of a file by frame then id; frame bounds inclusive. limit=None: all."""
        i = t.instance
        q = select(i).where(i.c.file_id == file_id, *self._frames(frame_min, frame_max))
        q = q.order_by(i.c.frame, i.c.id).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [Instance.from_row(r) for r in conn.execute(q)]

    def count_instances(
        self, file_id: int, *, frame_min: int | None = None, frame_max: int | None = None
    ) -> int:
        i = t.instance
        q = select(func.count()).where(i.c.file_id == file_id, *self._frames(frame_min, frame_max))
        with self._read() as conn:
            return conn.execute(q).scalar_one()

    def external_ids(self, file_id: int) -> set[str]:
        """The external ids of a file's instances, in one query (the partial unique index on
        (file_id, external_id) answers it without reading the rows)."""
        i = t.instance
        q = select(i.c.external_id).where(i.c.file_id == file_id, i.c.external_id.is_not(None))
        with self._read() as conn:
            return set(conn.execute(q).scalars())

    @staticmethod
    def _frames(frame_min: int | None, frame_max: int | None) -> list[Any]:
        c = t.instance.c.frame
        where = []
        if frame_min is not None:
            where.append(c >= frame_min)
        if frame_max is not None:
            where.append(c <= frame_max)
        return where

    def list_sequences(self, file_id: int, label_id: int | None = None) -> list[Sequence]:
        s = t.sequence
        q = select(s).where(s.c.file_id == file_id)
        if label_id is not None:
            q = q.where(s.c.label_id == label_id)
        with self._read() as conn:
            return [
                from_row(Sequence, r) for r in conn.execute(q.order_by(s.c.label_id, s.c.number))
            ]

    def list_models(self, project_id: int) -> list[Model]:
        m = t.model
        q = select(m).where(m.c.project_id == project_id).order_by(m.c.id)
        with self._read() as conn:
            return [from_row(Model, r) for r in conn.execute(q)]

    def list_model_runs(self, project_id: int, model_id: int | None = None) -> list[ModelRun]:
        r, m = t.model_run, t.model
        q = select(r).join(m, m.c.id == r.c.model_id).where(m.c.project_id == project_id)
        if model_id is not None:
            q = q.where(r.c.model_id == model_id)
        with self._read() as conn:
            return [from_row(ModelRun, row) for row in conn.execute(q.order_by(r.c.id))]
