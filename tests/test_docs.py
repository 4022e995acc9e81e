"""The user docs in docs/ stay true to the code.

- Every JSON packet on docs/instance-format.md passes `labelport check --labels` with the seed
  labels, or reports exactly the codes of the `<!-- problems: ... -->` / `<!-- warnings: ... -->`
  comments above it.
- docs/diffgram-compat.md names every route the app serves for the `diffgram` SDK, and no other.
- docs/cli.md is what tools/cli_reference.py writes from `--help` today.
- docs/problems.md's code table, docs/convert.md's formats table and the README's list of
  formats are what tools/doc_tables.py writes from the catalogue and `labelport.convert.FORMATS`
  today.
- No doc, and not the README, points outside the repository.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelport.api import create_app, route_table
from labelport.cli import app
from labelport.convert import FORMATS

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
LABELS = ROOT / "examples" / "seeds" / "labels.json"

_BLOCK = re.compile(r"((?:<!-- (?:problems|warnings): [^>]*-->\n)*)```json\n(.*?)```", re.S)
_EXPECT = re.compile(r"<!-- (problems|warnings): ([^>]*)-->")


def _examples() -> list[tuple[int, dict[str, list[str]], str]]:
    text = (DOCS / "instance-format.md").read_text()
    out = []
    for match in _BLOCK.finditer(text):
        expected: dict[str, list[str]] = {"problems": [], "warnings": []}
        for kind, codes in _EXPECT.findall(match.group(1)):
            expected[kind] = sorted(codes.split())
        line = text.count("\n", 0, match.start(2)) + 1
        out.append((line, expected, match.group(2)))
    return out


EXAMPLES = _examples()


def test_the_format_page_has_examples() -> None:
    assert len(EXAMPLES) >= 8
    assert any(expected["problems"] for _line, expected, _body in EXAMPLES)


@pytest.mark.parametrize(
    ("line", "expected", "body"), EXAMPLES, ids=[f"line{e[0]}" for e in EXAMPLES]
)
def test_format_page_example(
    tmp_path: Path, line: int, expected: dict[str, list[str]], body: str
) -> None:
    packet = tmp_path / "packet.json"
    packet.write_text(body)
    result = CliRunner().invoke(app, ["check", str(packet), "--labels", str(LABELS), "--json"])
    assert result.exit_code in (0, 1), result.output
    out = json.loads(result.output)
    found = {
        "problems": sorted(p["code"] for p in out["problems"]),
        "warnings": sorted(w["code"] for w in out["warnings"]),
    }
    assert found == expected, f"docs/instance-format.md line {line}: {out}"
    assert result.exit_code == (1 if expected["problems"] else 0)


def _compat_routes() -> set[tuple[str, str]]:
    return {
        (method, path.replace("{project_string_id}", "{psid}"))
        for method, path, in_schema in route_table(create_app(None))
        if path.startswith("/api/") and not in_schema and not path.startswith("/api/v1/projects/")
    }


def test_compat_page_lists_every_compat_route() -> None:
    text = (DOCS / "diffgram-compat.md").read_text()
    documented = set(re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/api/[^`?]*)", text))
    routes = _compat_routes()
    assert routes, "no diffgram-compatible route found"
    assert routes - documented == set(), "served but not in docs/diffgram-compat.md"
    assert documented - routes == set(), "in docs/diffgram-compat.md but not served"


def _tool(name: str):  # tools/ is not a package: load the script by its path
    script = ROOT / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cli_reference():
    return _tool("cli_reference")


def test_cli_reference_is_current() -> None:
    expected = _cli_reference().render()
    assert (DOCS / "cli.md").read_text() == expected, (
        "docs/cli.md is out of date: run `.venv/bin/python tools/cli_reference.py`"
    )


def test_cli_reference_covers_every_command() -> None:
    text = (DOCS / "cli.md").read_text()
    for name in _cli_reference().command_names():
        assert f"## `{name}`" in text, name


@pytest.mark.parametrize("page", ["docs/problems.md", "docs/convert.md", "README.md"])
def test_doc_tables_are_current(page: str) -> None:
    """docs/problems.md's code table is written from the catalogue, docs/convert.md's formats
    table and the README's list of formats from `FORMATS`: a code or a format added, renamed or
    described anew fails here until `make docs`."""
    path = ROOT / page
    text = path.read_text()
    assert _tool("doc_tables").PAGES[path.resolve()](text) == text, (
        f"{page} is out of date: run `.venv/bin/python tools/doc_tables.py`"
    )


def test_format_docs_name_every_format() -> None:
    """What the pages show is the table's, row by row (so a generator that wrote less fails)."""
    convert_page = (DOCS / "convert.md").read_text()
    readme = re.sub(r"<!--.*?-->", "", " ".join((ROOT / "README.md").read_text().split()))
    sentence = re.search(r"A ([^.;]*) export goes in with one command", readme)
    assert sentence, "README.md: the sentence listing the formats import reads is gone"
    assert sorted(re.split(r", | or ", sentence.group(1))) == sorted(
        f.title for f in FORMATS.values()
    )
    for f in FORMATS.values():
        assert f"| `{f.name}` | {f.reads} | {f.writes or '-'} | {f.notes} |" in convert_page


@pytest.mark.parametrize(
    "path", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in DOCS.glob("*.md"))]
)
def test_no_pointer_leaves_the_repository(path: str) -> None:
    """Relative links resolve to files of the repository; nothing names the `shared/` folder
    that lies beside the repository on the developers' machines only."""
    doc = ROOT / path
    text = doc.read_text()
    assert "shared/" not in text, path
    for target in re.findall(r"\]\(([^)#\s]+)", text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT.resolve()), (path, target)
        if resolved.is_relative_to((DOCS / "screenshots").resolve()):
            continue  # pictures `make screenshots` makes; they may lag behind a new page
        assert resolved.exists(), (path, target)
