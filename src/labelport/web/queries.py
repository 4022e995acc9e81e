"""The pages' reads: narrow, bounded SQLAlchemy Core queries over the store's tables.

Every list here has a LIMIT, and every page runs a fixed number of them whatever the number of
imports or instances (tests/web/test_bounded_queries.py counts them). The store's own list
methods load whole rows (an import's problem list, every sequence of a file); the pages need
fewer columns and fewer rows, so they ask for exactly that.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, func, select

from labelport import palette
from labelport.store import tables as t

MAX_LABELS = 1000
MAX_DIRECTORIES = 200
MAX_SEQUENCES = 2000
MAX_POLL_IDS = 100
MAX_MODEL_ROWS = 200


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def labels(engine: Engine, project_id: int) -> list[dict[str, Any]]:
    """The project's labels by name, each with its colour: the one set for it, else the default
    of its place among the project's labels by id (as `Service.list_labels`)."""
    lab = t.label
    place = func.row_number().over(order_by=lab.c.id).label("place")
    ranked = (
        select(lab.c.id, lab.c.name, lab.c.colour, place)
        .where(lab.c.project_id == project_id)
        .subquery()
    )
    q = select(ranked).order_by(ranked.c.name, ranked.c.id).limit(MAX_LABELS)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for row in rows:
        stored = row["colour"]
        row["colour"] = palette.colour_of(stored, row.pop("place") - 1)
        row["colour_is_default"] = not palette.is_colour(stored)
    return rows


def file_models(engine: Engine, file_id: int) -> list[dict[str, Any]]:
    """The models and model runs whose instances a file holds, with their instance counts and
    how many of those have a score (for the viewer's filters): one aggregate."""
    i, m, r = t.instance, t.model, t.model_run
    q = (
        select(
            i.c.model_id,
            m.c.reference.label("model"),
            i.c.model_run_id,
            r.c.reference.label("model_run"),
            func.count().label("instances"),
            func.count(i.c.score).label("scored"),
        )
        .select_from(
            i.outerjoin(m, m.c.id == i.c.model_id).outerjoin(r, r.c.id == i.c.model_run_id)
        )
        .where(i.c.file_id == file_id)
        .group_by(i.c.model_id, m.c.reference, i.c.model_run_id, r.c.reference)
        .order_by(m.c.reference, r.c.reference)
        .limit(MAX_MODEL_ROWS)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(q)]


def instance_counts_per_label(engine: Engine, project_id: int) -> dict[int | None, int]:
    """Instances of the whole project per label id (one aggregate, a row per label)."""
    i = t.instance
    q = (
        select(i.c.label_id, func.count())
        .where(i.c.project_id == project_id)
        .group_by(i.c.label_id)
        .limit(MAX_LABELS + 1)
    )
    with engine.connect() as conn:
        return {label_id: n for label_id, n in conn.execute(q)}


def directories(engine: Engine, project_id: int) -> list[dict[str, Any]]:
    d, f = t.directory, t.file
    counts = (
        select(f.c.directory_id, func.count().label("files"))
        .where(f.c.project_id == project_id)
        .group_by(f.c.directory_id)
        .subquery()
    )
    q = (
        select(d.c.id, d.c.nickname, d.c.is_default, func.coalesce(counts.c.files, 0))
        .select_from(d.outerjoin(counts, counts.c.directory_id == d.c.id))
        .where(d.c.project_id == project_id)
        .order_by(d.c.is_default.desc(), d.c.nickname)
        .limit(MAX_DIRECTORIES)
    )
    with engine.connect() as conn:
        return [
            {"id": r[0], "nickname": r[1], "is_default": bool(r[2]), "files": r[3]}
            for r in conn.execute(q)
        ]


_IMPORT_COLUMNS = (
    "id", "file_id", "status", "percent", "source", "media_type", "mode", "counts",
    "problem_count", "error", "created_at", "started_at", "finished_at", "idempotency_key",
    "rejected_key", "media_name", "media_url",
)  # fmt: skip


def _import_select() -> Any:
    i, f = t.import_, t.file
    return select(*(i.c[name] for name in _IMPORT_COLUMNS), f.c.original_filename).select_from(
        i.outerjoin(f, f.c.id == i.c.file_id)
    )


def _import_row(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["counts"] = _json(out["counts"]) or {}
    out["key"] = out["idempotency_key"] or out["rejected_key"]  # a rejected one's is not held
    out["name"] = out["media_name"] or out["original_filename"]
    return out


def imports_page(
    engine: Engine,
    project_id: int,
    *,
    status: str | None,
    media_type: str | None,
    file_id: int | None = None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Newest first, without the problem and warning lists (they can be large)."""
    i = t.import_
    q = _import_select().where(i.c.project_id == project_id)
    if status:
        q = q.where(i.c.status == status)
    if media_type:
        q = q.where(i.c.media_type == media_type)
    if file_id is not None:
        q = q.where(i.c.file_id == file_id)
    q = q.order_by(i.c.created_at.desc(), i.c.id.desc()).limit(limit).offset(offset)
    with engine.connect() as conn:
        return [_import_row(r) for r in conn.execute(q)]


def imports_by_id(engine: Engine, project_id: int, ids: Iterable[int]) -> list[dict[str, Any]]:
    wanted = list(dict.fromkeys(ids))[:MAX_POLL_IDS]
    if not wanted:
        return []
    i = t.import_
    q = _import_select().where(i.c.project_id == project_id, i.c.id.in_(wanted)).limit(MAX_POLL_IDS)
    with engine.connect() as conn:
        return [_import_row(r) for r in conn.execute(q)]


def sequences(engine: Engine, file_id: int) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The first MAX_SEQUENCES sequences of a file (by label, number) and the total per label."""
    s = t.sequence
    q = (
        select(
            s.c.id,
            s.c.label_id,
            s.c.number,
            s.c.instance_count,
            s.c.first_frame,
            s.c.last_frame,
            s.c.keyframes,
        )
        .where(s.c.file_id == file_id)
        .order_by(s.c.label_id, s.c.number)
        .limit(MAX_SEQUENCES)
    )
    totals_q = (
        select(s.c.label_id, func.count())
        .where(s.c.file_id == file_id)
        .group_by(s.c.label_id)
        .limit(MAX_LABELS + 1)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
        totals = {label_id: n for label_id, n in conn.execute(totals_q)}
    for row in rows:
        row["keyframes"] = _json(row["keyframes"]) or []
    return rows, totals


def instance_counts(engine: Engine, file_id: int) -> list[dict[str, Any]]:
    """Instances of one file per (label, type): one aggregate."""
    i = t.instance
    q = (
        select(i.c.label_id, i.c.type, func.count())
        .where(i.c.file_id == file_id)
        .group_by(i.c.label_id, i.c.type)
        .limit(MAX_LABELS * 20)
    )
    with engine.connect() as conn:
        return [{"label_id": r[0], "type": r[1], "count": r[2]} for r in conn.execute(q)]


_BOX = ("x_min", "y_min", "x_max", "y_max")


def instances(
    engine: Engine,
    file_id: int,
    *,
    frame_min: int | None,
    frame_max: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Instances of a file (a frame window for video) by frame then id, with the sequence number
    and the model's and model run's references joined in, geometry merged in as sent."""
    i, s, m, r = t.instance, t.sequence, t.model, t.model_run
    q = (
        select(
            i.c.id,
            i.c.frame,
            i.c.label_id,
            i.c.sequence_id,
            i.c.type,
            i.c.machine_made,
            i.c.score,
            *(i.c[k] for k in _BOX),
            i.c.geometry,
            i.c.attributes,
            i.c.external_id,
            s.c.number,
            i.c.model_id,
            m.c.reference.label("model"),
            i.c.model_run_id,
            r.c.reference.label("model_run"),
        )
        .select_from(
            i.outerjoin(s, s.c.id == i.c.sequence_id)
            .outerjoin(m, m.c.id == i.c.model_id)
            .outerjoin(r, r.c.id == i.c.model_run_id)
        )
        .where(i.c.file_id == file_id)
    )
    if frame_min is not None:
        q = q.where(i.c.frame >= frame_min)
    if frame_max is not None:
        q = q.where(i.c.frame <= frame_max)
    q = q.order_by(i.c.frame, i.c.id).limit(limit)
    out = []
    with engine.connect() as conn:
        for found in conn.execute(q):
            row = dict(found._mapping)
            geometry = _json(row.pop("geometry")) or {}
            shown = {k: v for k, v in row.items() if k not in _BOX}
            if row["type"] == "box":
                shown.update({k: row[k] for k in _BOX})
            shown.update(geometry)
            shown["machine_made"] = bool(row["machine_made"])
            shown["attributes"] = _json(row["attributes"]) or {}
            out.append(shown)
    return out
