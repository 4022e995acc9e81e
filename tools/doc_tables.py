"""Write the parts of the docs that are tables of the code, each between two marker comments:

- the code table of docs/problems.md, from `format.problems.CATALOGUE` (media codes included:
  `media/errors.py` names them, tests/media/test_errors_catalogued.py keeps them in it);
- the formats table of docs/convert.md (layouts read, files written, notes) and the README's
  list of the formats `labelport import` reads, from `convert.FORMATS`.

    .venv/bin/python tools/doc_tables.py          # rewrite what is out of date
    .venv/bin/python tools/doc_tables.py --check  # exit 1 if a page is out of date

The prose around the markers is written by hand. tests/test_docs.py fails while a checked-in
page differs from what this writes, so a code or a format is documented by its row in the code
and a run of this (`make docs`), not by editing the pages.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "docs" / "problems.md"
CONVERT = ROOT / "docs" / "convert.md"
README = ROOT / "README.md"


def _markers(name: str, what: str = "") -> tuple[str, str]:
    """A block's begin and end comments; `what` empty for markers inside a sentence (inline,
    invisible when the page is rendered)."""
    if what:
        return f"<!-- {name}: written by tools/doc_tables.py from {what}; do not edit -->\n", (
            f"<!-- /{name} -->\n"
        )
    return f"<!-- {name}: written by tools/doc_tables.py -->", f"<!-- /{name} -->"


PROBLEMS_MARKERS = _markers("problem-catalogue", "CATALOGUE")
TABLE_MARKERS = _markers("formats-table", "FORMATS")
TITLES_MARKERS = _markers("format-titles")


def problem_table() -> str:
    from labelport.format.problems import CATALOGUE

    rows = [f"| `{code}` | {kind} | {meaning} |\n" for code, (kind, meaning) in CATALOGUE.items()]
    return "| code | kind | meaning |\n|---|---|---|\n" + "".join(rows)


def format_table() -> str:
    from labelport.convert import FORMATS

    rows = [
        f"| `{f.name}` | {f.reads} | {f.writes if f.writes is not None else '-'} | {f.notes} |\n"
        for f in FORMATS.values()
    ]
    return "| format | read | write | notes |\n|---|---|---|---|\n" + "".join(rows)


def format_titles() -> str:
    """The formats' titles as a sentence lists them: "A, B or C"."""
    from labelport.convert import FORMATS

    *rest, last = (f.title for f in FORMATS.values())
    return f"{', '.join(rest)} or {last}" if rest else last


def _between(path: Path, markers: tuple[str, str], body: Callable[[], str]) -> Callable[[str], str]:
    """A page's text -> the same with the text between `markers` replaced by `body()`."""
    begin, end = markers

    def render(page: str) -> str:
        head, found, rest = page.partition(begin)
        _old, found_end, tail = rest.partition(end)
        if not (found and found_end):
            raise SystemExit(f"{path.relative_to(ROOT)} lacks the markers {begin.strip()!r}")
        return head + begin + body() + end + tail

    return render


PAGES: dict[Path, Callable[[str], str]] = {
    PROBLEMS: _between(PROBLEMS, PROBLEMS_MARKERS, problem_table),
    CONVERT: _between(CONVERT, TABLE_MARKERS, format_table),
    README: _between(README, TITLES_MARKERS, format_titles),
}


def main(argv: list[str]) -> int:
    stale = []
    for path, render in PAGES.items():
        page = path.read_text()
        text = render(page)
        if text == page:
            continue
        stale.append(path.relative_to(ROOT))
        if "--check" not in argv:
            path.write_text(text)
    if "--check" in argv and stale:
        print(f"out of date: {', '.join(map(str, stale))}: run python tools/doc_tables.py")
        return 1
    print(f"rewrote {', '.join(map(str, stale))}" if stale else "the doc tables are current")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
