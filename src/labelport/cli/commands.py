"""The `labelport` command: the root, and every command registered here, in one place. The
commands live one group a module beside this one; the work lives in the packages."""

from __future__ import annotations

import functools
import gc
import importlib
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from labelport._gc import kept_for_good

# The root's commands and groups by name, in the order of `labelport --help`, each with the
# module of labelport.cli it lives in and its name there. A run imports the module of the
# command it runs and no other: `labelport import` does not load the store (SQLAlchemy, ~0.3 s)
# before it has started reading its source (convert/read_ahead.py).
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "check"),
    "serve": ("server", "serve"),
    "project": ("projects", "project_app"),
    "key": ("projects", "key_app"),
    "label": ("projects", "label_app"),
    "imports": ("imports", "imports"),
    "import-status": ("imports", "import_status"),
    "worker": ("worker", "worker"),
    "user": ("users", "user_app"),
    "import": ("convert", "import_command"),
    "export": ("convert", "export_command"),
    "evaluate": ("evaluate", "evaluate"),
}


def command(name: str) -> Callable[..., Any] | typer.Typer:
    """The function or group of the command `name`, its module imported on first use."""
    module, attribute = COMMANDS[name]
    with kept_for_good():
        found: Callable[..., Any] | typer.Typer = getattr(
            importlib.import_module(f"labelport.cli.{module}"), attribute
        )
    return found


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
        target = command(name)
        if isinstance(target, typer.Typer):
            root.add_typer(target, name=name)
        else:
            root.command(name)(target)
    return root


@functools.cache
def whole_app() -> typer.Typer:
    """The root holding every command (`labelport --help` lists them all)."""
    return _app(list(COMMANDS))


def app_for(args: list[str]) -> typer.Typer:
    """The app a run with these arguments needs: when the first one names a command, a root
    holding only that command. Typer reads the signature of every command a root holds when
    it starts (~35 ms for all of them, on every run), and each lives in a module of its own
    with its own imports; the command's usage, options, help and errors are the same either
    way. `--version` alone gets the root alone; anything else (no command, `--help`, a
    misspelled command) gets the whole app."""
    if args and args[0] in COMMANDS:
        return _app([args[0]])
    if args == ["--version"]:  # the root's own option: no command to build
        return _app([])
    return whole_app()


def main() -> None:
    try:
        app_for(sys.argv[1:])()
    finally:
        # The interpreter's last act is a full collection that walks every object still alive:
        # after an import of 2,000 images that is the converted source, 0.1-0.15 s of a 2 s run
        # looking for cycles in memory the process is about to give back whole. Frozen objects
        # are not walked (the rest of the shutdown, flushing and closing, runs as before).
        gc.freeze()
