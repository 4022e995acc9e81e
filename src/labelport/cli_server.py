"""The server's commands: `serve`, `project create`, `key create`, `label add`, `imports`,
`import-status`. Registered on the `labelport` command by `register(app)`.

All but `serve` open the Service with no worker threads, so they work beside a running server on
the same data (the server's workers pick up anything they queue).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from labelport.errors import LabelportError

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (SQLite + blobs). Default: ./labelport-data"),
]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="PostgreSQL URL instead of SQLite")
]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="The project's string id")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text")]
# Media fetching, for `serve` and `worker` alike.
FetchTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--fetch-timeout",
        min=1.0,
        help="Seconds one media fetch may take in all, retries and redirects included",
    ),
]
FetchMinRateOpt = Annotated[
    float,
    typer.Option(
        "--fetch-min-rate",
        min=0.0,
        help="KB/s a media body must average once it has been arriving for 10 s (0: no minimum)",
    ),
]

project_app = typer.Typer(help="Projects.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
label_app = typer.Typer(help="Labels.", no_args_is_help=True)

EXIT_ERROR = 2  # as `labelport check`: 1 means "problems found", 2 "could not do it"
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4


def _fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def _service(
    data_dir: Path | None,
    database_url: str | None,
    workers: int = 0,
    media_roots: list[Path] | None = None,
) -> Iterator[Any]:
    """The Service for one command; a labelport error becomes a message and an exit code."""
    from labelport.errors import Conflict, NotFound
    from labelport.service import Service

    try:
        service = Service.open(
            data_dir=data_dir, database_url=database_url, workers=workers, media_roots=media_roots
        )
    except LabelportError as exc:
        raise _fail(exc.message) from None
    except Exception as exc:  # a bad URL or an unreadable directory: say which, no traceback
        raise _fail(f"cannot open the data store: {exc}") from None
    try:
        yield service
    except NotFound as exc:
        raise _fail(exc.message, EXIT_NOT_FOUND) from None
    except Conflict as exc:
        raise _fail(exc.message, EXIT_CONFLICT) from None
    except LabelportError as exc:
        raise _fail(exc.message) from None
    finally:
        service.close()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


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
        raise _fail(exc.message) from None
    except Exception as exc:
        raise _fail(f"cannot open the data store: {exc}") from None
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
            raise _fail(f"could not listen on {host}:{port}")
    finally:
        service.close()


def _signin_link(app: Any, host: str, port: int) -> str:
    from labelport.web import signin_url

    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return signin_url(app, f"http://{shown}:{port}")


@project_app.command("create")
def project_create(
    name: Annotated[str, typer.Argument(help="The project's name")],
    string_id: Annotated[
        str | None, typer.Option("--string-id", help="URL id (default: from the name)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a project; prints its id and string id."""
    with _service(data_dir, database_url) as service:
        project = service.create_project(name, string_id=string_id)
    out = {k: project[k] for k in ("id", "string_id", "name")}
    if as_json:
        _print_json(out)
    else:
        typer.echo(f"project {out['string_id']} (id {out['id']}): {out['name']}")


@project_app.command("list")
def project_list(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """The projects: string id, id, name, created (UTC)."""
    with _service(data_dir, database_url) as service:
        projects = service.store.list_projects(limit=10_000)
    out = [
        {"id": p.id, "string_id": p.string_id, "name": p.name, "created_at": p.created_at}
        for p in projects
    ]
    _print_list(
        out,
        as_json,
        'no projects yet: labelport project create "My project"',
        lambda p: f"{p['string_id']}\t{p['id']}\t{p['name']}\t{utc_text(p['created_at'])}",
    )


def _print_list(
    rows: list[dict[str, Any]], as_json: bool, empty: str, line: Callable[[dict[str, Any]], str]
) -> None:
    """The list commands' output: JSON, or one tab-separated line a row, or what to do when
    there is none."""
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo(empty)
    for row in rows:
        typer.echo(line(row))


def utc_text(value: Any, missing: str = "") -> str:
    """A timestamp as `YYYY-MM-DD HH:MM:SS UTC` (ISO strings and datetimes alike; a datetime
    without a zone is UTC, as stored), or `missing`. Converted, not relabelled: PostgreSQL
    hands back times in its session's zone."""
    if value is None or value == "":
        return missing
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


@key_app.command("list")
def key_list(
    project: ProjectOpt,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """The project's API keys: client id, role, created (UTC). Secrets are never shown again."""
    with _service(data_dir, database_url) as service:
        project_id = service.get_project(project)["id"]
        keys = service.store.list_api_keys(project_id)
    out = [{"client_id": k.client_id, "role": k.role, "created_at": k.created_at} for k in keys]
    _print_list(
        out,
        as_json,
        f"no keys yet: labelport key create --project {project}",
        lambda k: f"{k['client_id']}\t{k['role']}\t{utc_text(k['created_at'])}",
    )


@label_app.command("list")
def label_list(
    project: ProjectOpt,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """The project's labels: id and name (and colour where labels have one)."""
    with _service(data_dir, database_url) as service:
        project_id = service.get_project(project)["id"]
        labels = service.list_labels(project_id)
    keep = ("id", "name", "colour", "schema_id")
    out = [{k: label[k] for k in keep if k in label} for label in labels]
    _print_list(
        out,
        as_json,
        f"no labels yet: labelport label add --project {project} NAME ...",
        lambda lab: (
            f"{lab['id']}\t{lab['name']}" + (f"\t{lab['colour']}" if lab.get("colour") else "")
        ),
    )


@key_app.command("create")
def key_create(
    project: ProjectOpt,
    role: Annotated[str, typer.Option(help="admin, editor or viewer")] = "admin",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; its secret is shown this once."""
    with _service(data_dir, database_url) as service:
        project_id = service.get_project(project)["id"]
        key = service.create_api_key(project_id, role=role)
    out = {
        "client_id": key["client_id"],
        "client_secret": key["client_secret"],
        "role": key["role"],
    }
    if as_json:
        _print_json(out)
    else:
        typer.echo(f"client_id:     {out['client_id']}")
        typer.echo(f"client_secret: {out['client_secret']}   (shown once: keep it now)")
        typer.echo(f"role:          {out['role']}")


@label_app.command("add")
def label_add(
    names: Annotated[list[str], typer.Argument(help="Label names, exact")],
    project: ProjectOpt,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """Create labels in the project's default schema."""
    with _service(data_dir, database_url) as service:
        project_id = service.get_project(project)["id"]
        labels = service.create_labels(project_id, names)
    out = [{"id": label["id"], "name": label["name"]} for label in labels]
    if as_json:
        _print_json(out)
    else:
        for label in out:
            typer.echo(f"label {label['id']}: {label['name']}")


def label_colour(
    project: Annotated[str, typer.Argument(help="The project's string id")],
    label: Annotated[str, typer.Argument(help="The label's name (exact), or its id")],
    colour: Annotated[
        str | None, typer.Argument(help="#rrggbb to set; leave out to show the colour")
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Give the label back its default colour")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or set a label's colour: `labelport label color PROJECT LABEL '#ff8800'`."""
    from labelport.errors import NotFound

    if default and colour is not None:
        raise _fail("give a colour or --default, not both")
    with _service(data_dir, database_url) as service:
        project_id = service.get_project(project)["id"]
        labels = service.list_labels(project_id)
        found = next((x for x in labels if x["name"] == label), None)
        if found is None and label.isdigit():
            found = next((x for x in labels if x["id"] == int(label)), None)
        if found is None:
            raise NotFound(f"label {label!r} is not in project {project}")
        if default or colour is not None:
            found = service.set_label_colour(project_id, found["id"], None if default else colour)
    out = {k: found[k] for k in ("id", "name", "colour", "colour_is_default")}
    if as_json:
        _print_json(out)
    else:
        how = " (default)" if out["colour_is_default"] else ""
        typer.echo(f"label {out['id']}: {out['name']} {out['colour']}{how}")


label_app.command("color")(label_colour)
label_app.command("colour", hidden=True)(label_colour)


def register(app: typer.Typer) -> None:
    """Add the server's commands to the `labelport` Typer app."""
    app.command("serve")(serve)
    app.add_typer(project_app, name="project")
    app.add_typer(key_app, name="key")
    app.add_typer(label_app, name="label")
    from labelport.cli_imports import import_status, imports  # --server/--key, readable

    app.command("imports")(imports)
    app.command("import-status")(import_status)

    from labelport.cli_worker import worker

    app.command("worker")(worker)

    from labelport.cli_users import register as register_users  # `labelport user ...`

    register_users(app)


def main() -> None:
    """Stand-alone entry (`python -m labelport.cli_server`), for before cli.py registers us."""
    app = typer.Typer(help="labelport server commands", no_args_is_help=True)
    register(app)
    app()


if __name__ == "__main__":
    main()
