"""The `labelport` command line: `app.py` registers every command; one module per command
group (check, server, projects, imports, worker, users, convert, evaluate); `common.py` holds
what they share."""

from labelport.cli.app import app, main

__all__ = ["app", "main"]
