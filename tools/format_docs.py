"""Write what the docs say per format from `convert.FORMATS`: the formats table of
docs/convert.md (layouts read, files written, notes) and the README's list of the formats
`labelport import` reads.

    .venv/bin/python tools/format_docs.py          # rewrite both
    .venv/bin/python tools/format_docs.py --check  # exit 1 if either is out of date

Each generated part lies between two marker comments; the prose around them is written by hand.
tests/test_docs.py fails while a checked-in page differs from what this writes, so a format
added to the table is documented by its row and a run of this (`make docs`), not by editing
the pages.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONVERT = ROOT / "docs" / "convert.md"
README = ROOT / "README.md"

TABLE_BEGIN = "<!-- formats-table: written by tools/format_docs.py from FORMATS; do not edit -->\n"
TABLE_END = "<!-- /formats-table -->\n"
# inside a sentence of the README: the markers are inline comments, invisible when rendered
TITLES_BEGIN = "<!-- format-titles: written by tools/format_docs.py -->"
TITLES_END = "<!-- /format-titles -->"


def table() -> str:
    from labelport.convert import FORMATS

    rows = [
        f"| `{f.name}` | {f.reads} | {f.writes if f.writes is not None else '-'} | {f.notes} |\n"
        for f in FORMATS.values()
    ]
    return "| format | read | write | notes |\n|---|---|---|---|\n" + "".join(rows)


def titles() -> str:
    """The formats' titles as a sentence lists them: "A, B or C"."""
    from labelport.convert import FORMATS

    *rest, last = (f.title for f in FORMATS.values())
    return f"{', '.join(rest)} or {last}" if rest else last


def _between(page: str, begin: str, end: str, body: str, path: Path) -> str:
    head, found, rest = page.partition(begin)
    _old, found_end, tail = rest.partition(end)
    if not (found and found_end):
        raise SystemExit(f"{path.relative_to(ROOT)} lacks the markers {begin.strip()!r}")
    return head + begin + body + end + tail


def render_convert(page: str) -> str:
    """docs/convert.md's text with the formats table written anew."""
    return _between(page, TABLE_BEGIN, TABLE_END, table(), CONVERT)


def render_readme(page: str) -> str:
    """README.md's text with the list of formats written anew."""
    return _between(page, TITLES_BEGIN, TITLES_END, titles(), README)


PAGES: dict[Path, Callable[[str], str]] = {CONVERT: render_convert, README: render_readme}


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
        print(f"out of date: {', '.join(map(str, stale))}: run python tools/format_docs.py")
        return 1
    print(f"rewrote {', '.join(map(str, stale))}" if stale else "the format docs are current")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
