"""The format table (`convert.FORMATS`) is the one list of formats: each row's module has what
the row says, each row has what docs/convert.md's formats table shows of it (written from the
rows by tools/doc_tables.py; tests/test_docs.py fails while the page lags), and the CLI and the
unknown-format problem name every format. tests/convert/test_every_format.py detects, reads and
round-trips each one."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelport.cli import app
from labelport.convert import FORMATS, WRITABLE, detect_format, media_folder
from labelport.convert.importer import convert
from labelport.convert.model import Conversion


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
def test_row_has_its_docs(name: str) -> None:
    """The cells of its docs/convert.md row: one empty cell or a `|` would break the table."""
    row = FORMATS[name]
    cells = [row.reads, row.notes] + ([row.writes] if row.writes is not None else [])
    for cell in cells:
        assert cell.strip() and cell.strip() != "-", f"{name}: an empty cell in {cells}"
        assert "|" not in cell and "\n" not in cell, f"{name}: {cell!r} breaks its table row"


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
