"""What the `labelport` commands share: `fail()`, the exit codes, the options several commands
take, the Service a command opens, and the JSON / list / timestamp printers."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

EXIT_ERROR = 2  # as `labelport check`: 1 means "problems found", 2 "could not do it"
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (SQLite + blobs). Default: ./labelport-data"),
]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="PostgreSQL URL instead of SQLite")
]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="The project's string id")]
KeyOpt = Annotated[str | None, typer.Option("--key", help="API key ID:SECRET (with --server)")]
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


def output_console() -> Console:
    """The console a command draws its output on. Rich is loaded here, by the commands that
    draw: one run with --json (a script's) never loads it (~25 ms of a start)."""
    from rich.console import Console

    return Console(highlight=False)


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print `error: message` on stderr and return the exit to raise (`raise fail(...)`).
    The message is printed as it is: no markup read in it, no line breaks added."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, highlight=False, soft_wrap=True).print(
        Text.assemble(("error:", "red"), " ", message)
    )
    return typer.Exit(code)


def key_parts(key: str | None, hint: str = "") -> tuple[str, str]:
    """--key ID:SECRET as (client id, secret); a missing or malformed one fails."""
    if not key or ":" not in key:
        raise fail(f"--server needs --key ID:SECRET{hint}")
    client_id, _, secret = key.partition(":")
    return client_id, secret


@contextlib.contextmanager
def open_service(
    data_dir: Path | None,
    database_url: str | None,
    workers: int = 0,
    media_roots: list[Path] | None = None,
) -> Iterator[Any]:
    """The Service for one command; a labelport error becomes a message and an exit code.
    With no workers (the default) it works beside a running server on the same data; with
    workers, imports run in that many worker processes."""
    from labelport._gc import kept_for_good
    from labelport.errors import Conflict, LabelportError, NotFound

    # SQLAlchemy, the store and the database's driver: 30-45 ms less with the collector paused
    with kept_for_good():
        from labelport.service import Service
        from labelport.store.database import load_driver

        if database_url is not None:
            load_driver(database_url)

    try:
        opened = Service.open(
            data_dir=data_dir,
            database_url=database_url,
            workers=workers,
            media_roots=media_roots,
            queue="processes",
        )
    except LabelportError as exc:
        raise fail(exc.message) from None
    except Exception as exc:  # a bad URL or an unreadable directory: say which, no traceback
        raise fail(f"cannot open the data store: {exc}") from None
    try:
        yield opened
    except NotFound as exc:
        raise fail(exc.message, EXIT_NOT_FOUND) from None
    except Conflict as exc:
        raise fail(exc.message, EXIT_CONFLICT) from None
    except LabelportError as exc:
        raise fail(exc.message) from None
    finally:
        opened.close()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def print_list(
    rows: list[dict[str, Any]], as_json: bool, empty: str, line: Callable[[dict[str, Any]], str]
) -> None:
    """The list commands' output: JSON, or one tab-separated line a row, or what to do when
    there is none."""
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(empty)
    for row in rows:
        typer.echo(line(row))


def utc_text(value: str | datetime | None, missing: str = "") -> str:
    """A timestamp as `YYYY-MM-DD HH:MM:SS UTC` (ISO strings and datetimes alike; a datetime
    without a zone is UTC, as stored), or `missing`. Converted, not relabelled: PostgreSQL
    hands back times in its session's zone."""
    if value is None or value == "":
        return missing
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
