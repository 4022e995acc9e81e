"""Evaluations of model runs: the instance rows they read (in bulk, streamed), and what they store
(their figures, per-file counts, the imports they saw)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select

from labelport.store import tables as t
from labelport.store.base import StoreBase
from labelport.store.bulk import insert_rows
from labelport.store.coltypes import utcnow
from labelport.store.errors import NotFound

# What `instance_rows` yields, in this order: numbers only (NULL -> -1, booleans 0/1), so that a
# chunk becomes one numpy array in one pass. `shaped`: 0 box, 1 polygon, 2 keypoints (the
# geometry of the latter two is read by `geometries`).
EVAL_COLUMNS = (
    "file_id", "frame", "label_id", "score", "x_min", "y_min", "x_max", "y_max", "id",
    "sequence_id", "model_run_id", "machine_made", "shaped",
)  # fmt: skip
_SELECT = (
    "file_id, COALESCE(frame, -1), COALESCE(label_id, -1), COALESCE(score, -1), "
    "COALESCE(x_min, 0), COALESCE(y_min, 0), COALESCE(x_max, 0), COALESCE(y_max, 0), id, "
    "COALESCE(sequence_id, -1), COALESCE(model_run_id, -1), "
    "CASE WHEN machine_made THEN 1 ELSE 0 END, "
    "CASE WHEN type = 'box' THEN 0 WHEN type = 'polygon' THEN 1 ELSE 2 END"
)
FETCH_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class Evaluation:
    id: int
    project_id: int
    model_run_id: int
    reference_run_id: int | None
    parameters: dict[str, Any]
    results: dict[str, Any]
    file_count: int
    last_import_id: int | None
    imports_seen: int
    took: float
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EvaluationFile:
    file_id: int
    tp: int
    fp: int
    fn: int
    errors: int
    original_filename: str | None
    media_type: str


class EvaluationStore(StoreBase):
    """Beside `Store` (same engine), so that the evaluation's tables stay in this module."""

    def __init__(self, store: Any) -> None:
        self.engine = store.engine
        self.dialect = store.dialect

    def instance_rows(
        self,
        project_id: int,
        *,
        run_id: int,
        reference_run_id: int | None,
        types: Sequence[str],
        file_id: int | None = None,
        frames: tuple[int, int] | None = None,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Chunks of the instance rows (EVAL_COLUMNS) of both sides of an evaluation, in one
        query (one scan): the run's (`run_id`, machine made) and the reference's: the people's
        (machine_made = false) or another run's. `file_id`: one file only; `frames`: its
        frames in this inclusive range only (the (file_id, frame) index reads just those)."""
        sqlite = self.dialect == "sqlite"

        def p(name: str) -> str:  # the driver's own placeholders: the query bypasses Core
            return f":{name}" if sqlite else f"%({name})s"

        where = [f"project_id = {p('project')}"]
        params: dict[str, Any] = {"project": project_id, "run": run_id}
        if reference_run_id is None:
            where.append(f"(model_run_id = {p('run')} OR machine_made = {p('human')})")
            params["human"] = False
        else:
            where.append(f"model_run_id IN ({p('run')}, {p('ref')})")
            params["ref"] = reference_run_id
        for n, kind in enumerate(types):
            params[f"t{n}"] = kind
        where.append(f"type IN ({', '.join(p(f't{n}') for n in range(len(types)))})")
        if file_id is not None:
            where.append(f"file_id = {p('file')}")
            params["file"] = file_id
        if frames is not None:
            where.append(f"frame BETWEEN {p('f0')} AND {p('f1')}")
            params["f0"], params["f1"] = frames
        sql = f"SELECT {_SELECT} FROM instance WHERE {' AND '.join(where)}"
        with self._read() as conn:
            raw: Any = conn.connection.driver_connection
            if sqlite:
                cur = raw.cursor()
            else:  # a server-side cursor: the rows stream, the server keeps them
                cur = raw.cursor(name="labelport_evaluation")
                cur.itersize = FETCH_ROWS
            cur.execute(sql, params)
            try:
                while rows := cur.fetchmany(FETCH_ROWS):
                    yield rows
            finally:
                cur.close()

    def geometries(self, instance_ids: list[int]) -> dict[int, str | None]:
        """{instance id: geometry JSON} of the given instances (by primary key, in chunks)."""
        i = t.instance
        out: dict[int, str | None] = {}
        with self._read() as conn:
            for start in range(0, len(instance_ids), 5000):
                chunk = instance_ids[start : start + 5000]
                q = select(i.c.id, i.c.geometry).where(i.c.id.in_(chunk))
                out.update({int(k): v for k, v in conn.execute(q)})
        return out

    def model_run_in(self, project_id: int, run_id: int) -> tuple[int, str, str]:
        """(run id, model reference, run reference) if the run belongs to the project."""
        r, m = t.model_run, t.model
        q = (
            select(r.c.id, m.c.reference, r.c.reference)
            .join(m, m.c.id == r.c.model_id)
            .where(r.c.id == run_id, m.c.project_id == project_id)
        )
        with self._read() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"model run {run_id} not found")
        return int(row[0]), row[1], row[2]

    def create_evaluation(
        self,
        project_id: int,
        model_run_id: int,
        reference_run_id: int | None,
        parameters: dict[str, Any],
        results: dict[str, Any],
        files: Iterable[tuple[int, int, int, int]],
        took: float,
    ) -> Evaluation:
        """Store an evaluation and its per-file (file_id, tp, fp, fn) rows in one transaction,
        with the newest successful import into those files (what it saw)."""
        e, ef, i = t.evaluation, t.evaluation_file, t.import_
        with self._write() as conn:
            eid = conn.execute(
                insert(e)
                .values(
                    project_id=project_id,
                    model_run_id=model_run_id,
                    reference_run_id=reference_run_id,
                    parameters=parameters,
                    results=results,
                    file_count=0,
                    imports_seen=0,
                    took=took,
                    created_at=utcnow(),
                )
                .returning(e.c.id)
            ).scalar_one()
            count = insert_rows(
                conn,
                "evaluation_file",
                ("file_id", "tp", "fp", "fn", "errors"),
                ((f, tp, fp, fn, fp + fn) for f, tp, fp, fn in files),
                {"evaluation_id": eid},
            )
            last, seen = conn.execute(
                select(func.max(i.c.id), func.count(i.c.id))
                .select_from(i.join(ef, and_(ef.c.file_id == i.c.file_id)))
                .where(ef.c.evaluation_id == eid, i.c.status == "success")
            ).one()
            conn.execute(
                e.update()
                .where(e.c.id == eid)
                .values(file_count=count, last_import_id=last, imports_seen=seen)
            )
            row = conn.execute(select(e).where(e.c.id == eid)).one()
        return _evaluation(row)

    def get_evaluation(self, evaluation_id: int, project_id: int) -> Evaluation:
        e = t.evaluation
        q = select(e).where(e.c.id == evaluation_id, e.c.project_id == project_id)
        with self._read() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"evaluation {evaluation_id} not found")
        return _evaluation(row)

    def list_evaluations(
        self, project_id: int, model_run_id: int | None = None, limit: int = 50
    ) -> list[Evaluation]:
        """Newest first."""
        e = t.evaluation
        q = select(e).where(e.c.project_id == project_id)
        if model_run_id is not None:
            q = q.where(e.c.model_run_id == model_run_id)
        q = q.order_by(e.c.created_at.desc(), e.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [_evaluation(r) for r in conn.execute(q)]

    def evaluation_is_stale(self, evaluation: Evaluation) -> bool:
        """Whether a successful import into one of its files came after it was computed."""
        ef, i = t.evaluation_file, t.import_
        q = (
            select(i.c.id)
            .select_from(i.join(ef, ef.c.file_id == i.c.file_id))
            .where(
                ef.c.evaluation_id == evaluation.id,
                i.c.status == "success",
                i.c.id > (evaluation.last_import_id or 0),
            )
            .limit(1)
        )
        with self._read() as conn:
            return conn.execute(q).first() is not None

    def review_queue(
        self, evaluation_id: int, *, limit: int = 50, offset: int = 0, errors_only: bool = False
    ) -> tuple[list[EvaluationFile], int]:
        """The evaluation's files, most errors first (then by id), and how many there are."""
        ef, f = t.evaluation_file, t.file
        where = [ef.c.evaluation_id == evaluation_id]
        if errors_only:
            where.append(ef.c.errors > 0)
        q = (
            select(*_queue_columns(ef, f))
            .join(f, f.c.id == ef.c.file_id)
            .where(*where)
            .order_by(ef.c.errors.desc(), ef.c.file_id)
            .limit(limit)
            .offset(offset)
        )
        with self._read() as conn:
            rows = [EvaluationFile(*r) for r in conn.execute(q)]
            total = conn.execute(select(func.count()).select_from(ef).where(*where)).scalar_one()
        return rows, int(total)

    def next_in_queue(self, evaluation_id: int, file_id: int | None) -> int | None:
        """The file after `file_id` in the review queue that has errors (the first without)."""
        ef = t.evaluation_file
        q = select(ef.c.file_id).where(ef.c.evaluation_id == evaluation_id, ef.c.errors > 0)
        with self._read() as conn:
            if file_id is not None:
                cur = conn.execute(
                    select(ef.c.errors).where(
                        ef.c.evaluation_id == evaluation_id, ef.c.file_id == file_id
                    )
                ).scalar()
                if cur is not None:
                    q = q.where(
                        (ef.c.errors < cur) | ((ef.c.errors == cur) & (ef.c.file_id > file_id))
                    )
            q = q.order_by(ef.c.errors.desc(), ef.c.file_id).limit(1)
            return conn.execute(q).scalar()


def _queue_columns(ef: Any, f: Any) -> tuple[Any, ...]:
    return (ef.c.file_id, ef.c.tp, ef.c.fp, ef.c.fn, ef.c.errors, f.c.original_filename,
            f.c.media_type)  # fmt: skip


def _evaluation(row: Any) -> Evaluation:
    m = row._mapping
    return Evaluation(**{k: m[k] for k in Evaluation.__slots__})
