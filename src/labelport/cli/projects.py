"""A project's setup: `project create/list`, `key create/list`, `label add/list/color`.

They open the Service with no worker threads, so they work beside a running server on the same
data.
"""

from __future__ import annotations

from typing import Annotated

import typer

from labelport.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOpt,
    ProjectOpt,
    fail,
    open_service,
    print_json,
    print_list,
    utc_text,
)

project_app = typer.Typer(help="Projects.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
label_app = typer.Typer(help="Labels.", no_args_is_help=True)


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
    with open_service(data_dir, database_url) as service:
        project = service.create_project(name, string_id=string_id)
    out = {k: project[k] for k in ("id", "string_id", "name")}
    if as_json:
        print_json(out)
    else:
        typer.echo(f"project {out['string_id']} (id {out['id']}): {out['name']}")


@project_app.command("list")
def project_list(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """The projects: string id, id, name, created (UTC)."""
    with open_service(data_dir, database_url) as service:
        projects = service.store.list_projects(limit=10_000)
    out = [
        {"id": p.id, "string_id": p.string_id, "name": p.name, "created_at": p.created_at}
        for p in projects
    ]
    print_list(
        out,
        as_json,
        'no projects yet: labelport project create "My project"',
        lambda p: f"{p['string_id']}\t{p['id']}\t{p['name']}\t{utc_text(p['created_at'])}",
    )


@key_app.command("list")
def key_list(
    project: ProjectOpt,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOpt = False,
) -> None:
    """The project's API keys: client id, role, created (UTC). Secrets are never shown again."""
    with open_service(data_dir, database_url) as service:
        project_id = service.get_project(project)["id"]
        keys = service.store.list_api_keys(project_id)
    out = [{"client_id": k.client_id, "role": k.role, "created_at": k.created_at} for k in keys]
    print_list(
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
    with open_service(data_dir, database_url) as service:
        project_id = service.get_project(project)["id"]
        labels = service.list_labels(project_id)
    keep = ("id", "name", "colour", "schema_id")
    out = [{k: label[k] for k in keep if k in label} for label in labels]
    print_list(
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
    with open_service(data_dir, database_url) as service:
        project_id = service.get_project(project)["id"]
        key = service.create_api_key(project_id, role=role)
    out = {
        "client_id": key["client_id"],
        "client_secret": key["client_secret"],
        "role": key["role"],
    }
    if as_json:
        print_json(out)
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
    with open_service(data_dir, database_url) as service:
        project_id = service.get_project(project)["id"]
        labels = service.create_labels(project_id, names)
    out = [{"id": label["id"], "name": label["name"]} for label in labels]
    if as_json:
        print_json(out)
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
        raise fail("give a colour or --default, not both")
    with open_service(data_dir, database_url) as service:
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
        print_json(out)
    else:
        how = " (default)" if out["colour_is_default"] else ""
        typer.echo(f"label {out['id']}: {out['name']} {out['colour']}{how}")


label_app.command("color")(label_colour)
label_app.command("colour", hidden=True)(label_colour)
