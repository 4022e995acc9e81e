"""`labelport worker`: run imports from the PostgreSQL queue (see docs/deploy.md)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from labelport.cli.common import FetchMinRateOpt, FetchTimeoutOpt, fail


def worker(
    database_url: Annotated[
        str,
        typer.Option("--database-url", help="PostgreSQL URL (the API servers' database)"),
    ],
    storage_url: Annotated[
        str | None,
        typer.Option(
            "--storage-url", help="Blob store: s3://bucket/prefix (default: <data-dir>/blobs)"
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Local blobs when there is no --storage-url")
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Imports run at once by this process")
    ] = 2,
    allow_private_urls: Annotated[
        bool, typer.Option(help="Let packets fetch media from private / loopback addresses")
    ] = False,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Runs of one import before it ends failed")
    ] = 3,
    stalled_after: Annotated[
        float, typer.Option(help="Seconds without a heartbeat before a worker counts as dead")
    ] = 30.0,
    heartbeat: Annotated[float, typer.Option(help="Seconds between a worker's heartbeats")] = 10.0,
    check_every: Annotated[
        float, typer.Option(help="Seconds between this worker's recovery checks")
    ] = 5.0,
    orphan_after: Annotated[
        float, typer.Option(help="Seconds before a queued import without a job gets one")
    ] = 60.0,
    fetch_timeout: FetchTimeoutOpt = 60.0,
    fetch_min_rate: FetchMinRateOpt = 10.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "warning",
) -> None:
    """Run imports queued by `labelport serve --workers 0` until stopped (SIGINT/SIGTERM)."""
    from labelport.ingest.procrastinate_queue import QueueSettings
    from labelport.queue_worker import run

    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = QueueSettings(
            max_attempts=max_attempts,
            heartbeat_seconds=heartbeat,
            stalled_after=stalled_after,
            check_every=check_every,
            orphan_after=orphan_after,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"labelport worker: concurrency {concurrency}, storage {storage_url or 'local'}")
    try:
        run(
            database_url=database_url,
            storage_url=storage_url,
            data_dir=str(data_dir) if data_dir else None,
            concurrency=concurrency,
            allow_private_urls=allow_private_urls,
            settings=settings,
            fetch_timeout=fetch_timeout,
            fetch_min_rate=round(fetch_min_rate * 1024),
        )
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # a bad URL, an unreachable database or bucket: say so, no traceback
        raise fail(f"the worker stopped: {type(exc).__name__}: {exc}") from None
