"""The `labelport` command line: `commands.py` registers every command; one module per command
group (check, server, projects, imports, worker, users, convert, evaluate); `common.py` holds
what they share. `app` is the root with every command, built on first use."""

from typing import Any

from labelport.cli.commands import main

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from labelport.cli.commands import whole_app

        return whole_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
