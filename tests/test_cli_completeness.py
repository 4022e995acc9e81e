"""The CLI as a new user meets it (issue 14, item 8): `--version`; `project list`, `label list`,
`key list`; no `<bool>` after flags in --help; `labelport import` beside a running
`labelport serve` on the same data says to send it through the server (and that works); the
import summary ends with where to verify."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelport import __version__
from labelport.cli import app
from labelport.running import imports_runner
from media_factory import make_png
from server_helpers import ServeProcess, run_cli

runner = CliRunner()


def invoke(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200", "NO_COLOR": "1"})


def coco(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    make_png(root / "images" / "a.png", 64, 48)
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10]}],
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"labelport {__version__}"


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["import"],
        ["check"],
        ["worker"],
        ["export"],
        ["imports"],
        ["project", "create"],
        ["project", "list"],
        ["key", "list"],
        ["label", "list"],
    ],
)
def test_help_shows_no_bool_placeholder(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output and "BOOLEAN" not in result.output
    if command == ["serve"]:  # options that take a value still show its type
        assert "<int>" in result.output


def test_project_label_and_key_lists(tmp_path: Path) -> None:
    data = tmp_path / "data"
    empty = invoke("project", "list", "--data-dir", data)
    assert empty.exit_code == 0 and "no projects yet" in empty.output
    assert invoke("project", "create", "Zoo", "--data-dir", data).exit_code == 0
    assert invoke("project", "create", "Farm", "--data-dir", data).exit_code == 0
    listed = json.loads(invoke("project", "list", "--data-dir", data, "--json").output)
    assert [(p["string_id"], p["name"]) for p in listed] == [("zoo", "Zoo"), ("farm", "Farm")]
    text = invoke("project", "list", "--data-dir", data).output
    assert re.search(r"^zoo\t\d+\tZoo\t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", text, re.M), text

    assert "no labels yet" in invoke("label", "list", "-p", "zoo", "--data-dir", data).output
    invoke("label", "add", "-p", "zoo", "cat", "zebra", "--data-dir", data)
    labels = json.loads(invoke("label", "list", "-p", "zoo", "--data-dir", data, "--json").output)
    assert [x["name"] for x in labels] == ["cat", "zebra"]
    assert "zebra" in invoke("label", "list", "-p", "zoo", "--data-dir", data).output
    assert (
        invoke("label", "list", "-p", "farm", "--data-dir", data, "--json").output.strip() == "[]"
    )

    made = json.loads(invoke("key", "create", "-p", "zoo", "--role", "viewer", "--data-dir", data,
                             "--json").output)  # fmt: skip
    keys = json.loads(invoke("key", "list", "-p", "zoo", "--data-dir", data, "--json").output)
    assert [(k["client_id"], k["role"]) for k in keys] == [(made["client_id"], "viewer")]
    text = invoke("key", "list", "-p", "zoo", "--data-dir", data).output
    assert made["client_id"] in text and made["client_secret"] not in text
    assert "secret" not in json.dumps(keys)
    missing = invoke("key", "list", "-p", "nope", "--data-dir", data)
    assert missing.exit_code == 3 and "Traceback" not in missing.output


def test_import_summary_ends_with_where_to_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    invoke("project", "create", "Zoo", "--data-dir", data)
    source = coco(tmp_path / "coco")
    result = invoke("import", source, "-p", "zoo", "--create-labels", "--data-dir", data)
    assert result.exit_code == 0, result.output
    tail = result.output.strip().splitlines()[-2:]
    assert tail[0] == f"the import list: labelport imports --project zoo --data-dir {data}"
    assert tail[1].startswith(f"in a browser: labelport serve --data-dir {data}")
    dry = invoke("import", source, "-p", "zoo", "--dry-run", "--data-dir", data)
    assert dry.exit_code == 0 and "labelport imports" not in dry.output


def test_import_beside_a_running_server_says_to_use_it_and_works_through_it(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    source = coco(tmp_path / "coco")
    with ServeProcess(data) as server:
        server.cli("project", "create", "Zoo")
        key = server.cli("key", "create", "--project", "zoo")
        beside = run_cli("import", str(source), "-p", "zoo", "--create-labels",
                         "--data-dir", str(data), check=False)  # fmt: skip
        assert beside.returncode == 2, beside.stdout + beside.stderr
        said = " ".join(beside.stderr.split())
        assert f"runs imports on this data at {server.base_url}" in said
        assert "--project zoo --key ID:SECRET" in said
        assert f"same as --server {server.base_url} --key ID:SECRET" in said
        assert "Traceback" not in said
        assert not (data / "labelport.db-journal").exists()

        # With a key, the same command goes through the server by itself.
        secret = f"{key['client_id']}:{key['client_secret']}"
        through = run_cli("import", str(source), "-p", "zoo", "--create-labels",
                          "--data-dir", str(data), "--key", secret)  # fmt: skip
        out = through.stdout.strip().splitlines()
        assert (
            out[0]
            == f"a labelport server runs on this data: importing through it at {server.base_url}"
        )
        assert f"verify in a browser: {server.base_url}/ui/p/zoo/imports" in out[-2]
        assert out[-1].startswith("the import list: labelport imports --project zoo --server")
        imports = server.cli("imports", "--project", "zoo")
        assert [i["status"] for i in imports["items"]] == ["success"]
        explicit = run_cli("import", str(source), "-p", "zoo", "--server", server.base_url,
                           "--key", secret)  # fmt: skip
        assert "files already imported (unchanged)" in explicit.stdout
    # The server is gone (its note may stay: uvicorn ends the process on SIGTERM): the lock is
    # free, so an embedded import runs again.
    assert imports_runner(data) is None
    again = run_cli("import", str(source), "-p", "zoo", "--data-dir", str(data))
    assert "files already imported (unchanged)" in again.stdout


def test_lists_and_check_project_on_sqlite_and_postgresql(database, tmp_path: Path) -> None:
    where = ["--database-url", database.url, "--data-dir", tmp_path / "blobs"]
    assert invoke("project", "create", "Zoo", *where).exit_code == 0
    invoke("label", "add", "-p", "zoo", "cat", *where)
    invoke("key", "create", "-p", "zoo", *where)
    projects = json.loads(invoke("project", "list", *where, "--json").output)
    labels = json.loads(invoke("label", "list", "-p", "zoo", *where, "--json").output)
    keys = json.loads(invoke("key", "list", "-p", "zoo", *where, "--json").output)
    assert [p["string_id"] for p in projects] == ["zoo"]
    assert [x["name"] for x in labels] == ["cat"]
    assert [k["role"] for k in keys] == ["admin"]
    packet = tmp_path / "p.json"
    box = {"type": "box", "name": "zebra", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}
    packet.write_text(json.dumps({"instance_list": [box]}))
    checked = invoke("check", packet, "--project", "zoo", *where, "--json")
    assert checked.exit_code == 1, checked.output
    assert [p["code"] for p in json.loads(checked.output)["problems"]] == ["label.unknown"]


def test_cli_times_are_converted_to_utc_not_relabelled() -> None:
    from datetime import datetime, timedelta, timezone

    from labelport.cli.common import utc_text

    # PostgreSQL answers in its session's zone: 12:00 at UTC+2 is 10:00 UTC.
    at_plus_two = datetime(2026, 11, 29, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert utc_text(at_plus_two) == "2026-11-29 10:00:00 UTC"
    assert utc_text(datetime(2026, 11, 29, 12, 0)) == "2026-11-29 12:00:00 UTC"  # stored UTC
    assert utc_text("2026-11-29T12:00:00+02:00") == "2026-11-29 10:00:00 UTC"
    assert utc_text(None) == "" and utc_text(None, missing="-") == "-"
