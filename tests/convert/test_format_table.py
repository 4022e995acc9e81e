"""The format table (`convert.FORMATS`) is the one list of formats: each row's module has what
the row says, the CLI and the unknown-format problem name every format, and docs/convert.md has
a row for each. tests/convert/test_every_format.py detects, reads and round-trips each one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelport.cli import app
from labelport.convert import FORMATS, WRITABLE, detect_format, media_folder
from labelport.convert.importer import convert
from labelport.convert.model import Conversion

ROOT = Path(__file__).parents[2]


def _docs_rows() -> dict[str, list[str]]:
    text = (ROOT / "docs" / "convert.md").read_text()
    section = text.split("\n## Formats\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|(.*)\|$", section, re.M)
    return {name: [cell.strip() for cell in rest.split("|")] for name, rest in rows}


@pytest.mark.parametrize("name", list(FORMATS))
def test_module_has_what_the_row_says(name: str) -> None:
    row = FORMATS[name]
    assert row.name == name
    mod = row.module
    assert callable(mod.detect) and callable(mod.read), name
    assert callable(getattr(mod, "write", None)) == row.writable, (
        f"{name}: writable={row.writable} but its module "
        f"{'has no' if row.writable else 'has a'} write()"
    )
    assert media_folder(name) == row.media_folder and row.media_folder


@pytest.mark.parametrize("name", list(FORMATS))
def test_docs_have_its_row(name: str) -> None:
    rows = _docs_rows()
    assert name in rows, f"docs/convert.md: no row for {name}"
    read, write = rows[name][0], rows[name][1]
    assert read and read != "-", name
    assert (write != "-") == FORMATS[name].writable, f"{name}: write column {write!r}"


def test_docs_have_no_other_format() -> None:
    assert set(_docs_rows()) == set(FORMATS)


@pytest.mark.parametrize("name", list(FORMATS))
def test_cli_help_names_it(name: str) -> None:
    runner = CliRunner()
    import_help = runner.invoke(app, ["import", "--help"], terminal_width=200).output
    assert name in import_help and FORMATS[name].title in import_help
    export_help = runner.invoke(app, ["export", "--help"], terminal_width=200).output
    assert (name in export_help) == (name in WRITABLE)


def test_unknown_format_names_every_format(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing a converter reads")
    assert detect_format(tmp_path) is None
    conv = Conversion()
    assert list(convert(tmp_path, "auto", conv)) == []
    (problem,) = conv.problems
    assert problem.code == "convert.format_unknown"
    for name in FORMATS:
        assert name in problem.message
