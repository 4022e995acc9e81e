"""`labelport check`: a packet checked offline, against a labels file or a project's labels
and attribute groups (check_against.py), its problems printed grouped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import typer

from labelport.cli.common import fail, key_parts, output_console
from labelport.convert.sources import without_bom

if TYPE_CHECKING:
    from labelport.cli import check_against


def _read_json(path: Path, what: str) -> object:
    try:
        return json.loads(without_bom(path.read_bytes()))
    except OSError as error:
        raise fail(f"cannot read {what} {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise fail(f"{what} {path} is not JSON: {error}") from None


def check(
    packet: Annotated[Path, typer.Argument(help="The packet JSON file.")],
    labels: Annotated[
        Path | None, typer.Option("--labels", help="JSON list of the project's label names.")
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            "-p",
            help="Check against this project's labels and attribute groups (its string id):"
            " from the local data (--data-dir / --database-url), or with --server and --key"
            " from a running server.",
        ),
    ] = None,
    media_info: Annotated[
        Path | None, typer.Option("--media-info", help="JSON MediaInfo of the media file.")
    ] = None,
    media_type: Annotated[
        str | None, typer.Option("--media-type", help="image, video, text, audio, ...")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings are problems.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="With --project: the data directory")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="With --project: a PostgreSQL URL")
    ] = None,
    server: Annotated[
        str | None, typer.Option("--server", help="With --project: a running server's URL")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="With --server: an API key ID:SECRET")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check a packet offline. Exit 0: no problems; 1: problems; 2: the file cannot be read.

    Label names and attributes are checked only against --labels or --project: without
    either, the summary says so."""
    from labelport.cli import check_against
    from labelport.format import MediaInfo, check_media, decode_packet

    if labels is not None and project is not None:
        raise fail("give --labels or --project, not both")
    if project is None and (server or key or data_dir or database_url):
        raise fail("--data-dir, --database-url, --server and --key go with --project")
    against = check_against.Against(None, "")
    if labels is not None:
        names = _read_json(labels, "labels file")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise fail(f"labels file {labels} must be a JSON list of label names")
        against = check_against.from_names(names, str(labels))
    info = None
    if media_info is not None:
        _read_json(media_info, "media info file")
        try:
            info = msgspec.json.decode(without_bom(media_info.read_bytes()), type=MediaInfo)
        except msgspec.ValidationError as error:
            raise fail(f"media info file {media_info}: {error}") from None
    try:
        data = without_bom(packet.read_bytes())
    except OSError as error:
        raise fail(f"cannot read packet {packet}: {error.strerror or error}") from None
    if project is not None:
        against = _project_side(project, data_dir, database_url, server, key)

    decoded, report = decode_packet(data)
    if decoded is None:
        first = report.problems[0] if report.problems else None
        raise fail(f"packet {packet} cannot be read: {first.message if first else 'unknown'}")
    media_type = media_type or (info.media_type if info else None)
    report.strict = report.strict or strict or decoded.strict
    against.check(decoded, report, media_type)
    if info is not None:
        check_media(decoded, info, strict=report.strict, report=report)
    more = check_against.check_under_invalid_keys(data, report, against, media_type, info)
    if more:
        report.counts["instances"] = report.counts.get("instances", 0) + more
        report.counts["instances_under_invalid_frame_keys"] = more

    if as_json:
        out = report.to_dict()
        out["checked_against"] = against.describe or None
        typer.echo(msgspec.json.encode(out).decode())
    else:
        _print_report(report, packet)
        if against.context is None:
            output_console().print(
                "[yellow]labels not checked[/yellow]: label names and attributes are checked"
                " only with --labels FILE or --project P"
            )
        else:
            output_console().print(f"checked against the {against.describe}")
    raise typer.Exit(1 if report.problem_count else 0)


def _project_side(
    project: str,
    data_dir: Path | None,
    database_url: str | None,
    server: str | None,
    key: str | None,
) -> check_against.Against:
    from labelport.cli import check_against

    if server is None:
        from labelport.cli.common import open_service

        with open_service(data_dir, database_url) as service:
            return check_against.from_store(service, project)
    client_id, secret = key_parts(key)
    from labelport.sdk import Project
    from labelport.sdk.errors import LabelportHTTPError

    try:
        with Project(project, client_id, secret, host=server) as sdk:
            return check_against.from_server(sdk, project, server)
    except LabelportHTTPError as exc:
        raise fail(f"server: {exc.message}") from None
    except OSError as exc:
        raise fail(f"cannot reach {server}: {exc}") from None


def _print_report(report: Any, source: Path) -> None:
    from rich.table import Table

    from labelport.format.problem_groups import group_problems

    console = output_console()
    for title, items, total, style in (
        ("problems", report.problems, report.problem_count, "red"),
        ("warnings", report.warnings, report.warning_count, "yellow"),
    ):
        if not total:
            continue
        # Grouped by code and message, with counts and a few places (format/problem_groups.py):
        # 162 rows of one missing label are one line; `--json` lists every one.
        by_code = report.summary().get(title[:-1] + "_counts_by_code")
        groups = group_problems(items, by_code)
        table = Table(
            title=f"{total} {title} in {len(groups)} group{'s' if len(groups) != 1 else ''}",
            title_style=style,
            show_lines=False,
        )
        table.add_column("code", style=style, no_wrap=True)
        table.add_column("count", justify="right")
        table.add_column("message")
        table.add_column("where (e.g.)")
        for g in groups:
            where = ", ".join(e.path for e in g.examples)
            more = ", …" if g.count > len(g.examples) and g.examples else ""
            table.add_row(g.code, f"{g.count:,}", g.message, where + more)
        console.print(table)
    counts = report.counts
    console.print(
        f"{source}: {counts.get('instances', 0)} instances, "
        f"{report.problem_count} problems, {report.warning_count} warnings"
    )
