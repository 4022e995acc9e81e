"""`labelport imports` and `labelport import-status`: the import list and one import, read from
the data directory / database (embedded) or from a running server (`--server URL --key ID:SECRET`),
printed as readable text (or `--json`).

Every import names its media (file name, URL) and its idempotency key; problems are shown grouped
by code and message with counts and example paths (format/problem_groups.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from labelport.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOpt,
    ProjectOpt,
    fail,
    key_parts,
    open_service,
    output_console,
    print_json,
    utc_text,
)
from labelport.shapes import ImportOut
from labelport.store.tables import IMPORT_STATUSES

if TYPE_CHECKING:
    from labelport.sdk import Project
    from labelport.service import Service

ReadServerOpt = Annotated[
    str | None,
    typer.Option("--server", help="Read from a running server at this URL (with --key)"),
]
# Read-only commands: the key may come from the environment.
KeyEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--key", envvar="LABELPORT_KEY", help="API key ID:SECRET (with --server; or $LABELPORT_KEY)"
    ),
]

NONE = "-"  # what an empty value prints as
_STATUS_STYLE = {"success": "green", "failed": "red", "rejected": "red"}


def _status(status: str) -> str:
    colour = _STATUS_STYLE.get(status, "yellow")
    return f"[{colour}]{status}[/{colour}]"


class _Source:
    """Where the imports are read: the Service (embedded) or the SDK (a server)."""

    def __init__(
        self,
        service: Service | None = None,
        sdk: Project | None = None,
        project_id: int | None = None,
    ):
        self.service, self.sdk, self.project_id = service, sdk, project_id

    def list(
        self, status: str | None, media_type: str | None, page: int, per_page: int
    ) -> tuple[list[ImportOut], int]:
        if self.sdk is not None:
            return self.sdk.imports_page(
                status=status, media_type=media_type, page=page, per_page=per_page
            )
        assert self.service is not None and self.project_id is not None
        return self.service.list_imports(
            self.project_id, status=status, media_type=media_type, page=page, per_page=per_page
        )

    def get(self, import_id: int) -> Mapping[str, Any]:
        if self.sdk is not None:
            return self.sdk.get_import(import_id, problems_per_page=1000).data
        assert self.service is not None and self.project_id is not None
        return self.service.get_import(self.project_id, import_id, problems_per_page=1000)


@contextmanager
def _source(
    project: str,
    server: str | None,
    key: str | None,
    data_dir: Any,
    database_url: str | None,
) -> Iterator[_Source]:
    if server is None:
        if key is not None:
            raise fail("--key is for --server")
        with open_service(data_dir, database_url) as service:
            yield _Source(service=service, project_id=service.get_project(project)["id"])
        return
    if data_dir is not None or database_url is not None:
        raise fail("--server reads from the server: leave out --data-dir and --database-url")
    client_id, secret = key_parts(key, " (or $LABELPORT_KEY)")
    from labelport.sdk import LabelportHTTPError, Project

    sdk = Project(project, client_id, secret, host=server)
    try:
        yield _Source(sdk=sdk)
    except LabelportHTTPError as exc:
        code = 3 if exc.status == 404 else 2
        raise fail(f"server: {exc.message}", code) from None
    finally:
        sdk.close()


def imports(
    project: ProjectOpt,
    status: Annotated[
        str | None,
        typer.Option(help=f"Only imports with this status: {', '.join(IMPORT_STATUSES)}"),
    ] = None,
    media_type: Annotated[str | None, typer.Option(help="Only this media type")] = None,
    page: Annotated[int, typer.Option(help="Page (newest first)")] = 1,
    per_page: Annotated[int, typer.Option(help="Imports per page")] = 50,
    server: ReadServerOpt = None,
    key: KeyEnvOpt = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """The project's imports, newest first: status, media (file name or URL), idempotency key,
    instances and problems. `--status rejected` lists the packets refused when sent."""
    if status is not None and status not in IMPORT_STATUSES:
        raise fail(f"--status must be one of {', '.join(IMPORT_STATUSES)}, not {status!r}")
    with _source(project, server, key, data_dir, database_url) as source:
        items, total = source.list(status, media_type, page, per_page)
    if as_json:
        print_json({"items": items, "total": total, "page": page, "per_page": per_page})
        return
    from rich.table import Table
    from rich.text import Text

    console = output_console()
    shown = f"{status} " if status else ""
    if not items:
        past = f" on page {page}" if page > 1 else ""
        console.print(f"{shown}imports of {project}: none{past}")
        return
    first = (page - 1) * per_page + 1
    title = f"{shown}imports of {project}: {first:,}-{first + len(items) - 1:,} of {total:,}"
    table = Table(title=title, title_justify="left")
    table.add_column("id", justify="right")
    table.add_column("status")
    table.add_column("media", overflow="fold")
    table.add_column("key", overflow="fold")
    table.add_column("type")
    table.add_column("instances", justify="right")
    table.add_column("problems", justify="right")
    table.add_column("created (UTC)")
    for i in items:
        counts = i.get("counts") or {}
        instances = counts.get("instances")
        table.add_row(
            str(i["id"]),
            _status(str(i.get("status") or "")),
            Text(media_of(i)),
            Text(i.get("idempotency_key") or NONE),
            i.get("media_type") or NONE,
            NONE if instances is None else f"{instances:,}",
            f"{i.get('problem_count') or 0:,}",
            when(i.get("created_at")),
        )
    console.print(table)
    if total > first + len(items) - 1:
        console.print(f"more: --page {page + 1}")


def import_status(
    import_id: Annotated[int, typer.Argument(help="The import's id")],
    project: ProjectOpt,
    every_problem: Annotated[
        bool,
        typer.Option(
            "--every-problem", help="List every problem (the first 1,000), not only the groups"
        ),
    ] = False,
    server: ReadServerOpt = None,
    key: KeyEnvOpt = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """One import: status, media, key, counts, and its problems grouped by code and message with
    counts and example places. Exit 1 when it failed or was rejected."""
    with _source(project, server, key, data_dir, database_url) as source:
        imp = source.get(import_id)
    if as_json:
        print_json(imp)
    else:
        print_import(imp, every_problem=every_problem)
    if imp.get("status") in ("failed", "rejected"):
        raise typer.Exit(1)


def print_import(imp: Mapping[str, Any], *, every_problem: bool = False) -> None:
    from labelport.format.problem_groups import from_dicts, group_problems

    console = output_console()
    out = console.print
    status = str(imp.get("status") or "")
    head = f"import {imp['id']}: {_status(status)}"
    if status == "rejected":
        head += " (refused when sent: nothing was stored)"
    elif status not in ("success", "failed"):
        head += f" ({imp.get('percent') or 0:.0f}%)"
    out(head)
    facts = [
        ("media", media_of(imp) + (f"  ({imp['media_url']})" if _url_differs(imp) else "")),
        ("key", imp.get("idempotency_key") or NONE),
        ("file", f"file {imp['file_id']}" if imp.get("file_id") else "none stored"),
        ("type", " · ".join(x for x in (imp.get("media_type"), imp.get("mode")) if x) or NONE),
        ("source", imp.get("source") or NONE),
        ("created", when(imp.get("created_at"))),
        ("finished", when(imp.get("finished_at"))),
    ]
    for name, value in facts:
        out(f"  {name:<9} {value}", markup=False)
    if imp.get("error"):
        out(f"  error     {imp['error']}", markup=False)
    counts = {
        k: v
        for k, v in (imp.get("counts") or {}).items()
        if k not in ("problem_counts_by_code", "problem_groups", "warning_count")
    }
    if counts:
        out("counts:")
        for name, value in counts.items():
            out(f"  {name.replace('_', ' ')}: {readable(value)}", markup=False)
    total = int(imp.get("problem_count") or 0)
    problems = imp.get("problems") or []
    if total:
        stored = imp.get("problem_groups")
        groups = (
            from_dicts(stored)
            if stored
            else group_problems(problems, imp.get("problem_counts_by_code"))
        )
        out(f"[red]{total:,} problem{'s' if total != 1 else ''}[/red], in {len(groups)} group"
            f"{'s' if len(groups) != 1 else ''}:")  # fmt: skip
        for g in groups:
            out(f"  {g.line()}", markup=False)
        if every_problem:
            out("every problem:")
            for p in problems:
                out(f"  {p['path']}: {p['message']} [{p['code']}]", markup=False)
            if total > len(problems):
                out(f"  … and {total - len(problems):,} more, not listed")
        elif any(g.examples for g in groups):
            out("  (--every-problem lists each one)")
    warnings = imp.get("warnings") or []
    warning_total = int(imp.get("warning_count") or len(warnings))
    if warning_total:
        out(f"[yellow]{warning_total:,} warning{'s' if warning_total != 1 else ''}[/yellow]:")
        for g in group_problems(warnings):
            out(f"  {g.line()}", markup=False)


def media_of(imp: Mapping[str, Any]) -> str:
    """The media's name, else its URL, else NONE."""
    return str(imp.get("media_name") or imp.get("media_url") or NONE)


def _url_differs(imp: Mapping[str, Any]) -> bool:
    return bool(imp.get("media_url")) and imp.get("media_url") != media_of(imp)


def when(value: Any) -> str:
    """A timestamp as `YYYY-MM-DD HH:MM:SS UTC`, or NONE."""
    return utc_text(value, missing=NONE)


def readable(value: Any) -> str:
    """A count's value in words a person reads: `cat 3, dog 2` for a mapping, no Python reprs."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, Mapping):
        if not value:
            return "none"
        return ", ".join(f"{k} {readable(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(readable(v) for v in value) if value else "none"
    return str(value)
