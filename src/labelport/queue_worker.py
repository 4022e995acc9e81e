"""`labelport worker`: a process that runs imports taken from the procrastinate queue.

Start as many as the machines allow (docs/deploy.md); they share nothing but PostgreSQL and the
object store. Each one also runs `Recovery`, so there is no extra process to keep alive for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from labelport.ingest.job import TERMINAL
from labelport.ingest.procrastinate_queue import (
    QUEUE,
    RUN_IMPORT,
    QueueSettings,
    Recovery,
    async_app,
    conninfo,
    ensure_schema,
)
from labelport.store.coltypes import utcnow

if TYPE_CHECKING:
    from labelport.service import Service

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def build_app(
    service: Service, database_url: str, concurrency: int, settings: QueueSettings
) -> Any:
    """The worker's procrastinate App with the import task bound to `service`."""
    from procrastinate import RetryStrategy

    # Jobs run in threads; each may hold a connection, plus the worker's own listener and
    # heartbeat.
    app = async_app(database_url, max_connections=concurrency + 3)
    name = worker_name()

    # Errors that reach procrastinate are outages (ImportJob.run turns every error of the
    # import itself into a `failed` import): retried with backoff, `max_attempts` runs in all.
    @app.task(
        name=RUN_IMPORT,
        queue=QUEUE,
        retry=(
            RetryStrategy(max_attempts=settings.max_attempts - 1, exponential_wait=2)
            if settings.max_attempts > 1
            else False
        ),
    )
    def run_import(import_id: int) -> None:
        row = service.store.get_import(import_id)
        if row.status in TERMINAL:
            return  # a duplicate or retried job of a finished import: nothing to do, ever
        now = utcnow()
        # Shown in the import: which worker runs it (for people; nothing relies on it).
        service.store.update_import(
            import_id,
            claimed_by=name,
            claimed_at=now,
            heartbeat_at=now,
            started_at=row.started_at or now,
        )
        service.run_import_job(import_id)

    return app


async def _serve(app: Any, service: Service, concurrency: int, settings: QueueSettings) -> None:
    stop = asyncio.Event()
    async with app.open_async():
        recovery = asyncio.create_task(
            Recovery(app, service.store, settings).run_forever(stop), name="labelport-recovery"
        )
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                name=worker_name(),
                concurrency=concurrency,
                update_heartbeat_interval=settings.heartbeat_seconds,
                stalled_worker_timeout=settings.stalled_after,
                delete_jobs="successful",
                shutdown_graceful_timeout=30,
            )
        finally:
            stop.set()
            await recovery


def run(
    *,
    database_url: str,
    storage_url: str | None,
    data_dir: str | None = None,
    concurrency: int = 2,
    allow_private_urls: bool = False,
    settings: QueueSettings | None = None,
    fetch_timeout: float | None = None,
    fetch_min_rate: int | None = None,
) -> None:
    """Run imports until SIGINT/SIGTERM (a job in progress is finished first, up to 30 s)."""
    from labelport.service import Service

    settings = settings or QueueSettings()
    conninfo(database_url)  # refuses a non-PostgreSQL URL before anything is created
    service = Service.open(
        data_dir=data_dir,
        database_url=database_url,
        storage_url=storage_url,
        allow_private_urls=allow_private_urls,
        workers=0,
        fetch_timeout=fetch_timeout,
        fetch_min_rate=fetch_min_rate,
    )
    try:
        ensure_schema(database_url)
        app = build_app(service, database_url, concurrency, settings)
        asyncio.run(_serve(app, service, concurrency, settings))
    finally:
        service.close()
