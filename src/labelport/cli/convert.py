"""`labelport import` and `labelport export`: annotations in other formats, converted into a
project and out of it (the converters live in `labelport.convert`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from labelport.cli.common import (
    DatabaseUrl,
    DataDir,
    KeyOpt,
    ProjectOpt,
    fail,
    key_parts,
    open_service,
    output_console,
)
from labelport.convert import FORMATS, LOSS_KINDS, WRITABLE
from labelport.convert.importer import (
    MEDIA_MODES,
    ON_ERROR,
    ImportOptions,
    Outcome,
    media_roots,
    run,
)
from labelport.convert.importer import Progress as ImportProgress

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from labelport.convert.read_ahead import ReadAhead
    from labelport.sdk.errors import LabelportHTTPError


class _Bar(ImportProgress):
    """The importer's progress, shown as a Rich bar: files, instances, rate, ETA."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("importing", total=None, instances=0, rate="")
        self.instances = 0
        self.started = time.monotonic()

    def total(self, files: int) -> None:
        self.progress.update(self.task, total=files)

    def advance(self, files: int, instances: int) -> None:
        self.instances += instances
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self.progress.update(
            self.task,
            advance=files,
            instances=self.instances,
            rate=f"{self.instances / elapsed:,.0f} inst/s",
        )


def _progress(console: Console) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[instances]:,} instances"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def import_command(
    source: Annotated[Path, typer.Argument(help="Annotation file or folder to import.")],
    project: ProjectOpt,
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"auto or one of: {', '.join(FORMATS)}")
    ] = "auto",
    media: Annotated[
        Path | None, typer.Option("--media", help="Folder with the media files")
    ] = None,
    media_url: Annotated[
        str | None,
        typer.Option("--media-url", help="URL prefix: media of `a.jpg` is PREFIX + 'a.jpg'"),
    ] = None,
    media_mode: Annotated[
        str,
        typer.Option(
            "--media-mode",
            help="copy: store a copy of each media file; reference: store only where it is "
            "(its URL or local path) and read it from there when viewed. Reference media "
            "that changes or vanishes at its source changes or vanishes in the project too.",
        ),
    ] = "copy",
    media_is_shared: Annotated[
        bool,
        typer.Option(
            "--media-is-shared",
            help="With --server: the server reads the local media files itself (same machine, "
            "started with --media-root over their folder), so they are sent as file:// paths in "
            "batches instead of being uploaded one by one.",
        ),
    ] = False,
    create_labels: Annotated[
        bool,
        typer.Option("--create-labels", help="Create missing labels and attribute groups"),
    ] = False,
    machine_made: Annotated[
        bool | None,
        typer.Option(
            "--machine-made/--human",
            help="Mark every imported instance as a prediction (--machine-made) or as ground "
            "truth (--human). Default: what the source says (predictions, scores, "
            "source=auto are machine made; annotations are human).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check only; store nothing")] = False,
    on_error: Annotated[
        str, typer.Option("--on-error", help="reject | skip_instances | skip_files")
    ] = "reject",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    server: Annotated[
        str | None, typer.Option("--server", help="Send to a running server at this URL")
    ] = None,
    key: KeyOpt = None,
    workers: Annotated[int, typer.Option(help="Import worker processes (embedded)")] = 2,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object")
    ] = False,
) -> None:
    # Its help is set below the function: it names the formats of the table.
    console = None if as_json else output_console()
    if format != "auto" and format not in FORMATS:
        raise fail(f"--format must be auto or one of {', '.join(FORMATS)}")
    if on_error not in ON_ERROR:
        raise fail(f"--on-error must be one of {', '.join(ON_ERROR)}")
    if not source.exists():
        raise fail(f"{source} does not exist")
    if media is not None and not media.is_dir():
        raise fail(f"--media {media} is not a folder")
    if media_mode not in MEDIA_MODES:
        raise fail(f"--media-mode must be one of {', '.join(MEDIA_MODES)}")
    if server is None:
        server = _beside_a_server(data_dir, source, project, key)
        if server is not None and console is not None:
            console.print(f"a labelport server runs on this data: importing through it at {server}")
    if media_is_shared and server is None:
        raise fail("--media-is-shared is for --server (embedded imports read local media anyway)")
    local_media = server is not None and media_url is None and not media_is_shared
    if media_mode == "reference" and local_media:
        raise fail(
            "--media-mode reference with --server needs media the server can read: "
            "--media-url PREFIX, or --media-is-shared when the server was started with "
            "--media-root over the media folder"
        )
    options = ImportOptions(
        format=format,
        media_dir=media,
        media_url=media_url,
        create_labels=create_labels,
        dry_run=dry_run,
        on_error=on_error,
        media_mode=media_mode,
        machine_made=machine_made,
    )
    if server is not None:
        client_id, secret = key_parts(key)
        from labelport.convert.targets import ServerTarget

        target = ServerTarget(
            server, f"{client_id}:{secret}", project, media_is_shared=media_is_shared
        )
        outcome = _run(source, target, options, console)
    else:
        from labelport.convert.read_ahead import ReadAhead
        from labelport.convert.targets import EmbeddedTarget

        # Before the Service (and the store's libraries) loads: the source is read meanwhile.
        ahead = ReadAhead.start(source, options)
        try:
            roots = media_roots(source, media)
            with open_service(data_dir, database_url, max(workers, 1), roots) as service:
                embedded = EmbeddedTarget(service, project)
                outcome = _run(source, embedded, options, console, ahead)
        finally:
            if ahead is not None:
                ahead.close()
    if console is None:
        typer.echo(json.dumps(outcome.to_dict(), indent=1))
    else:
        _summary(outcome, console)
        if not dry_run:
            _where_to_verify(project, server, data_dir, database_url, console)
    raise typer.Exit(1 if outcome.failed else 0)


import_command.__doc__ = (
    f"Convert annotations ({', '.join(f.title for f in FORMATS.values())}) and import them, one "
    "packet per media file, sent in batches of many files. Local media files are read by path "
    "where the target can (embedded; --server with --media-is-shared) and uploaded one by one "
    "where it cannot. Exit 1 if anything failed."
)


def _beside_a_server(
    data_dir: Path | None, source: Path, project: str, key: str | None
) -> str | None:
    """An embedded import runs its imports itself, which a `labelport serve` on the same data
    already does. With a --key, go through that server (its URL is returned); without one, say
    how to, instead of failing on the server's lock. None: no server, import embedded."""
    from labelport.running import imports_runner

    runner = imports_runner(data_dir)
    if runner is None:
        return None
    if runner.url is not None and key:
        return runner.url
    if runner.url is None:
        raise fail(
            f"another labelport process runs imports on this data ({runner.lock_path}): wait"
            " for it to end, or, if it is a `labelport serve`, send the import through it with"
            " --server URL --key ID:SECRET"
        )
    raise fail(
        f"a labelport server (pid {runner.pid}) runs imports on this data at {runner.url}:"
        " send the import through it: give an API key and it goes there by itself,\n"
        f"  labelport import {source} --project {project} --key ID:SECRET  [and the other"
        f" options]\n  (same as --server {runner.url} --key ID:SECRET; a key: labelport key"
        f" create --project {project}; if the server was started with --media-root over the"
        " media folder, add --media-is-shared)"
    )


def _where_to_verify(
    project: str,
    server: str | None,
    data_dir: Path | None,
    database_url: str | None,
    console: Console,
) -> None:
    """The summary's last lines: where a person checks what was stored."""
    from labelport.running import running_server_url

    base = server.rstrip("/") if server else running_server_url(data_dir)
    if base:
        console.print(f"verify in a browser: {base}/ui/p/{project}/imports", soft_wrap=True)
    where = ""
    if server is None:
        where = f" --data-dir {data_dir}" if data_dir else ""
        where += " --database-url URL" if database_url else ""
    else:
        where = f" --server {server} --key ID:SECRET"
    console.print(f"the import list: labelport imports --project {project}{where}", soft_wrap=True)
    if not base:
        serve = f"labelport serve{' --data-dir ' + str(data_dir) if data_dir else ''}"
        console.print(
            f"in a browser: {serve}, open the sign-in link it prints, then Imports",
            soft_wrap=True,
        )


def _run(
    source: Path,
    target: Any,
    options: ImportOptions,
    console: Console | None,
    ahead: ReadAhead | None = None,
) -> Outcome:
    """The import, with a progress bar on `console` (none: no bar)."""
    try:
        if console is None:
            return run(source, target, options, ImportProgress(), ahead)
        with _progress(console) as progress:
            return run(source, target, options, _Bar(progress), ahead)
    except _sdk_http_error() as exc:  # evaluated only when something is raised
        raise fail(f"server: {exc.message}") from None


def _sdk_http_error() -> type[LabelportHTTPError]:
    # Imported when needed: the SDK brings httpx (~0.1 s), which an embedded import never uses.
    from labelport.sdk.errors import LabelportHTTPError

    return LabelportHTTPError


def _summary(outcome: Outcome, console: Console) -> None:
    from rich.table import Table

    table = Table(title=f"import ({outcome.format})", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for what, count in (
        ("files imported", outcome.files_ok),
        ("files updated (annotations changed)", outcome.files_updated),
        ("files already imported (unchanged)", outcome.files_unchanged),
        ("files failed", outcome.files_failed),
        ("files skipped", outcome.files_skipped),
        ("instances imported", outcome.instances),
    ):
        table.add_row(what, f"{count:,}")
    if outcome.instances_skipped:
        skipped = f"{outcome.instances_skipped:,}"
        table.add_row("[red]instances skipped (listed below)[/red]", skipped)
    for label, count in sorted(outcome.instances_per_label.items()):
        table.add_row(f"  {label}", f"{count:,}")
    console.print(table)
    for path, why in outcome.skipped_files:
        console.print(f"[yellow]not imported[/yellow]: {path}: {why}")
    _losses(outcome.losses, console)
    if outcome.problem_count:
        _problem_groups(outcome, console)
    if outcome.warning_count:
        _warning_groups(outcome, console)
    if outcome.stopped:
        console.print(
            "[red]nothing was imported[/red]: fix the problems, or pass --on-error skip_files"
            " (or skip_instances) to import the rest"
        )


def _problem_groups(outcome: Outcome, console: Console) -> None:
    """The problems grouped by code and message, one line each with its count and a few places
    (162 rows of one missing label are one line); `--json` lists every one."""
    heading = f"{outcome.problem_count:,} problems"
    _grouped(outcome.problems, outcome.problem_count, heading, "problems", "red", console)


def _warning_groups(outcome: Outcome, console: Console) -> None:
    """What was imported changed, shown as the problems are: a box clamped to its image is
    imported, and said here rather than only on its file's import."""
    count = outcome.warning_count
    heading = f"{count:,} warning{'s' if count != 1 else ''}"
    note = ": imported, changed as each says"
    _grouped(outcome.warnings, count, heading, "warnings", "yellow", console, note)


def _grouped(
    listed: list[Any],
    count: int,
    heading: str,
    noun: str,
    style: str,
    console: Console,
    note: str = "",
    limit: int = 50,
) -> None:
    """`listed` (of `count` in all) grouped by code and message, a line a group."""
    from labelport.format.problem_groups import group_lines, group_problems

    groups = group_problems(listed)
    shown = sum(g.count for g in groups)
    plural = "s" if len(groups) != 1 else ""
    console.print(f"[{style}]{heading} in {len(groups):,} group{plural}{note}[/{style}]")
    for line in group_lines(listed, limit=limit):
        console.print(f"  {line}", markup=False)
    if count > shown:
        console.print(f"  … and {count - shown:,} more {noun} not listed")


def _losses(losses: Any, console: Console) -> None:
    if not losses:
        console.print("losses: none (everything in the source was carried)")
        return
    from rich.table import Table

    table = Table(title="not carried (losses)", title_style="yellow")
    table.add_column("kind", style="yellow")
    table.add_column("count", justify="right")
    table.add_column("what")
    for kind, count in sorted(losses.items()):
        table.add_row(kind, f"{count:,}", LOSS_KINDS.get(kind, ""))
    console.print(table)


def export_command(
    project: ProjectOpt,
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"one of: {', '.join(WRITABLE)}")
    ] = "diffgram",
    out: Annotated[Path, typer.Option("--out", help="Output folder")] = Path("export"),
    with_media: Annotated[
        bool, typer.Option("--with-media", help="Copy the media files into the output too")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    server: Annotated[
        str | None, typer.Option("--server", help="Export from a running server at this URL")
    ] = None,
    key: KeyOpt = None,
) -> None:
    """Export a project: diffgram (every instance type), or another writable format (what it
    cannot hold is counted as not carried). From the local data, or with --server from a running
    server through its API."""
    from labelport.convert import media_folder, module
    from labelport.convert.export import Export

    console = output_console()
    if format not in WRITABLE:
        raise fail(f"--format must be one of {', '.join(WRITABLE)}")
    mod = module(format)
    media_dir = out / media_folder(format) if with_media else None
    if server is not None:
        from labelport.sdk import Project
        from labelport.sdk.errors import LabelportHTTPError

        client_id, secret = key_parts(key)
        try:
            with Project(project, client_id, secret, host=server) as sdk:
                export = Export.from_server(sdk, media_dir)
                written = mod.write(export, out)
        except LabelportHTTPError as exc:
            raise fail(f"server: {exc.message}") from None
    else:
        with open_service(data_dir, database_url) as service:
            project_id = service.get_project(project)["id"]
            export = Export(service, project_id, media_dir)
            written = mod.write(export, out)
    console.print(f"exported {export.file_count:,} files of {project} as {format} to {written}")
    _losses(export.losses, console)
