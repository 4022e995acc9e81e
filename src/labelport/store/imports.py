"""Imports (Diffgram's "input"): creation with idempotency keys, progress, the job queue, and the
write that ends them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Row,
    Select,
    and_,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import TextualSelect

from labelport.shapes import ProblemGroupOut, problem_dict
from labelport.store import tables as t
from labelport.store.base import StoreBase
from labelport.store.bulk import quote
from labelport.store.coltypes import utcnow
from labelport.store.errors import NotFound
from labelport.store.plan import WritePlan, WriteResult
from labelport.store.records import Import, from_row
from labelport.store.write import insert_ignoring, write_import

# Columns `update_import` may set; ids, the key and created_at never change.
IMPORT_FIELDS = frozenset(
    {
        "file_id",
        "directory_id",
        "source",
        "media_type",
        "mode",
        "status",
        "percent",
        "counts",
        "problems",
        "warnings",
        "problem_count",
        "packet_blob_key",
        "claimed_by",
        "claimed_at",
        "heartbeat_at",
        "started_at",
        "finished_at",
        "error",
        "media_name",
        "media_url",
    }
)

# What a rejected packet's record keeps (docs/imports.md): it costs the sender nothing to be
# refused, so a flood of refusals must not grow the database without bound.
REJECTED_KEEP_PER_PROJECT = 1000  # the newest rejected records of a project; older ones go
REJECTED_PROBLEMS_KEPT = 100  # problems listed per record (every code is still counted)
REJECTED_WARNINGS_KEPT = 20
REJECTED_GROUPS_KEPT = 60  # problem groups (format/problem_groups.py) per record
REJECTED_TEXT_CHARS = 500  # a problem's path or message, cut beyond this
MEDIA_NAME_CHARS = 255
MEDIA_URL_CHARS = 2048


def per_value(columns: Sequence[Column[Any]], where: str) -> TextualSelect:
    """PostgreSQL: the imports (`columns` of them) that match `where` for each value of the
    parameter `values` (a list of strings; `where` names it `wanted.value`, and the project
    :project_id), as one statement: the values unnested, each joined LATERAL to its own rows.
    OFFSET in the lateral rows (an optimisation fence) keeps the planner from merging the two
    into one join. Merged, on a table it had no statistics for, it took 20,000 imports for one
    page and compared each value with every row (2.3 s for 500 values); apart, each value is a
    scan of its own, which probes the key index (2 ms). Statistics (`create_batch` has the
    import table analyzed as it grows) make that choice certain.

    SQL text, built once by its callers (`functools.cache`): as a Core construct it cost a
    command ~10 ms of compiling on its first look-up, before its first batch could go, and,
    built anew per look-up, ~2 ms more each time."""
    names = ", ".join(quote(c.name) for c in columns)
    return text(
        f"SELECT found.* FROM unnest(CAST(:values AS text[])) AS wanted(value)"
        f" CROSS JOIN LATERAL (SELECT {names} FROM {quote(t.import_.name)}"
        f" WHERE project_id = :project_id AND {where} OFFSET 0) AS found"
    ).columns(*columns)


@cache
def _imports_of_stems() -> TextualSelect:
    """PostgreSQL: the project's imports whose key is in the range of a stem of `values`:
    keys STEM#..., in [STEM#, STEM$) ("$" follows "#"). Pattern operators compare bytes
    whatever the database's collation (under en_US "a#x" sorts after "a$"); the index with
    varchar_pattern_ops serves them."""
    return per_value(
        list(t.import_.c),
        "idempotency_key ~>=~ (wanted.value || '#') AND idempotency_key ~<~ (wanted.value || '$')",
    )


class ImportsMixin(StoreBase):
    def create_import(
        self,
        project_id: int,
        *,
        source: str | None = None,
        media_type: str | None = None,
        mode: str = "create",
        file_id: int | None = None,
        directory_id: int | None = None,
        idempotency_key: str | None = None,
        packet_blob_key: str | None = None,
        status: str = "queued",
        media_name: str | None = None,
        media_url: str | None = None,
    ) -> tuple[Import, bool]:
        """(import, created). With an idempotency key already used in the project, the existing
        import and False, even when two requests race."""
        _check_status(status)
        if mode not in t.IMPORT_MODES:
            raise ValueError(f"mode {mode!r}: one of {', '.join(t.IMPORT_MODES)}")
        values = {
            "project_id": project_id,
            "source": source,
            "media_type": media_type,
            "mode": mode,
            "file_id": file_id,
            "directory_id": directory_id,
            "idempotency_key": idempotency_key,
            "packet_blob_key": packet_blob_key,
            "media_name": clip(media_name, MEDIA_NAME_CHARS),
            "media_url": clip(media_url, MEDIA_URL_CHARS),
            "status": status,
            "percent": 0.0,
            "problem_count": 0,
            "attempts": 0,
            "created_at": utcnow(),
        }
        i = t.import_
        with self._write() as conn:
            if idempotency_key is None:
                created = conn.execute(insert(i).values(values).returning(*i.c)).one()
                return from_row(Import, created), True
            # DO NOTHING waits for a concurrent insert of the same key to commit, after which
            # the SELECT (a new statement, a new snapshot under READ COMMITTED) sees it.
            new_import = insert_ignoring(self.dialect, i, ["project_id", "idempotency_key"])
            row = conn.execute(new_import.values(values).returning(*i.c)).first()
            if row is not None:
                return from_row(Import, row), True
            row = conn.execute(
                select(i).where(
                    i.c.project_id == project_id, i.c.idempotency_key == idempotency_key
                )
            ).one()
            return from_row(Import, row), False

    def create_rejected_import(
        self,
        project_id: int,
        *,
        problems: list[dict[str, Any]],
        problem_count: int,
        problem_counts_by_code: dict[str, int] | None = None,
        warnings: list[dict[str, Any]] | None = None,
        warning_count: int | None = None,
        source: str | None = None,
        media_type: str | None = None,
        mode: str = "create",
        file_id: int | None = None,
        idempotency_key: str | None = None,
        media_name: str | None = None,
        media_url: str | None = None,
        problem_groups: list[ProblemGroupOut] | None = None,
    ) -> Import:
        """The record of a packet refused at submit: status `rejected`, finished, its problems
        cut to REJECTED_PROBLEMS_KEPT (counted per code in full). The key is kept in
        `rejected_key` and reserves nothing. Past REJECTED_KEEP_PER_PROJECT rejected records in
        the project, the oldest are deleted in the same transaction."""
        if mode not in t.IMPORT_MODES:
            mode = "create"
        kept = [_clipped_problem(p) for p in problems[:REJECTED_PROBLEMS_KEPT]]
        kept_warnings = [_clipped_problem(w) for w in (warnings or [])[:REJECTED_WARNINGS_KEPT]]
        by_code = dict(problem_counts_by_code or {})
        if not by_code:
            for p in problems:
                by_code[p["code"]] = by_code.get(p["code"], 0) + 1
        counts: dict[str, Any] = {
            "problem_counts_by_code": by_code,
            "warning_count": len(warnings or []) if warning_count is None else warning_count,
        }
        if problem_groups is not None:  # grouped from the whole list, before it was cut
            counts["problem_groups"] = [
                {
                    **g,
                    "code": clip(str(g.get("code", "")), 100),
                    "message": clip(str(g.get("message", "")), REJECTED_TEXT_CHARS),
                    "examples": [_clipped_example(e) for e in (g.get("examples") or [])[:5]],
                }
                for g in problem_groups[:REJECTED_GROUPS_KEPT]
            ]
        now = utcnow()
        i = t.import_
        values = {
            "project_id": project_id,
            "file_id": file_id,
            "source": clip(source, 32),
            "media_type": clip(media_type, 32),
            "mode": mode,
            "status": "rejected",
            "percent": 0.0,
            "counts": counts,
            "problems": kept,
            "warnings": kept_warnings,
            "problem_count": max(problem_count, len(kept)),
            "rejected_key": clip(idempotency_key, 255),
            "media_name": clip(media_name, MEDIA_NAME_CHARS),
            "media_url": clip(media_url, MEDIA_URL_CHARS),
            "attempts": 0,
            "created_at": now,
            "finished_at": now,
        }
        with self._write() as conn:
            row = conn.execute(insert(i).values(values).returning(*i.c)).one()
            # A batch's rejected lines are not counted: the batch accounts for its lines, and
            # they are as many as the batch sent (its body is stored anyway).
            mine = (
                i.c.status == "rejected",
                i.c.project_id == project_id,
                i.c.batch_id.is_(None),
            )
            # The id of the newest record past the limit: it and older ones go. Read through the
            # (status, project_id, ...) index: the project's rejected rows, about the limit
            # (3.7 ms a refusal on SQLite, 6.4 ms on PostgreSQL, with 1,000 kept).
            cutoff = conn.execute(
                select(i.c.id)
                .where(*mine)
                .order_by(i.c.id.desc())
                .offset(REJECTED_KEEP_PER_PROJECT)
                .limit(1)
            ).scalar()
            if cutoff is not None:
                conn.execute(delete(i).where(*mine, i.c.id <= cutoff))
        return from_row(Import, row)

    def get_import(self, import_id: int, project_id: int | None = None) -> Import:
        i = t.import_
        where = [i.c.id == import_id]
        if project_id is not None:
            where.append(i.c.project_id == project_id)
        with self._read() as conn:
            row = conn.execute(select(i).where(*where)).first()
        if row is None:
            raise NotFound(f"import {import_id} not found")
        return from_row(Import, row)

    def find_import_by_key(self, project_id: int, idempotency_key: str) -> Import | None:
        i = t.import_
        with self._read() as conn:
            row = conn.execute(
                select(i).where(
                    i.c.project_id == project_id, i.c.idempotency_key == idempotency_key
                )
            ).first()
        return None if row is None else from_row(Import, row)

    def find_latest_import_by_key_stem(
        self, project_id: int, stem: str, *, status: str | None = None
    ) -> Import | None:
        """The newest import (of `status`, if given) whose idempotency key is `stem` + "#" +
        a version without "#": keys of the form STEM#VERSION, such as `labelport import`'s
        NAME#DIGEST. Exact and case-sensitive; a stem "a" does not find "a#b#1" (stem "a#b")."""
        i = t.import_
        q = select(i).where(
            i.c.project_id == project_id,
            self._stem_range(stem),
            ~func.substr(i.c.idempotency_key, len(stem) + 2).contains("#", autoescape=True),
        )
        if status is not None:
            q = q.where(i.c.status == status)
        # `id + 0`: ordered by the bare id, PostgreSQL may walk the whole primary key backwards
        # looking for a match instead of sorting the few rows of the key range.
        q = q.order_by((i.c.id + 0).desc()).limit(1)
        with self._read() as conn:
            row = conn.execute(q).first()
        return None if row is None else from_row(Import, row)

    def find_latest_imports_by_key_stems(
        self, project_id: int, stems: list[str]
    ) -> tuple[dict[str, Import], dict[str, Import]]:
        """`find_latest_import_by_key_stem` for many stems in a few statements: (newest import
        per stem, newest successful import per stem), each holding only the stems found."""
        i = t.import_
        latest: dict[str, Import] = {}
        latest_success: dict[str, Import] = {}
        wanted = sorted(set(stems))
        if not wanted:
            return latest, latest_success
        # One statement for every stem: the stems as a table (SQLite json_each, PostgreSQL
        # unnest), each joined to its range of keys by the (project_id, idempotency_key) index.
        # SQLite's planner would scan the project's imports once per stem: CROSS JOIN makes it
        # walk the stems outside. PostgreSQL's does the same without statistics (a table filled
        # by this very import, autovacuum off or behind): it read every import of the project
        # once per stem, 2.3 s for 500 stems among 20,000 imports; see `per_value`.
        if self.dialect == "postgresql":
            q: Executable = _imports_of_stems()
            params: dict[str, Any] = {"values": wanted, "project_id": project_id}
        else:
            q = text(
                'SELECT "import".* FROM json_each(:stems) AS stem CROSS JOIN "import"'
                " ON \"import\".idempotency_key >= stem.value || '#'"
                " AND \"import\".idempotency_key < stem.value || '$'"
                ' WHERE "import".project_id = :project_id'
            ).columns(*i.c)
            params = {"stems": json.dumps(wanted), "project_id": project_id}
        asked = set(wanted)
        with self._read() as conn:
            for row in conn.execute(q, params):
                key_stem = row.idempotency_key.rpartition("#")[0]
                if key_stem not in asked:  # "a#b#1" is in the range of "a" but of stem "a#b"
                    continue
                record = from_row(Import, row)
                if key_stem not in latest or record.id > latest[key_stem].id:
                    latest[key_stem] = record
                if record.status == "success" and (
                    key_stem not in latest_success or record.id > latest_success[key_stem].id
                ):
                    latest_success[key_stem] = record
        return latest, latest_success

    def _stem_range(self, stem: str) -> Any:
        """Keys STEM#...: those in [STEM#, STEM$), "$" following "#", as one index range scan."""
        key = t.import_.c.idempotency_key
        lo, hi = stem + "#", stem + "$"
        if self.dialect == "postgresql":
            # As in `_imports_of_stems`: pattern operators, served by the varchar_pattern_ops index
            return and_(
                key.op("~>=~", is_comparison=True)(lo), key.op("~<~", is_comparison=True)(hi)
            )
        return and_(key >= lo, key < hi)  # SQLite's BINARY collation already compares bytes

    def requeue_running_imports(self) -> int:
        """Every claimed, unfinished import goes back to `queued`: for a runner that knows (by its
        lock) that no other runner is alive on this database."""
        return len(self.requeue_stale_imports(utcnow() + timedelta(days=1)))

    def list_imports(
        self,
        project_id: int,
        *,
        status: str | None = None,
        media_type: str | None = None,
        file_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Import]:
        """Newest first."""
        i = t.import_
        q = select(i).where(i.c.project_id == project_id)
        if status is not None:
            q = q.where(i.c.status == status)
        if media_type is not None:
            q = q.where(i.c.media_type == media_type)
        if file_id is not None:
            q = q.where(i.c.file_id == file_id)
        q = q.order_by(i.c.created_at.desc(), i.c.id.desc()).limit(limit).offset(offset)
        with self._read() as conn:
            return [from_row(Import, r) for r in conn.execute(q)]

    def count_imports(
        self, project_id: int, *, status: str | None = None, media_type: str | None = None
    ) -> int:
        i = t.import_
        q = select(func.count()).select_from(i).where(i.c.project_id == project_id)
        if status is not None:
            q = q.where(i.c.status == status)
        if media_type is not None:
            q = q.where(i.c.media_type == media_type)
        with self._read() as conn:
            return conn.execute(q).scalar_one()

    def update_import(self, import_id: int, **changes: Any) -> Import:
        """Set any of IMPORT_FIELDS. Entering a terminal status stamps finished_at (if not
        given); `problems` sets problem_count (if not given)."""
        unknown = set(changes) - IMPORT_FIELDS
        if unknown:
            raise TypeError(f"not import fields: {', '.join(sorted(unknown))}")
        if "status" in changes:
            _check_status(changes["status"])
            if changes["status"] in t.TERMINAL_STATUSES:
                changes.setdefault("finished_at", utcnow())
        if changes.get("problems") is not None:
            changes.setdefault("problem_count", len(changes["problems"]))
        i = t.import_
        with self._write() as conn:
            row = conn.execute(
                update(i).where(i.c.id == import_id).values(**changes).returning(*i.c)
            ).first()
        if row is None:
            raise NotFound(f"import {import_id} not found")
        return from_row(Import, row)

    def claim_next_import(self, worker_id: str) -> Import | None:
        """Atomically take the next queued import: status `fetching`, claimed by `worker_id`,
        attempts + 1. None when nothing is queued. Which one: see `claim_next`."""
        with self._write() as conn:
            row = claim_next(conn, worker_id)
        return None if row is None else from_row(Import, row)

    def requeue_worker_imports(self, worker_id: str) -> int:
        """The unfinished imports claimed by `worker_id`, known to be dead (its process ended),
        go back to `queued` at once. Returns how many."""
        i = t.import_
        with self._write() as conn:
            result = conn.execute(
                update(i)
                .where(i.c.claimed_by == worker_id, i.c.status.in_(RUNNING_STATUSES))
                .values(**REQUEUED)
            )
            return int(result.rowcount or 0)

    def requeue_stale_imports(
        self, older_than: timedelta | datetime, max_attempts: int | None = None
    ) -> list[Import]:
        """Claimed, unfinished imports whose heartbeat (or claim) is older than the bound go back
        to `queued` (their worker is presumed dead). With `max_attempts`, those that have used
        them up become `failed` instead. Returns the imports changed."""
        cutoff = utcnow() - older_than if isinstance(older_than, timedelta) else older_than
        i = t.import_
        beat = i.c.heartbeat_at
        stale = [
            i.c.status.not_in((*t.TERMINAL_STATUSES, "queued")),
            ((beat.is_not(None) & (beat < cutoff)) | (beat.is_(None) & (i.c.claimed_at < cutoff))),
        ]
        changed: list[Any] = []
        with self._write() as conn:
            if max_attempts is not None:
                rows = conn.execute(
                    update(i)
                    .where(*stale, i.c.attempts >= max_attempts)
                    .values(
                        status="failed",
                        finished_at=utcnow(),
                        error=f"the worker stopped responding; gave up after {max_attempts} "
                        "attempts",
                    )
                    .returning(*i.c)
                ).all()
                changed.extend(rows)
            rows = conn.execute(update(i).where(*stale).values(**REQUEUED).returning(*i.c)).all()
            changed.extend(rows)
        return sorted((from_row(Import, r) for r in changed), key=lambda r: r.id)

    def write_import(self, plan: WritePlan) -> WriteResult:
        """Apply `plan` in one transaction, ending with the import in `success` (see write.py).

        Raises (and stores nothing) on any failure, including when the rows iterator raises;
        the import keeps its earlier status for the caller to set `failed`.
        """
        with self._write() as conn:
            return write_import(conn, plan)


def claim_next(conn: Connection, worker_id: str) -> Row[Any] | None:
    """Claim the next queued import on `conn` (inside a write transaction): the import's row
    after the claim, or None when nothing is queued. Which one: see `claim_picked`."""
    i = t.import_

    def claim(next_id: int) -> Sequence[Row[Any]]:
        return conn.execute(
            update(i)
            .where(i.c.id == next_id, i.c.status == "queued")
            .values(**claimed_by(worker_id, utcnow()))
            .returning(*i.c)
        ).all()

    rows = claim_picked(conn, claim)
    return rows[0] if rows else None


def claim_picked(
    conn: Connection, claim: Callable[[int], Sequence[Row[Any]]]
) -> Sequence[Row[Any]]:
    """What `claim(id)` claimed of the next queued import (inside a write transaction); none
    when nothing is queued. `claim` claims the import if it is still queued, and may claim more
    with it (a chunk of its batch): its rows after the claim, none when it was not queued.

    Fair across projects: the oldest queued import of the project with the fewest imports
    running, so a project with many slow or huge imports in flight does not keep the workers
    from another project's. Oldest first within a project, and among projects running as many."""
    # SQLite's write transaction (BEGIN IMMEDIATE) excludes other claimers. On PostgreSQL two
    # may pick the same import: the loser's claim waits, finds it no longer queued and looks
    # again (each statement sees what has committed since).
    for _attempt in range(20):
        next_id = conn.execute(_next_queued()).scalar()
        if next_id is None:
            return []
        rows = claim(next_id)
        if rows:
            return rows
    return []


@cache
def _next_queued() -> Select[Any]:
    """The id of the import `claim_picked` picks (built once: it names no value)."""
    i = t.import_
    p = t.project
    # The running imports (a few per worker) counted per project, then each project's next
    # queued import by one probe of the (status, project_id, created_at, id) index: the cost
    # grows with the projects, not with the queue (a scan of every queued row per claim would
    # make a queue of 100,000 imports quadratic).
    running = (
        select(i.c.project_id, func.count().label("n"))
        .where(i.c.status.in_(RUNNING_STATUSES))
        .group_by(i.c.project_id)
        .subquery("running")
    )
    queued = i.alias("queued")
    head = (
        select(queued.c.id)
        .where(queued.c.project_id == p.c.id, queued.c.status == "queued")
        .order_by(queued.c.created_at, queued.c.id)
        .limit(1)
        .correlate(p)
        .scalar_subquery()
    )
    heads = select(p.c.id.label("project_id"), head.label("next_id")).subquery("heads")
    return (
        select(i.c.id)
        .select_from(
            heads.join(i, i.c.id == heads.c.next_id).outerjoin(
                running, running.c.project_id == heads.c.project_id
            )
        )
        .order_by(func.coalesce(running.c.n, 0), i.c.created_at, i.c.id)
        .limit(1)
    )


# Claimed and not finished: what counts as running for the fairness of the claim.
RUNNING_STATUSES = tuple(
    s for s in t.IMPORT_STATUSES if s not in t.TERMINAL_STATUSES and s != "queued"
)


# What putting a claimed import back in the queue sets on it.
REQUEUED: dict[str, Any] = {
    "status": "queued",
    "claimed_by": None,
    "claimed_at": None,
    "heartbeat_at": None,
    "percent": 0.0,
}


def claimed_by(worker_id: str, now: datetime) -> dict[str, Any]:
    """What claiming a queued import sets on it (PostgreSQL's chunk claim says the same in SQL:
    `store.batches._CLAIM_SETS`)."""
    i = t.import_
    return {
        "status": "fetching",
        "claimed_by": worker_id,
        "claimed_at": now,
        "heartbeat_at": now,
        "attempts": i.c.attempts + 1,
        "started_at": now,
    }


def clip(text: str | None, chars: int) -> str | None:
    """`text` cut to `chars` characters (an ellipsis marks the cut), storable by both databases
    (a lone surrogate or a NUL written as its escape); None stays None."""
    if text is None:
        return None
    if not text.isascii() or "\x00" in text:
        text = text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")
    if len(text) <= chars:
        return text
    return text[: chars - 1] + "…"


def _clipped_problem(problem: dict[str, Any]) -> dict[str, Any]:
    shown = problem_dict(problem)
    return {
        "code": clip(shown["code"], 100),
        "path": clip(shown["path"], REJECTED_TEXT_CHARS),
        "message": clip(shown["message"], REJECTED_TEXT_CHARS),
    }


def _clipped_example(example: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "path": clip(str(example.get("path", "")), REJECTED_TEXT_CHARS),
        "message": clip(str(example.get("message", "")), REJECTED_TEXT_CHARS),
    }


def _check_status(status: str) -> None:
    if status not in t.IMPORT_STATUSES:
        raise ValueError(f"status {status!r}: one of {', '.join(t.IMPORT_STATUSES)}")
