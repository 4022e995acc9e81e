"""What every `labelport` start pays for, and what it need not: Rich draws output and is loaded
by the commands that draw it, never by one run with --json (a script's); the collector is left
as the command found it once the command's modules are frozen."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from labelport.cli.commands import COMMANDS, app_for, whole_app

RUN = """
import gc, sys
enabled_before = gc.isenabled()
from labelport.cli import main
enabled_after = gc.isenabled()
sys.argv = ["labelport", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(enabled_before, enabled_after, "rich" in sys.modules, file=sys.stderr)
"""


def _run(*args: str) -> tuple[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=120
    )
    return done.stdout, done.stderr.split()[-3:]


def _packet(tmp_path: Path) -> str:
    box = {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}
    path = tmp_path / "packet.json"
    path.write_text(json.dumps({"media": {"url": "u", "type": "image"}, "instance_list": [box]}))
    return str(path)


def test_a_command_run_with_json_loads_no_rich(tmp_path: Path) -> None:
    out, (before, after, rich) = _run("check", _packet(tmp_path), "--json")
    assert json.loads(out)["problems"] == []
    assert (before, after, rich) == ("True", "True", "False")


def test_a_command_that_draws_its_output_loads_rich(tmp_path: Path) -> None:
    out, (_, _, rich) = _run("check", _packet(tmp_path))
    assert "checked" in out or "labels not checked" in out
    assert rich == "True"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_run_of_one_command_builds_only_that_command(name: str) -> None:
    one = typer.main.get_command(app_for([name, "--help"]))
    assert list(one.commands) == [name]  # type: ignore[attr-defined]
    # what the user sees of the command is what the whole app shows
    runner = CliRunner()
    alone = runner.invoke(app_for([name]), [name, "--help"], terminal_width=100)
    whole = runner.invoke(whole_app(), [name, "--help"], terminal_width=100)
    assert alone.exit_code == whole.exit_code == 0
    assert alone.output == whole.output


@pytest.mark.parametrize("args", [[], ["--help"], ["imprt"], ["--version", "--help"]])
def test_anything_but_a_command_gets_the_whole_app(args: list[str]) -> None:
    assert app_for(args) is whole_app()


def test_the_version_alone_builds_no_command() -> None:
    from labelport import __version__

    alone = app_for(["--version"])
    assert alone is not whole_app()
    assert not typer.main.get_command(alone).commands  # type: ignore[attr-defined]
    result = CliRunner().invoke(alone, ["--version"])
    assert result.exit_code == 0 and result.output == f"labelport {__version__}\n"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("::::", "Could not parse"),
        ("garbage://", "unsupported database URL"),
        ("postgresql://127.0.0.1:1/none", "cannot open the data store"),
    ],
)
def test_a_database_url_that_cannot_be_used_is_said_without_a_traceback(
    tmp_path: Path, url: str, said: str
) -> None:
    """The store's modules (and a PostgreSQL URL's driver) are loaded before the store opens:
    a URL that cannot be read still gets the store's one-line answer."""
    done = subprocess.run(
        [sys.executable, "-m", "labelport.cli", "imports", "-p", "x", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert said in done.stderr and "Traceback" not in done.stderr + done.stdout, done.stderr
