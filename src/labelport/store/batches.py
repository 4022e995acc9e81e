"""Batches: many packets in one stream, each line an import of its own, created and claimed in bulk.

A batch's lines live in one blob (the stream as sent); each import points at its line by byte
offset and length. Workers claim a run of queued lines of one batch at once and write them in one
transaction (`write_imports`), so the cost per file is close to reading it and inserting its rows.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Table,
    and_,
    bindparam,
    func,
    insert,
    select,
    text,
    true,
    update,
)
from sqlalchemy.sql.selectable import TextualSelect

from labelport.store import tables as t
from labelport.store.base import StoreBase
from labelport.store.bulk import quote
from labelport.store.coltypes import utcnow
from labelport.store.errors import NotFound
from labelport.store.import_updates import json_rows, unfinished, update_unfinished_imports
from labelport.store.imports import (
    MEDIA_NAME_CHARS,
    MEDIA_URL_CHARS,
    claim_next,
    claim_picked,
    claimed_by,
    clip,
    per_value,
)
from labelport.store.plan import WritePlan
from labelport.store.records import Batch, Import, from_row
from labelport.store.write_many import is_fresh, write_many

_CHUNK = 500  # ids per IN (...) list
_INSERT_CHUNK = 5000  # imports per insert statement of a batch
# Rows. Not more: unanalyzed, even a table of a few hundred imports is read whole once per key
# looked up (a send of 500 lines took 60-80 ms at 450 imports; 1 ms once analyzed), while the
# ANALYZE of such a table takes 1-4 ms.
_ANALYZE_FROM = 64


@dataclass(frozen=True)
class BatchLine:
    """Where a line's packet is in the batch's blob, and its idempotency key if it has one."""

    offset: int
    length: int
    idempotency_key: str | None
    media_name: str | None = None  # the media's name and URL as the line gives them
    media_url: str | None = None


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class BatchesMixin(StoreBase):
    def create_batch(
        self,
        project_id: int,
        lines: Sequence[BatchLine],
        *,
        on_error: str,
        media: str,
        source: str | None,
        body_blob_key: str,
    ) -> Batch:
        """The batch and one queued import per line, in one transaction.

        A line whose key an import of the project already has (or an earlier line of this batch)
        gets no import: `duplicates` maps it to the first one. Concurrent batches sending the same
        key are resolved by the unique index: exactly one import per key."""
        now = utcnow()
        b, i = t.batch, t.import_
        with self._write() as conn:
            inserted = conn.execute(
                insert(b)
                .values(
                    project_id=project_id,
                    status="queued",
                    on_error=on_error,
                    media=media,
                    source=source,
                    file_count=len(lines),
                    body_blob_key=body_blob_key,
                    created_at=now,
                )
                .returning(*b.c)
            ).one()
            batch_id = inserted.id
            first_line: dict[str, int] = {}
            for n, line in enumerate(lines):
                if line.idempotency_key is not None:
                    first_line.setdefault(line.idempotency_key, n)
            common = {
                "project_id": project_id,
                "source": source,
                "mode": "create",
                "status": "queued",
                "percent": 0.0,
                "problem_count": 0,
                "attempts": 0,
                "created_at": now,
                "packet_blob_key": body_blob_key,
                "batch_id": batch_id,
            }
            created: set[int] = set()
            for start in range(0, len(lines), _INSERT_CHUNK):  # bounded memory for big batches
                rows = [
                    (
                        line.idempotency_key,
                        clip(line.media_name, MEDIA_NAME_CHARS),
                        clip(line.media_url, MEDIA_URL_CHARS),
                        line.offset,
                        line.length,
                        n,
                    )
                    for n, line in enumerate(lines[start : start + _INSERT_CHUNK], start)
                    if line.idempotency_key is None or first_line[line.idempotency_key] == n
                ]
                created.update(_insert_lines(conn, common, rows))
            duplicates = _first_imports(conn, project_id, lines, created)
            if duplicates:
                conn.execute(
                    update(b)
                    .where(b.c.id == batch_id)
                    .values(duplicates={str(k): v for k, v in duplicates.items()})
                )
            if lines and len(created) == len(lines):  # queued, as inserted
                batch = from_row(Batch, inserted)
            else:  # as far on as its duplicates' first imports are (`finish_batch_if_done`)
                batch = _settle_batch(conn, batch_id)
            stale = conn.dialect.name == "postgresql" and _statistics_stale(conn, i)
        if stale:
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f'ANALYZE "{i.name}"')
                conn.commit()
        return batch

    def get_batch(self, batch_id: int, project_id: int | None = None) -> Batch:
        with self._read() as conn:
            return _batch(conn, batch_id, project_id)

    def list_batches(self, project_id: int, *, limit: int = 50, offset: int = 0) -> list[Batch]:
        b = t.batch
        q = (
            select(b)
            .where(b.c.project_id == project_id)
            .order_by(b.c.created_at.desc(), b.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._read() as conn:
            return [from_row(Batch, r) for r in conn.execute(q)]

    def count_batches(self, project_id: int) -> int:
        b = t.batch
        q = select(func.count()).select_from(b).where(b.c.project_id == project_id)
        with self._read() as conn:
            return conn.execute(q).scalar_one()

    def batch_imports(self, batch_id: int, first_line: int, last_line: int) -> list[Import]:
        """The batch's imports of lines first_line..last_line (inclusive), by line."""
        i = t.import_
        q = (
            select(i)
            .where(i.c.batch_id == batch_id, i.c.batch_line.between(first_line, last_line))
            .order_by(i.c.batch_line)
        )
        with self._read() as conn:
            return [from_row(Import, r) for r in conn.execute(q)]

    def warned_batch_imports(self, batch_id: int, limit: int, offset: int = 0) -> list[Import]:
        """The batch's imports that have warnings, by line: `limit` of them from `offset`."""
        i = t.import_
        q = (
            select(i)
            .where(i.c.batch_id == batch_id, i.c.warnings.is_not(None), i.c.warnings != [])
            .order_by(i.c.batch_line)
            .limit(limit)
            .offset(offset)
        )
        with self._read() as conn:
            return [from_row(Import, r) for r in conn.execute(q)]

    def batch_chunk_heads(self, batch_id: int, chunk: int) -> list[int]:
        """The import of the first line of each chunk of `chunk` lines that has any import."""
        i = t.import_
        q = (
            select(func.min(i.c.id))
            .where(i.c.batch_id == batch_id)
            # `//`: floor division ("/" is true division in SQLAlchemy 2: a chunk per line)
            .group_by(i.c.batch_line // chunk)
        )
        with self._read() as conn:
            return sorted(conn.execute(q).scalars())

    def get_imports(self, import_ids: Iterable[int]) -> dict[int, Import]:
        i = t.import_
        found: dict[int, Import] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(set(import_ids))):
                for row in conn.execute(select(i).where(i.c.id.in_(chunk))):
                    found[row.id] = from_row(Import, row)
        return found

    def finish_batch_if_done(self, batch_id: int) -> Batch:
        return self.batch_state(batch_id)[0]

    def batch_state(
        self, batch_id: int, project_id: int | None = None
    ) -> tuple[Batch, dict[str, int]]:
        """The batch, its status brought up to date with its lines (queued, running, or once
        none is pending, success / partial / failed), and its lines per status: a duplicate
        line counts as its first import's status, and once more under `duplicate`; a line
        whose import has warnings counts once more under `warned`."""
        b = t.batch
        with self._read() as conn:
            # The batch and its lines in one statement, as of one moment: read a statement
            # apart on PostgreSQL, a claim or a chunk's end committing in between (each sets
            # the batch's status with its lines') made them disagree, and the reader took a
            # write transaction to set what was already there. One statement is also one round
            # trip where a REPEATABLE READ transaction of two was four (a polling client's).
            batch, per_status, warned = _batch_and_lines(conn, batch_id, project_id)
            per_status.update(_duplicate_statuses(conn, batch))
        counts = {**per_status, "duplicate": len(batch.duplicates or {}), "warned": warned}
        if batch.status in t.BATCH_TERMINAL_STATUSES:
            return batch, counts
        status, finished = _status_of(per_status)
        if status == batch.status:
            return batch, counts
        with self._write() as conn:
            changed = conn.execute(
                update(b)
                .where(b.c.id == batch_id, b.c.status == batch.status)
                .values(status=status, finished_at=finished)
            ).rowcount
        if not changed:  # another caller moved it on since our read: read it again, as it is now
            return self.batch_state(batch_id, project_id)
        return dataclasses.replace(batch, status=status, finished_at=finished), counts

    def claim_next_imports(self, worker_id: str, limit: int) -> list[Import]:
        """The next queued import (`claim_next_import`'s fair pick), and when it is a batch's
        line, up to `limit` - 1 more queued lines of the same batch (in line order): all
        `fetching`, claimed by `worker_id`, in one transaction, which also marks a queued batch
        `running`."""
        i = t.import_
        if self.dialect == "sqlite":
            # SQLite has one write lock for every writer: a worker that finds nothing to do
            # must not wait for it (and make the writers wait) to learn that.
            with self._read() as conn:
                queued = select(i.c.id).where(i.c.status == "queued").limit(1)
                if conn.execute(queued).first() is None:
                    return []
        with self._write() as conn:
            return _claim_lines(conn, worker_id, limit)

    def start_imports(self, started: Sequence[dict[str, Any]]) -> None:
        """Many running imports to `processing`, with what their packets say of them. Each dict:
        id, mode, media_type, directory_id. Finished ones are left alone."""
        self.start_and_fail_imports(started, [])

    def fail_imports(self, failures: Sequence[dict[str, Any]]) -> None:
        """End many imports `failed` in one transaction. Each dict: id, problems, problem_count,
        warnings, counts, error, and optionally media_type; with `rejected` true, a line
        refused before any fetch ends `rejected` instead, its key moved to `rejected_key` so
        that it holds nothing (docs/imports.md). Finished ones are kept."""
        self.start_and_fail_imports([], failures)

    def start_and_fail_imports(
        self, started: Sequence[dict[str, Any]], failures: Sequence[dict[str, Any]]
    ) -> None:
        """`start_imports(started)` and `fail_imports(failures)` in one transaction (none when
        both are empty): a chunk's lines that go on to their media, and those that end before."""
        if not started and not failures:
            return
        with self._write() as conn:
            _start(conn, started)
            _end_failed(conn, failures)

    def end_batch_imports(
        self,
        batch_id: int,
        plans: Sequence[WritePlan],
        failures: Sequence[dict[str, Any]],
        *,
        started: Sequence[dict[str, Any]] = (),
        failed: Sequence[dict[str, Any]] = (),
        ready: Callable[[], object] | None = None,
    ) -> Batch:
        """End imports of batch `batch_id` in one transaction: first
        `start_and_fail_imports(started, failed)`, then write `plans` (each import `success`,
        see write_many.py), end `failures` as `fail_imports` does, and bring the batch's status
        up to date (`finish_batch_if_done`). All or none of it: a plan that cannot be written
        (or whose import has ended) stores nothing. `ready`: called once the rows are written
        and before anything commits (the plans' blobs made durable meanwhile); what it raises
        aborts the transaction."""
        with self._write() as conn:
            return _end_chunk(conn, batch_id, plans, [*failed, *failures], started, ready)

    def end_batch_imports_and_claim(
        self,
        batch_id: int,
        plans: Sequence[WritePlan],
        failures: Sequence[dict[str, Any]],
        *,
        started: Sequence[dict[str, Any]] = (),
        failed: Sequence[dict[str, Any]] = (),
        ready: Callable[[], object] | None = None,
        worker_id: str,
        limit: int,
    ) -> list[Import]:
        """`end_batch_imports`, then in the same transaction `claim_next_imports(worker_id,
        limit)`: the worker's next work, which it runs next (on SQLite one turn of the write
        lock for both). All or none of it, the claim too."""
        with self._write() as conn:
            _end_chunk(conn, batch_id, plans, [*failed, *failures], started, ready)
            return _claim_lines(conn, worker_id, limit)

    def set_batch_import_counts(self, batch_id: int, counts: dict[int, dict[str, Any]]) -> None:
        """Counts known before the job runs (a converter's losses), by line; the job's write
        merges its own counts into these."""
        i = t.import_
        stmt = (
            update(i)
            .where(i.c.batch_id == batch_id, i.c.batch_line == bindparam("line"))
            .values(counts=bindparam("counts", type_=i.c.counts.type))
        )
        with self._write() as conn:
            conn.execute(stmt, [{"line": n, "counts": c} for n, c in counts.items()])

    def find_imports_by_keys(self, project_id: int, keys: Sequence[str]) -> dict[str, Import]:
        with self._read() as conn:
            rows = _by_keys(conn, project_id, keys, *t.import_.c)
            return {row.idempotency_key: from_row(Import, row) for row in rows}


_LINE_COLUMNS = (
    "idempotency_key",
    "media_name",
    "media_url",
    "packet_offset",
    "packet_length",
    "batch_line",
)


def _statistics_stale(conn: Connection, table: Table) -> bool:
    """PostgreSQL: whether `table` holds twice the rows its statistics last saw, and should be
    analyzed (after the transaction: ANALYZE takes 20-130 ms at 20,000 rows).

    A first import fills the import table in minutes, faster than autovacuum analyzes it
    (when it runs at all: it can be off). Planned with no statistics, a table of 20,000
    imports looks like one page: the claim, the batch's state and the key look-ups then
    read every import of the project where they meant to probe an index. Doubling keeps
    this to a few ANALYZEs an import (it samples at most 30,000 rows), and none once the
    table is large and settled. Asked inside the batch's own transaction: one statement, where
    a transaction of its own was a connection's checkout and three round trips a batch."""
    seen, rows = conn.execute(
        text(
            f"SELECT c.reltuples, (SELECT max(id) FROM {quote(table.name)})"  # ids only grow
            " FROM pg_class AS c WHERE c.oid = CAST(:name AS regclass)"
        ),
        {"name": quote(table.name)},
    ).one()
    rows = rows or 0
    return bool(rows >= _ANALYZE_FROM and (seen is None or rows > 2 * max(seen, 0)))


def _insert_lines(
    conn: Connection, common: dict[str, Any], rows: list[tuple[Any, ...]]
) -> Iterable[int]:
    """Imports of a batch's lines: `common` the same in each, `rows` in _LINE_COLUMNS order. A
    line whose key the project has already (or that a concurrent batch is inserting, which this
    waits for) gets no import: DO NOTHING. Returns the lines that got one.

    SQLite: one executemany on the driver, `common` bound once. Through Core each line's dict
    was built and processed (~1/3 of create_batch, all of it under the write lock the import
    workers wait on)."""
    if not rows:
        return ()
    i = t.import_
    if conn.dialect.name == "postgresql":
        # One statement over the lines as one JSON document, `common` bound once: an
        # executemany was a statement a line (~0.1 s of the server's time for 2,000 lines).
        # In the lines' order, so that of two lines with one key the first gets the import.
        rows_sql, document = json_rows(conn, i, _LINE_COLUMNS, rows)
        names = ", ".join(map(quote, [*common, *_LINE_COLUMNS]))
        values = ", ".join([*(f":c_{name}" for name in common), *map(quote, _LINE_COLUMNS)])
        inserted = text(
            f"INSERT INTO {quote(i.name)} ({names}) SELECT {values} FROM ({rows_sql}) AS v"
            " ORDER BY v.row_order ON CONFLICT (project_id, idempotency_key) DO NOTHING"
            " RETURNING batch_line"
        ).bindparams(
            *(bindparam(f"c_{name}", value, type_=i.c[name].type) for name, value in common.items())
        )
        return conn.execute(inserted, {"rows": document}).scalars().all()
    dialect = conn.dialect
    bound = []
    for name, value in common.items():
        bind = i.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        bound.append(value if value is None or bind is None else bind(value))
    fixed = tuple(bound)
    names = ", ".join(map(quote, [*common, *_LINE_COLUMNS]))
    marks = ", ".join("?" * (len(common) + len(_LINE_COLUMNS)))
    sql = (
        f"INSERT INTO {quote(i.name)} ({names}) VALUES ({marks})"
        " ON CONFLICT (project_id, idempotency_key) DO NOTHING"
    )
    raw: Any = conn.connection.driver_connection
    cur = raw.cursor()
    try:
        cur.executemany(sql, map(fixed.__add__, rows))
        inserted = cur.rowcount  # executemany's: summed over the rows
    finally:
        cur.close()
    lines = [row[-1] for row in rows]  # batch_line: the last of _LINE_COLUMNS
    if inserted == len(rows):
        return lines
    q = select(i.c.batch_line).where(
        i.c.batch_id == common["batch_id"], i.c.batch_line.between(lines[0], lines[-1])
    )
    return conn.execute(q).scalars().all()


def _end_chunk(
    conn: Connection,
    batch_id: int,
    plans: Sequence[WritePlan],
    failures: Sequence[dict[str, Any]],
    started: Sequence[dict[str, Any]],
    ready: Callable[[], object] | None = None,
) -> Batch:
    # The start of a new file's import is set by the statement that ends it (one UPDATE of
    # the chunk's imports fewer, inside the write lock); the others' by a start of their own.
    fresh = {plan.import_id for plan in plans if is_fresh(plan)}
    folded = {s["id"]: s for s in started if s["id"] in fresh}
    if len(folded) != len(fresh):  # all of them or none (`write_many`)
        folded = {}
    _start(conn, [s for s in started if s["id"] not in folded])
    _end_failed(conn, failures)
    write_many(conn, plans, started=folded)
    if ready is not None:
        ready()  # before the batch's row is locked by the settling, and before the commit
    return _settle_batch(conn, batch_id)


def _claim_lines(conn: Connection, worker_id: str, limit: int) -> list[Import]:
    """`claim_next_imports` on `conn`, inside a write transaction."""
    if conn.dialect.name == "postgresql":
        return _claim_lines_postgres(conn, worker_id, limit)
    i, b = t.import_, t.batch
    first = claim_next(conn, worker_id)
    if first is None:
        return []
    rows = [first]
    if first.batch_id is not None:
        more = (
            select(i.c.id)
            .where(i.c.batch_id == first.batch_id, i.c.status == "queued")
            .order_by(i.c.batch_line)
            .limit(limit - 1)
            .with_for_update(skip_locked=True)
        )
        ids = list(conn.execute(more).scalars()) if limit > 1 else []
        if ids:
            rows += conn.execute(
                update(i)
                .where(i.c.id.in_(ids), i.c.status == "queued")
                .values(**claimed_by(worker_id, utcnow()))
                .returning(*i.c)
            ).all()
        # What `batch_state` would find (a line has left the queue), so that a reader of the
        # batch need not take the write lock to say it.
        queued = (b.c.id == first.batch_id, b.c.status == "queued")
        conn.execute(update(b).where(*queued).values(status="running"))
    claimed = [from_row(Import, r) for r in rows]
    return sorted(claimed, key=lambda r: r.batch_line or 0)


def _claim_lines_postgres(conn: Connection, worker_id: str, limit: int) -> list[Import]:
    """`_claim_lines` in two statements: the fair pick, then the pick and the rest of its
    batch's chunk claimed at once (`_claim_with_its_batch`). A chunk's claim was five round
    trips, each a wait for a server the other workers keep busy."""

    def claim(next_id: int) -> Sequence[Row[Any]]:
        params = {"next": next_id, "more": max(limit - 1, 0), "worker": worker_id, "now": utcnow()}
        return conn.execute(_claim_with_its_batch(), params).all()

    claimed = [from_row(Import, r) for r in claim_picked(conn, claim)]
    return sorted(claimed, key=lambda r: r.batch_line or 0)


# What `claimed_by` sets, as the claim statement's SQL (tests/store: the same columns).
_CLAIM_SETS = {
    "status": "'fetching'",
    "claimed_by": ":worker",
    "claimed_at": ":now",
    "heartbeat_at": ":now",
    "attempts": "attempts + 1",
    "started_at": ":now",
}


@cache
def _claim_with_its_batch() -> TextualSelect:
    """PostgreSQL: import :next claimed for :worker if still queued and, when it is a batch's
    line, up to :more more queued lines of that batch (in line order, passing over those
    another claimer holds), and the batch marked running if queued; the claimed rows.

    The picks are MATERIALIZED: evaluated once, where a locking subquery inlined into the
    UPDATE was planned as a nested loop that locked again for every queued row. The ids are
    matched as one array, a probe of the primary key each. SQL text, built once: as a Core
    construct its first build took ~18 ms of each worker's first claim, before its first chunk
    could start."""
    i, b = t.import_, t.batch
    imports, batches = quote(i.name), quote(b.name)
    sets = ", ".join(f"{quote(name)} = {value}" for name, value in _CLAIM_SETS.items())
    names = ", ".join(quote(c.name) for c in i.c)
    return (
        text(
            f"WITH first AS MATERIALIZED (SELECT id, batch_id FROM {imports}"
            " WHERE id = :next AND status = 'queued' FOR UPDATE),"
            f" more AS MATERIALIZED (SELECT line.id FROM {imports} AS line"
            " JOIN first ON line.batch_id = first.batch_id"
            " WHERE line.status = 'queued' AND line.id <> first.id"
            " ORDER BY line.batch_line LIMIT :more FOR UPDATE OF line SKIP LOCKED),"
            f" running AS (UPDATE {batches} SET status = 'running'"
            " WHERE id = (SELECT batch_id FROM first) AND status = 'queued')"
            f" UPDATE {imports} SET {sets}"
            " WHERE id = any(array(SELECT id FROM first UNION ALL SELECT id FROM more))"
            f" AND status = 'queued' RETURNING {names}"
        )
        .bindparams(
            bindparam("now", type_=i.c.claimed_at.type),
            bindparam("worker", type_=i.c.claimed_by.type),
        )
        .columns(*i.c)
    )


def _start(conn: Connection, started: Sequence[dict[str, Any]]) -> None:
    if not started:
        return
    rows = [
        {
            "id": s["id"],
            "mode": s["mode"],
            "media_type": s["media_type"],
            "directory_id": s["directory_id"],
        }
        for s in started
    ]
    begun = {"status": "processing", "percent": 10.0, "heartbeat_at": utcnow()}
    update_unfinished_imports(conn, rows, begun)


def _end_failed(conn: Connection, failures: Sequence[dict[str, Any]]) -> None:
    """End `failures` (see `fail_imports`): `failed`, or `rejected` with their key moved."""
    if not failures:
        return
    i = t.import_
    now = utcnow()
    failed: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for f in failures:
        (rejected if f.get("rejected") else failed).append(
            {
                "iid": f["id"],
                "problems": f.get("problems") or [],
                "problem_count": f.get("problem_count", len(f.get("problems") or [])),
                "warnings": f.get("warnings") or [],
                "counts": f.get("counts") or {},
                "error": f.get("error"),
                "media_type": f.get("media_type"),
                "finished_at": now,
            }
        )
    for status, params in (("failed", failed), ("rejected", rejected)):
        if not params:
            continue
        keys: dict[str, Any] = {}
        if status == "rejected":  # both read the row as it was: the key moves
            keys = {"rejected_key": i.c.idempotency_key, "idempotency_key": None}
        stmt = (
            update(i)
            .where(i.c.id == bindparam("iid"), *unfinished(i))
            .values(
                status=status,
                **keys,
                problems=bindparam("problems", type_=i.c.problems.type),
                problem_count=bindparam("problem_count"),
                warnings=bindparam("warnings", type_=i.c.warnings.type),
                counts=bindparam("counts", type_=i.c.counts.type),
                error=bindparam("error"),
                media_type=func.coalesce(bindparam("media_type"), i.c.media_type),
                finished_at=bindparam("finished_at"),
            )
        )
        conn.execute(stmt, params)


def _settle_batch(conn: Connection, batch_id: int) -> Batch:
    """`batch_state`'s status, set inside a write transaction that has just ended some of the
    batch's lines, and the batch as it then is.

    On PostgreSQL the batch row is locked first: two chunks ending at once would each count the
    other's lines as pending (not yet committed) and neither would end the batch; the second
    waits for the first's commit, and its count (a new statement, a new snapshot) sees it."""
    b, i = t.batch, t.import_
    row = conn.execute(select(b).where(b.c.id == batch_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"batch {batch_id} not found")
    batch = from_row(Batch, row)
    if batch.status in t.BATCH_TERMINAL_STATUSES:
        return batch
    if batch.status == "running":
        # While lines are pending it stays running: one pending line says so without counting
        # every line of the batch. Lines are claimed in order: the last are the last to end.
        pending = (
            select(i.c.id)
            .where(i.c.batch_id == batch_id, *unfinished(i))
            .order_by(i.c.batch_line.desc())
            .limit(1)
        )
        if conn.execute(pending).first() is not None:
            return batch
    status, finished = _status_of(_line_statuses(conn, batch))
    if status == batch.status:
        return batch
    conn.execute(update(b).where(b.c.id == batch_id).values(status=status, finished_at=finished))
    return dataclasses.replace(batch, status=status, finished_at=finished)


def _status_of(per_status: Counter[str]) -> tuple[str, datetime | None]:
    """A batch's status, and when it finished, from its lines per status."""
    pending = sum(n for s, n in per_status.items() if s not in t.TERMINAL_STATUSES)
    if pending:
        return ("queued" if set(per_status) == {"queued"} else "running"), None
    failed = per_status.get("failed", 0) + per_status.get("rejected", 0)
    total = sum(per_status.values())
    return ("success" if not failed else "failed" if failed == total else "partial"), utcnow()


def _first_imports(
    conn: Connection,
    project_id: int,
    lines: Sequence[BatchLine],
    created: set[int],
) -> dict[int, int]:
    """line -> id of the import that already had its key, for every line without an import."""
    missing = [n for n in range(len(lines)) if n not in created]
    if not missing:
        return {}
    i = t.import_
    keys = [key for n in missing if (key := lines[n].idempotency_key)]
    id_of: dict[str, int] = {
        row.idempotency_key: row.id
        for row in _by_keys(conn, project_id, keys, i.c.idempotency_key, i.c.id)
    }
    duplicates = {}
    for n in missing:
        key = lines[n].idempotency_key
        if key is None or key not in id_of:  # cannot happen: the insert skipped it for its key
            raise NotFound(f"line {n}: the import holding its idempotency key vanished")
        duplicates[n] = id_of[key]
    return duplicates


def _by_keys(
    conn: Connection, project_id: int, keys: Iterable[str], *columns: Any
) -> list[Row[Any]]:
    """`columns` of the project's imports holding any of `keys`, by the (project_id,
    idempotency_key) index. On PostgreSQL a key at a time (`per_value`): as an IN list, on a
    table without statistics, each batch read every import of the project."""
    i = t.import_
    wanted = sorted(set(keys))
    if conn.dialect.name == "postgresql":
        if not wanted:
            return []
        found = _imports_of_keys(columns)
        return list(conn.execute(found, {"values": wanted, "project_id": project_id}))
    rows: list[Row[Any]] = []
    for chunk in _chunks(wanted):
        q = select(*columns).where(i.c.project_id == project_id, i.c.idempotency_key.in_(chunk))
        rows.extend(conn.execute(q))
    return rows


@cache
def _imports_of_keys(columns: tuple[Any, ...]) -> TextualSelect:
    """PostgreSQL: `columns` of the project's imports whose key is one of `values`."""
    return per_value(columns, "idempotency_key = wanted.value")


def _batch(conn: Connection, batch_id: int, project_id: int | None) -> Batch:
    b = t.batch
    q = select(b).where(b.c.id == batch_id)
    if project_id is not None:
        q = q.where(b.c.project_id == project_id)
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"batch {batch_id} not found")
    return from_row(Batch, row)


def _line_statuses(conn: Connection, batch: Any) -> Counter[str]:
    """Lines per status: a line's own import's, or for a duplicate, its first import's."""
    i = t.import_
    q = select(i.c.status, func.count()).where(i.c.batch_id == batch.id).group_by(i.c.status)
    per_status: Counter[str] = Counter({status: n for status, n in conn.execute(q)})
    per_status.update(_duplicate_statuses(conn, batch))
    return per_status


def _duplicate_statuses(conn: Connection, batch: Batch) -> list[str]:
    """The status of each duplicate line's first import."""
    i = t.import_
    firsts = list((batch.duplicates or {}).values())
    status_of: dict[int, str] = {}
    for chunk in _chunks(sorted(set(firsts))):
        q = select(i.c.id, i.c.status).where(i.c.id.in_(chunk))
        status_of.update((x, status) for x, status in conn.execute(q))
    return [status_of.get(x, "failed") for x in firsts]


def _batch_and_lines(
    conn: Connection, batch_id: int, project_id: int | None
) -> tuple[Batch, Counter[str], int]:
    """The batch, its own lines per status, and how many of them have warnings."""
    b, i = t.batch, t.import_
    warned = and_(i.c.warnings.is_not(None), i.c.warnings != [])
    lines = (
        select(
            i.c.status.label("line_status"),
            func.count().label("lines"),
            func.count().filter(warned).label("warned"),
        )
        .where(i.c.batch_id == batch_id)
        .group_by(i.c.status)
        .subquery("lines")
    )
    q = select(b, lines).select_from(b.outerjoin(lines, true())).where(b.c.id == batch_id)
    if project_id is not None:
        q = q.where(b.c.project_id == project_id)
    rows = conn.execute(q).all()
    if not rows:
        raise NotFound(f"batch {batch_id} not found")
    per_status: Counter[str] = Counter(
        {r.line_status: r.lines for r in rows if r.line_status is not None}
    )
    return from_row(Batch, rows[0]), per_status, sum(r.warned or 0 for r in rows)
