"""Write the table of problem codes in docs/problems.md from `format.problems.CATALOGUE`.

    .venv/bin/python tools/problem_catalogue.py          # rewrite the table in docs/problems.md
    .venv/bin/python tools/problem_catalogue.py --check  # exit 1 if the page is out of date

The table is the part of the page between the two `problem-catalogue` comments; the prose
around it is written by hand. tests/test_docs.py fails while the checked-in page differs from
what this writes, so a code added to the catalogue (media codes included: `media/errors.py`
names them, tests/media/test_errors_catalogued.py keeps them in the catalogue) is documented by
running this, not by editing the page.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "problems.md"
BEGIN = "<!-- problem-catalogue: written by tools/problem_catalogue.py; do not edit -->\n"
END = "<!-- /problem-catalogue -->\n"


def table() -> str:
    from labelport.format.problems import CATALOGUE

    rows = [f"| `{code}` | {kind} | {meaning} |\n" for code, (kind, meaning) in CATALOGUE.items()]
    return "| code | kind | meaning |\n|---|---|---|\n" + "".join(rows)


def render(page: str) -> str:
    """`page` with the text between the markers replaced by the table."""
    head, found, rest = page.partition(BEGIN)
    _old, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise SystemExit(f"{OUT.relative_to(ROOT)} lacks the problem-catalogue markers")
    return head + BEGIN + table() + END + tail


def main(argv: list[str]) -> int:
    page = OUT.read_text()
    text = render(page)
    if "--check" in argv:
        if text != page:
            print(f"{OUT.relative_to(ROOT)} is out of date: run python tools/problem_catalogue.py")
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote the table of {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
