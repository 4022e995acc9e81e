"""Imports run by out-of-process workers, on procrastinate (a PostgreSQL job queue).

Why procrastinate: the queue lives in the same PostgreSQL as the data, so there is no broker to
run or back up, and its jobs, locks and worker heartbeats are plain rows we can reason about.

The parts:

- `ProcrastinateDispatcher`: what an API server (`serve --workers 0`) uses. `enqueue(import_id)`
  defers one `labelport.run_import` job carrying the import id, with the lock ``import:<id>``
  (procrastinate never runs two jobs holding the same lock at once).
- `labelport.queue_worker` runs procrastinate workers whose task is `ImportJob.run(import_id)`.
- `Recovery`: run by every worker every few seconds:
  * a job whose worker stopped sending heartbeats (killed, machine lost) is retried, up to
    `max_attempts` runs in all; then the import ends `failed` with the reason;
  * a queued import that has no job (its API server died between creating the import and
    deferring the job) gets one; a non-finished import whose job ended `failed` (errors that
    escaped the job, e.g. the database went away, after procrastinate's own retries) ends
    `failed` with the reason.

Exactly-once results do not rest on the queue: the import row is the truth. `ImportJob.run`
returns at once for a finished import, and `write_import` marks it `success` in the same
transaction as its rows and refuses an import already finished. A rerun (a retried job, a
duplicate job) therefore either writes the whole import once or does nothing. A worker killed
mid-write loses its connection, and PostgreSQL rolls its transaction back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Text, and_, cast, column, exists, func, select, table, update
from sqlalchemy.dialects.postgresql import JSONB

from labelport.ingest.dispatch import JobsElsewhere
from labelport.store import tables as t
from labelport.store.coltypes import utcnow
from labelport.store.database import transaction

log = logging.getLogger(__name__)

RUN_IMPORT = "labelport.run_import"
QUEUE = "imports"
_SCHEMA_LOCK = "labelport.procrastinate.schema"

# Just the columns of procrastinate's job table that recovery reads.
_jobs = table(
    "procrastinate_jobs",
    column("id"),
    column("task_name"),
    column("status"),
    column("args", JSONB),
)
_job_status = cast(_jobs.c.status, Text)  # an enum type of procrastinate's


@dataclass(frozen=True)
class QueueSettings:
    """Timings of the out-of-process queue; the defaults suit production, tests shorten them."""

    max_attempts: int = 3  # runs of one import, first included, before it ends failed
    heartbeat_seconds: float = 10.0  # how often a worker says it is alive
    stalled_after: float = 30.0  # no heartbeat for this long: the worker is taken as dead
    check_every: float = 5.0  # how often each worker looks for stalled jobs
    orphan_after: float = 60.0  # a queued import without a job for this long gets one

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.stalled_after <= self.heartbeat_seconds:
            raise ValueError("stalled_after must be longer than the heartbeat interval")


def conninfo(database_url: str) -> str:
    """The libpq URL psycopg wants, from a labelport database URL (same server, same options,
    so procrastinate's tables land in the same schema as labelport's)."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(
            "the out-of-process queue needs a PostgreSQL database URL (postgresql://...)"
        )
    return f"postgresql://{rest}"


def ensure_schema(database_url: str) -> bool:
    """Create procrastinate's tables if they are missing; True if it did. Safe to call from
    many processes at once (an advisory lock makes them take turns)."""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(conninfo(database_url)) as conn, conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s || current_schema()))", (_SCHEMA_LOCK,)
        )
        present = conn.execute(
            "SELECT to_regclass(quote_ident(current_schema()) || '.procrastinate_jobs')"
        ).fetchone()
        if present is not None and present[0] is not None:
            return False
        conn.execute(SchemaManager.get_schema())
        return True


def sync_app(database_url: str, *, max_connections: int = 4) -> Any:
    """A procrastinate App for processes that only defer jobs (API servers)."""
    import procrastinate

    connector = procrastinate.SyncPsycopgConnector(
        conninfo=conninfo(database_url), min_size=1, max_size=max_connections
    )
    return procrastinate.App(connector=connector)


def async_app(database_url: str, *, max_connections: int = 8) -> Any:
    """A procrastinate App for workers (its worker loop is asyncio)."""
    import procrastinate

    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(database_url),
        kwargs={},
        min_size=1,
        max_size=max_connections,
    )
    return procrastinate.App(connector=connector)


def _deferrer(app: Any, import_id: int) -> Any:
    return app.configure_task(RUN_IMPORT, queue=QUEUE, lock=f"import:{import_id}")


def defer_import(app: Any, import_id: int) -> int:
    return _deferrer(app, import_id).defer(import_id=import_id)


async def defer_import_async(app: Any, import_id: int) -> int:
    return await _deferrer(app, import_id).defer_async(import_id=import_id)


class ProcrastinateDispatcher(JobsElsewhere):
    """The `Dispatcher` of an API server whose imports run in `labelport worker` processes."""

    runs_jobs = False
    claims_queued = False  # each chunk of a batch is a job of its own

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._app = sync_app(database_url)
        self._open = False

    def start(self) -> None:
        ensure_schema(self._database_url)
        self._app.open()
        self._open = True

    def enqueue(self, import_id: int) -> None:
        try:
            defer_import(self._app, import_id)
        except Exception:
            # The import row is already stored: recovery defers a job for it after
            # `orphan_after`, so the caller still gets its (queued) import.
            log.exception("deferring the job of import %s failed; recovery will retry", import_id)

    def notify(self) -> None:
        pass  # procrastinate wakes its workers itself (LISTEN/NOTIFY on defer)

    def stop(self) -> None:
        if self._open:
            self._app.close()
            self._open = False


def fail_unfinished(store: Any, import_id: int, error: str) -> bool:
    """Mark the import `failed` with `error` unless it has finished; True if it did.

    Conditional in one statement, so it can never overwrite a success written meanwhile.
    """
    i = t.import_
    with transaction(store.engine, write=True) as conn:
        done = conn.execute(
            update(i)
            .where(i.c.id == import_id, i.c.status.not_in(t.TERMINAL_STATUSES))
            .values(status="failed", error=error, finished_at=utcnow(), claimed_by=None)
        ).rowcount
    return done == 1


def unattended_imports(store: Any, older_than: timedelta, limit: int = 500) -> list[Any]:
    """Unfinished imports older than the bound with no job waiting or running for them, with how
    many of their jobs ended failed: rows (id, status, failed_jobs)."""
    i = t.import_
    mine = and_(
        _jobs.c.task_name == RUN_IMPORT,
        _jobs.c.args["import_id"].astext == cast(i.c.id, Text),
    )
    live = exists().where(mine, _job_status.in_(("todo", "doing")))
    # A batch's line runs in the job of its chunk, which carries another line's import id: the
    # line is attended while any job of its batch is waiting or running.
    line = t.import_.alias("line")
    batch_live = exists().where(
        _jobs.c.task_name == RUN_IMPORT,
        _job_status.in_(("todo", "doing")),
        _jobs.c.args["import_id"].astext.in_(
            select(cast(line.c.id, Text)).where(line.c.batch_id == i.c.batch_id)
        ),
    )
    failed = select(func.count()).where(mine, _job_status == "failed").scalar_subquery()
    query = (
        select(i.c.id, i.c.status, failed.label("failed_jobs"))
        .where(
            i.c.status.not_in(t.TERMINAL_STATUSES),
            i.c.created_at < utcnow() - older_than,
            ~live,
            (i.c.batch_id.is_(None)) | ~batch_live,
        )
        .order_by(i.c.id)
        .limit(limit)
    )
    with transaction(store.engine, write=False) as conn:
        return list(conn.execute(query))


class Recovery:
    """Stalled-job retry and the sweep for unattended imports (see the module docstring)."""

    def __init__(self, app: Any, store: Any, settings: QueueSettings) -> None:
        self.app = app
        self.store = store
        self.settings = settings

    async def run_forever(self, stop: asyncio.Event) -> None:
        sweep_every = max(self.settings.orphan_after / 2, self.settings.check_every)
        last_sweep = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await self.retry_stalled()
                if loop.time() - last_sweep >= sweep_every:
                    await self.sweep()
                    last_sweep = loop.time()
            except Exception:
                log.exception("import recovery failed; trying again at the next check")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.check_every)

    async def retry_stalled(self) -> int:
        """Retry (or give up on) the jobs of workers that stopped sending heartbeats."""
        from procrastinate.jobs import Status

        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(
            task_name=RUN_IMPORT, seconds_since_heartbeat=self.settings.stalled_after
        )
        handled = 0
        for job in stalled:
            import_id = int(job.task_kwargs["import_id"])
            runs = job.attempts + 1
            try:
                if runs >= self.settings.max_attempts:
                    error = (
                        f"the worker running this import stopped {runs} time(s); gave up after"
                        f" {runs} attempt(s)"
                    )
                    await asyncio.to_thread(fail_unfinished, self.store, import_id, error)
                    await manager.finish_job(job, Status.FAILED, delete_job=False)
                    log.warning("import %s: %s", import_id, error)
                else:
                    await manager.retry_job(job)
                    log.warning(
                        "import %s: its worker stopped; retrying (run %d of at most %d)",
                        import_id,
                        runs + 1,
                        self.settings.max_attempts,
                    )
                handled += 1
            except Exception as exc:  # another worker handled it first: nothing to do
                log.info("stalled job %s of import %s: %s", job.id, import_id, exc)
        return handled

    async def sweep(self) -> int:
        rows = await asyncio.to_thread(
            unattended_imports, self.store, timedelta(seconds=self.settings.orphan_after)
        )
        for import_id, status, failed_jobs in rows:
            if failed_jobs:
                error = f"its job failed {failed_jobs} time(s) without finishing the import"
                await asyncio.to_thread(fail_unfinished, self.store, import_id, error)
                log.warning("import %s: %s", import_id, error)
            elif status == "queued":
                await defer_import_async(self.app, import_id)
                log.warning("import %s had no job (its server stopped?); deferred one", import_id)
        return len(rows)
