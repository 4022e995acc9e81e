"""`labelport user ...`: an account's whole life through the CLI, on SQLite and PostgreSQL.

Create (password from stdin), list, grant, sign in with it, change the password, disable and
enable, revoke; readable errors with exit codes; the password never in any output, and stored
only as a salted scrypt hash with its parameters.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from labelport.accounts import Accounts
from labelport.service import Service
from server_helpers import labelport_command

PASSWORD = "tr0ub4dor&3-horse"
NEW_PASSWORD = "another long passphrase"


class Cli:
    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.where = ["--data-dir", str(data_dir), "--database-url", database_url]
        self.outputs: list[str] = []

    def __call__(self, *args: str, stdin: str = "", code: int = 0) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*labelport_command(), *args, *self.where],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        )
        self.outputs += [result.stdout, result.stderr]
        assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        return result


def _signs_in(database: Any, tmp_path: Path, email: str, password: str) -> bool:
    with Service.open(data_dir=tmp_path / "check", database_url=database.url, workers=0) as svc:
        return Accounts(svc.store).authenticate(email, password) is not None


def test_an_account_from_creation_to_revocation(database: Any, tmp_path: Path) -> None:
    lp = Cli(tmp_path / "data", database.url)
    lp("project", "create", "Cats")
    lp("project", "create", "Dogs")

    created = lp("user", "create", "Ann@Example.com", "--password-stdin", "--json",
                 stdin=PASSWORD + "\n")  # fmt: skip
    account = json.loads(created.stdout)
    assert account["email"] == "Ann@Example.com" and account["disabled"] is False
    # One account per address, whatever its capitals.
    taken = lp("user", "create", "ann@EXAMPLE.com", "--password-stdin", stdin=PASSWORD, code=4)
    assert "already exists" in taken.stderr
    short = lp("user", "create", "bob@example.com", "--password-stdin", stdin="short\n", code=2)
    assert "at least 8 characters" in short.stderr
    bad = lp("user", "create", "not-an-email", "--password-stdin", stdin=PASSWORD, code=2)
    assert "not an email address" in bad.stderr
    # No terminal and no --password-stdin: said, not hung.
    assert "--password-stdin" in lp("user", "create", "c@example.com", code=2).stderr

    lp("user", "grant", "ann@example.com", "cats", "--role", "editor")
    lp("user", "grant", "ann@example.com", "dogs")  # viewer by default
    assert (
        "role must be one of"
        in lp("user", "grant", "ann@example.com", "cats", "--role", "king", code=2).stderr
    )
    assert "no account" in lp("user", "grant", "zed@example.com", "cats", code=3).stderr
    assert "not found" in lp("user", "grant", "ann@example.com", "birds", code=3).stderr

    listed = json.loads(lp("user", "list", "--json").stdout)
    assert [u["email"] for u in listed] == ["Ann@Example.com"]
    assert sorted((p["project"], p["role"]) for p in listed[0]["projects"]) == [
        ("cats", "editor"),
        ("dogs", "viewer"),
    ]
    assert "cats (editor)" in lp("user", "list").stdout
    assert _signs_in(database, tmp_path, "ann@example.com", PASSWORD)
    assert not _signs_in(database, tmp_path, "ann@example.com", PASSWORD + "x")

    lp("user", "password", "ann@example.com", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert not _signs_in(database, tmp_path, "ann@example.com", PASSWORD)
    assert _signs_in(database, tmp_path, "ANN@example.com", NEW_PASSWORD)

    lp("user", "disable", "ann@example.com")
    assert "[disabled]" in lp("user", "list").stdout
    assert not _signs_in(database, tmp_path, "ann@example.com", NEW_PASSWORD)
    lp("user", "enable", "ann@example.com")
    assert _signs_in(database, tmp_path, "ann@example.com", NEW_PASSWORD)

    lp("user", "revoke", "ann@example.com", "dogs")
    listed = json.loads(lp("user", "list", "--json").stdout)
    assert [p["project"] for p in listed[0]["projects"]] == ["cats"]
    assert "not a member" in lp("user", "revoke", "ann@example.com", "dogs", code=3).stderr

    # The password was never printed, and is stored only as a salted hash with its parameters.
    for output in lp.outputs:
        assert PASSWORD not in output and NEW_PASSWORD not in output
    lp("user", "create", "twin@example.com", "--password-stdin", stdin=NEW_PASSWORD)
    with Service.open(data_dir=tmp_path / "check", database_url=database.url, workers=0) as svc:
        hashes = [u.password_hash for u in svc.store.list_users()]
    assert all(h.startswith("scrypt$32768$8$1$") for h in hashes), hashes
    assert len({h.split("$")[4] for h in hashes}) == 2  # a salt of its own each
    assert not any(NEW_PASSWORD in h for h in hashes)
