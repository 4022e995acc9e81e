"""`write_many`: apply the plans of many imports in one transaction with one bulk insert.

A batch's chunk is mostly new files (one image, a few boxes each). Written one plan at a time,
each file costs ~10 statements (lock, start, references, finish...), several times the cost of its
rows. Here the new files' rows, their file rows and the ends of their imports are each one
statement for the whole chunk. Plans that may meet existing rows (an update of a file that has
instances) go through `write_import` inside the same transaction.

All or nothing, like `write_import`: any failure rolls back every plan; the caller then writes the
plans one by one to find the one at fault (see ingest/batch.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from itertools import chain, islice
from typing import Any

from sqlalchemy import Connection, func, select, text

from labelport.store import tables as t
from labelport.store.bulk import insert_rows
from labelport.store.coltypes import utcnow
from labelport.store.errors import Conflict, NotFound
from labelport.store.import_updates import update_unfinished_imports
from labelport.store.plan import INSTANCE_COLUMNS, Resolved, WritePlan, WriteResult
from labelport.store.write import (
    _NOTE_CHUNK,
    _check_references,
    _chunks,
    _models_and_runs,
    _Refs,
    _sequences,
    _set_new_sequences,
    write_import,
)


def write_many(
    conn: Connection,
    plans: Sequence[WritePlan],
    *,
    started: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[WriteResult]:
    """Write `plans` (all of one project) on `conn`, inside the caller's write transaction.

    `started`: by import id, the values a start sets on the import (`is_fresh` plans only, all
    of them or none), set by the statement that ends them instead of one of their own."""
    if not plans:
        return []
    projects = {p.project_id for p in plans}
    if len(projects) != 1:
        raise ValueError("write_many writes the plans of one project at a time")
    fresh = [p for p in plans if is_fresh(p)]
    results: dict[int, WriteResult] = {}
    try:
        if fresh:
            written = _write_fresh(conn, fresh, started or {})
            results.update(zip(map(id, fresh), written, strict=True))
    except BaseException:
        for plan in fresh:
            plan.file_id = None  # the file rows are rolled back with everything else
        raise
    for plan in plans:
        if id(plan) not in results:
            results[id(plan)] = write_import(conn, plan)
    return [results[id(p)] for p in plans]


def is_fresh(plan: WritePlan) -> bool:
    """A plan of a new file: written with the others in bulk, its import ended by one statement
    for all of them."""
    return plan.new_file is not None and plan.mode == "create"


def _write_fresh(
    conn: Connection, plans: list[WritePlan], started: Mapping[int, Mapping[str, Any]]
) -> list[WriteResult]:
    now = utcnow()
    project_id = plans[0].project_id
    _create_files(conn, plans, now)
    everything = dataclasses.replace(
        plans[0],
        model_refs=sorted({r for p in plans for r in p.model_refs}),
        model_run_refs=sorted({r for p in plans for r in p.model_run_refs}),
    )
    model_ids, run_ids = _models_and_runs(conn, everything, now)
    per_plan_sequences = []
    created_sequences = []
    for plan in plans:
        if plan.sequences:
            sequence_ids, created = _sequences(conn, plan)
        else:
            sequence_ids, created = {}, 0
        per_plan_sequences.append(sequence_ids)
        created_sequences.append(created)

    refs = _RefsWithoutSequences()
    counted = [0] * len(plans)

    def rows_of(n: int, plan: WritePlan) -> Iterator[list[tuple[Any, ...]]]:
        """The plan's rows behind its (file_id, import_id), noted and counted a list at a time:
        a chunk's rows pass with no Python step of their own (that cost ~0.3 s per 20,000)."""
        resolved = Resolved(
            sequence_ids=per_plan_sequences[n], model_ids=model_ids, model_run_ids=run_ids
        )
        behind_ids = (plan.file_id, plan.import_id).__add__
        rows = iter(plan.rows(resolved))
        while chunk := list(islice(rows, _NOTE_CHUNK)):
            refs.note(chunk)
            counted[n] += len(chunk)
            yield list(map(behind_ids, chunk))

    lists = chain.from_iterable(map(rows_of, range(len(plans)), plans))
    insert_rows(
        conn,
        "instance",
        ("file_id", "import_id", *INSTANCE_COLUMNS),
        chain.from_iterable(lists),
        {"project_id": project_id},
    )
    # Labels, models and runs the rows name must be the project's; the sequences are the ones
    # just created for these new files.
    _check_references(conn, everything, refs)
    per_sequence = refs.rows_per_sequence()
    results = []
    for n, plan in enumerate(plans):
        if per_plan_sequences[n]:
            _set_new_sequences(conn, plan, per_plan_sequences[n], per_sequence)
        results.append(
            WriteResult(
                added=counted[n],
                unchanged=0,
                removed=0,
                sequences_created=created_sequences[n],
                sequences_extended=len(per_plan_sequences[n]) - created_sequences[n],
            )
        )
    _finish_all(conn, plans, results, started)
    return results


class _RefsWithoutSequences(_Refs):
    """`_Refs` whose sequence ids are not checked against one file: each plan's were created for
    its own new file in this transaction."""

    def ids(self, column: str) -> set[int]:
        return set() if column == "sequence_id" else super().ids(column)


def _create_files(conn: Connection, plans: list[WritePlan], now: datetime) -> None:
    """Every plan's new file row in one statement, in its directory (the default if none)."""
    project_id = plans[0].project_id
    d = t.directory
    default = conn.execute(
        select(d.c.id).where(d.c.project_id == project_id, d.c.is_default.is_(True))
    ).scalar()
    named = {p.new_file.get("directory_id") for p in plans if p.new_file} - {None}
    found: set[Any] = set()
    for chunk in _chunks(sorted(named)):
        found.update(
            conn.execute(
                select(d.c.id).where(d.c.project_id == project_id, d.c.id.in_(chunk))
            ).scalars()
        )
    rows = []
    for plan in plans:
        facts = dict(plan.new_file or {})
        if facts.get("tokens") is not None and facts.get("token_count") is None:
            facts["token_count"] = len(facts["tokens"])
        wanted = facts.get("directory_id")
        facts["directory_id"] = default if wanted is None else wanted
        if facts["directory_id"] is None or (wanted is not None and wanted not in found):
            what = "default directory" if wanted is None else f"directory {wanted}"
            raise NotFound(f"{what} of project {project_id} not found")
        rows.append({"project_id": project_id, "created_at": now, **facts})
    columns = sorted({k for row in rows for k in row})
    ids = _insert_files(conn, columns, rows)
    for plan, file_id in zip(plans, ids, strict=True):
        plan.file_id = file_id


def _insert_files(conn: Connection, columns: list[str], rows: list[dict[str, Any]]) -> list[int]:
    """The file rows' ids taken first, then the rows written in bulk (PostgreSQL: COPY; SQLite:
    one executemany), each value bound as its column's type binds it. INSERT ... RETURNING
    through SQLAlchemy cost ~10% of a batch of small images on PostgreSQL, and on SQLite it went
    row by row (RETURNING in parameter order is not batched there: 2,000 statements for 2,000
    images)."""
    if conn.dialect.name == "postgresql":
        draw = "SELECT nextval(pg_get_serial_sequence('file', 'id')) FROM generate_series(1, :n)"
        ids = list(conn.execute(text(draw), {"n": len(rows)}).scalars())
        binders = [t.file.c[name].type.bind_processor(conn.dialect) for name in columns]
    else:
        # The write transaction holds SQLite's write lock (BEGIN IMMEDIATE), so no other row
        # comes in between: these are the ids SQLite itself gives rows of a rowid table
        # inserted one after the other (the largest so far + 1).
        top = conn.execute(select(func.coalesce(func.max(t.file.c.id), 0))).scalar_one()
        ids = list(range(top + 1, top + 1 + len(rows)))
        binders = [
            t.file.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            for name in columns
        ]

    def bound(name: str, binder: Any) -> list[Any]:
        # A column at a time: only the columns with a binder take a Python step per value, and
        # one object in every row (created_at) is bound once.
        values = [row.get(name) for row in rows]
        if binder is None:
            return values
        if len(set(map(id, values))) == 1:
            return [None if values[0] is None else binder(values[0])] * len(values)
        return [None if v is None else binder(v) for v in values]

    by_column = map(bound, columns, binders)
    insert_rows(conn, "file", ("id", *columns), zip(ids, *by_column, strict=True))
    return ids


def _finish_all(
    conn: Connection,
    plans: list[WritePlan],
    results: list[WriteResult],
    started: Mapping[int, Mapping[str, Any]],
) -> None:
    """Every import `success` with its new file and counts (and what `started` says of it), in
    one statement (a step to `writing` inside this same transaction was seen by nobody and cost
    a statement per chunk). One already finished, by another run of the chunk, aborts them all:
    each is written once."""
    imp = t.import_
    current: dict[int, dict[str, Any]] = {}
    for chunk in _chunks([p.import_id for p in plans]):
        q = select(imp.c.id, imp.c.counts).where(imp.c.id.in_(chunk))
        current.update((i, c or {}) for i, c in conn.execute(q))
    now = utcnow()
    rows = [
        {
            "id": plan.import_id,
            "file_id": plan.file_id,
            "counts": {
                **current.get(plan.import_id, {}),
                **plan.counts,
                **result.counts(),
            },
            "warnings": list(plan.warnings),
            "problems": list(plan.problems),
            "problem_count": plan.problem_count,
            **{k: v for k, v in started.get(plan.import_id, {}).items() if k != "id"},
        }
        for plan, result in zip(plans, results, strict=True)
    ]
    ended = {
        "status": "success",
        "percent": 100.0,
        "finished_at": now,
        "heartbeat_at": now,
        "error": None,
    }
    done = update_unfinished_imports(conn, rows, ended, project_id=plans[0].project_id)
    if done != len(plans):
        raise Conflict(
            f"{len(plans) - done} of {len(plans)} imports are finished or gone; "
            "each is written only once"
        )
