"""The server's CLI commands: JSON output, readable errors with exit codes, no tracebacks."""

from __future__ import annotations

from pathlib import Path

from server_helpers import run_cli


def lp(data_dir: Path, *args: str, check: bool = True):
    return run_cli(*args, "--data-dir", str(data_dir), check=check)


def test_project_key_label_commands(tmp_path: Path) -> None:
    import json

    data = tmp_path / "data"
    project = json.loads(lp(data, "project", "create", "My Project", "--json").stdout)
    assert set(project) == {"id", "string_id", "name"}
    psid = project["string_id"]
    key = json.loads(
        lp(data, "key", "create", "--project", psid, "--role", "viewer", "--json").stdout
    )
    assert key["role"] == "viewer" and key["client_id"] and key["client_secret"]
    labels = json.loads(lp(data, "label", "add", "--project", psid, "cat", "dog", "--json").stdout)
    assert [label["name"] for label in labels] == ["cat", "dog"]

    table = lp(data, "imports", "--project", psid)
    assert "imports of" in table.stdout
    plain = lp(data, "project", "create", "Other")
    assert "other" in plain.stdout


def test_errors_are_messages_with_exit_codes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    missing = lp(data, "key", "create", "--project", "nope", check=False)
    assert missing.returncode == 3
    assert missing.stderr.startswith("error:") and "Traceback" not in missing.stderr

    lp(data, "project", "create", "Dup")
    again = lp(data, "project", "create", "Dup", check=False)
    assert again.returncode == 4 and "Traceback" not in again.stderr

    bad_role = lp(data, "project", "create", "R", check=False)
    assert bad_role.returncode == 0
    role = lp(data, "key", "create", "--project", "r", "--role", "king", check=False)
    assert role.returncode == 2 and "role" in role.stderr

    status = lp(data, "import-status", "12345", "--project", "r", check=False)
    assert status.returncode == 3 and "Traceback" not in status.stderr
