"""The `labelport` command: the root, and every command registered here, in one place. The
commands live one group a module beside this one; the work lives in the packages."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from labelport.cli import check, convert, evaluate, imports, projects, server, users, worker

# The root's commands and groups by name, in the order of `labelport --help`.
COMMANDS: dict[str, Callable[..., Any] | typer.Typer] = {
    "check": check.check,
    "serve": server.serve,
    "project": projects.project_app,
    "key": projects.key_app,
    "label": projects.label_app,
    "imports": imports.imports,
    "import-status": imports.import_status,
    "worker": worker.worker,
    "user": users.user_app,
    "import": convert.import_command,
    "export": convert.export_command,
    "evaluate": evaluate.evaluate,
}


def _show_version(value: bool) -> None:
    if value:
        from labelport import __version__

        typer.echo(f"labelport {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
) -> None:
    """labelport: checked, fast imports of existing annotations."""


def _app(names: list[str]) -> typer.Typer:
    root = typer.Typer(help="Import existing annotations into a training-data project.")
    root.callback()(_root)
    for name in names:
        target = COMMANDS[name]
        if isinstance(target, typer.Typer):
            root.add_typer(target, name=name)
        else:
            root.command(name)(target)
    return root


app = _app(list(COMMANDS))


def app_for(args: list[str]) -> typer.Typer:
    """The app a run with these arguments needs: when the first one names a command, a root
    holding only that command. Typer reads the signature of every command a root holds when
    it starts (~35 ms for all of them, on every run); the command's usage, options, help and
    errors are the same either way. Anything else (no command, `--help`, a misspelled
    command) gets the whole `app`."""
    if args and args[0] in COMMANDS:
        return _app([args[0]])
    return app


def main() -> None:
    try:
        app_for(sys.argv[1:])()
    finally:
        # The interpreter's last act is a full collection that walks every object still alive:
        # after an import of 2,000 images that is the converted source, 0.1-0.15 s of a 2 s run
        # looking for cycles in memory the process is about to give back whole. Frozen objects
        # are not walked (the rest of the shutdown, flushing and closing, runs as before).
        gc.freeze()
