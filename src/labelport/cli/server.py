"""`labelport serve`: the HTTP server (the native API, the diffgram-compatible routes, the web
pages), running imports in its own threads or queueing them for `labelport worker`s."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from labelport.cli.common import DatabaseUrl, DataDir, FetchMinRateOpt, FetchTimeoutOpt, fail
from labelport.errors import LabelportError


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (the diffgram SDK's debug default)")] = 8085,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    workers: Annotated[int, typer.Option(help="Import worker threads (0: queue only)")] = 2,
    allow_private_urls: Annotated[
        bool,
        typer.Option(help="Let packets fetch media from private / loopback addresses"),
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
    storage_url: Annotated[
        str | None,
        typer.Option("--storage-url", help="Blob store s3://bucket/prefix (default: data dir)"),
    ] = None,
    media_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--media-root",
            help="A folder whose files packets may name as media.url file:///... (repeatable;"
            " default $LABELPORT_MEDIA_ROOTS)",
        ),
    ] = None,
    media_bucket: Annotated[
        list[str] | None,
        typer.Option(
            "--media-bucket",
            help="An S3 bucket whose objects packets may name as media.url s3://bucket/key"
            " (repeatable; default $LABELPORT_MEDIA_BUCKETS)",
        ),
    ] = None,
    queue: Annotated[
        str,
        typer.Option(
            help="auto, threads or procrastinate. auto: with --workers 0 and a PostgreSQL"
            " --database-url, imports are queued for `labelport worker`s"
        ),
    ] = "auto",
    fetch_timeout: FetchTimeoutOpt = 60.0,
    fetch_min_rate: FetchMinRateOpt = 10.0,
    max_body_mb: Annotated[
        int,
        typer.Option(
            "--max-body-mb",
            min=1,
            envvar="LABELPORT_MAX_BODY_MB",
            help="The largest request body (a packet) in MB (2**20 bytes); larger answers 413",
        ),
    ] = 256,
) -> None:
    """Run the HTTP server: the native API, the diffgram-compatible routes, /docs."""
    import uvicorn

    from labelport.api import create_app
    from labelport.service import Service

    if queue == "auto":
        postgres = (database_url or "").startswith(("postgresql", "postgres:"))
        queue = "procrastinate" if workers == 0 and postgres else "threads"
    try:
        service = Service.open(
            data_dir=data_dir,
            database_url=database_url,
            allow_private_urls=allow_private_urls,
            media_roots=media_root,
            media_buckets=media_bucket,
            workers=workers,
            storage_url=storage_url,
            queue=queue,
            fetch_timeout=fetch_timeout,
            fetch_min_rate=round(fetch_min_rate * 1024),
        )
    except LabelportError as exc:
        raise fail(exc.message) from None
    except Exception as exc:
        raise fail(f"cannot open the data store: {exc}") from None
    try:
        app = create_app(service, max_body_bytes=max_body_mb << 20)
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
        server = uvicorn.Server(config)
        typer.echo(f"labelport serving on http://{host}:{port} (API docs: /docs)")
        link = _signin_link(app, host, port)
        typer.echo(f"Verify imports in a browser (one-time sign-in link): {link}")
        sys.stdout.flush()
        from labelport.running import announced

        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        with announced(data_dir, f"http://{shown}:{port}"):  # `labelport import` reads it
            server.run()
        if not server.started:
            raise fail(f"could not listen on {host}:{port}")
    finally:
        service.close()


def _signin_link(app: Any, host: str, port: int) -> str:
    from labelport.web import signin_url

    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return signin_url(app, f"http://{shown}:{port}")
