"""`labelport user ...`: accounts for people (create, list, grant, revoke, disable, password).

Like the other server commands they open the data store directly, so they work beside a running
server on the same data. A password is read from a hidden prompt (typed twice) or, with
--password-stdin, from the first line of standard input; it is never echoed, logged or printed.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from labelport.cli.common import DatabaseUrl, DataDir, JsonOpt, fail, open_service, print_json

if TYPE_CHECKING:
    from labelport.accounts import Accounts
    from labelport.service import Service

user_app = typer.Typer(help="User accounts: people who sign in.", no_args_is_help=True)

Email = Annotated[str, typer.Argument(help="The account's email address")]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input instead of a prompt",
        show_default=False,
    ),
]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        return password[:-1] if password.endswith("\r") else password
    if not sys.stdin.isatty():
        raise fail("no terminal to ask for the password: pass it with --password-stdin")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _accounts(service: Service) -> Accounts:
    from labelport.accounts import Accounts

    return Accounts(service.store)


@user_app.command("create")
def create(
    email: Email,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an account; then `labelport user grant` it a role in a project."""
    password = _read_password(password_stdin)
    with open_service(data_dir, database_url) as service:
        created = _accounts(service).create(email, password)
    if as_json:
        print_json(created)
    else:
        typer.echo(f"created account {created['email']} (no project yet: `labelport user grant`)")


@user_app.command("list")
def list_(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOpt = False
) -> None:
    """Every account with its projects and roles."""
    with open_service(data_dir, database_url) as service:
        users = _accounts(service).everyone()
    if as_json:
        print_json(users)
        return
    if not users:
        typer.echo("no accounts yet: `labelport user create EMAIL`")
        return
    for user in users:
        projects = ", ".join(f"{p['project']} ({p['role']})" for p in user["projects"]) or "-"
        state = "  [disabled]" if user["disabled"] else ""
        typer.echo(f"{user['email']}{state}  projects: {projects}")


@user_app.command("grant")
def grant(
    email: Email,
    project: Annotated[str, typer.Argument(help="The project's string id")],
    role: Annotated[str, typer.Option("--role", help="viewer, editor or admin")] = "viewer",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """Give an account a role in a project (replacing the role it had there)."""
    with open_service(data_dir, database_url) as service:
        granted = _accounts(service).grant(email, project, role)
    if as_json:
        print_json(granted)
    else:
        typer.echo(f"{granted['email']} is {granted['role']} of {granted['project']}")


@user_app.command("revoke")
def revoke(
    email: Email,
    project: Annotated[str, typer.Argument(help="The project's string id")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Take an account out of a project; its open pages of the project stop working at once."""
    with open_service(data_dir, database_url) as service:
        removed = _accounts(service).revoke(email, project)
    if not removed:
        raise fail(f"{email} is not a member of {project}", 3)
    typer.echo(f"{email} is no longer a member of {project}")


@user_app.command("disable")
def disable(email: Email, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Stop an account signing in; its sessions end at once on every server."""
    with open_service(data_dir, database_url) as service:
        _accounts(service).set_disabled(email, True)
    typer.echo(f"{email} is disabled")


@user_app.command("enable")
def enable(email: Email, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Let a disabled account sign in again."""
    with open_service(data_dir, database_url) as service:
        _accounts(service).set_disabled(email, False)
    typer.echo(f"{email} is enabled")


@user_app.command("password")
def password(
    email: Email,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set an account's password; its sessions end at once on every server."""
    new = _read_password(password_stdin)
    with open_service(data_dir, database_url) as service:
        _accounts(service).set_password(email, new)
    typer.echo(f"the password of {email} is changed; its sessions are signed out")
