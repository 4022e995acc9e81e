"""Problems in bulk, grouped: 162 rows of "label 'car' is not in the project" become one group
with its count and a few examples.

A group is one code and one message *shape*: the message with its numbers outside quotes taken
out. So problems that differ only by a coordinate or an index ("x_max 1300 is outside the image
width 1280") are one group, while each quoted name ("label 'car'", "label 'bus'") keeps a group
of its own: one line per missing label, with its count.

Pure: no I/O. Used by the CLI, the Import page and the SDK.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labelport.shapes import ProblemGroupOut

EXAMPLES = 3  # paths kept per group

# A quoted stretch ('...' or "..."), or a number (with sign, decimals, exponent).
_QUOTED_OR_NUMBER = re.compile(r"""'[^']*'|"[^"]*"|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?""")


@dataclass(frozen=True)
class Example:
    path: str
    message: str


@dataclass
class ProblemGroup:
    """`count` problems of `code` whose messages read like `message` (the first one's).
    `unlisted`: a group of problems counted by code only (beyond a capped list), no examples."""

    code: str
    message: str
    count: int
    examples: list[Example] = field(default_factory=list)
    unlisted: bool = False

    def to_dict(self) -> ProblemGroupOut:
        return {
            "code": self.code,
            "message": self.message,
            "count": self.count,
            "examples": [{"path": e.path, "message": e.message} for e in self.examples],
            "unlisted": self.unlisted,
        }

    def line(self) -> str:
        """One line for a terminal: `code  xcount  message  (e.g. path, path, …)`."""
        where = ", ".join(e.path for e in self.examples if e.path)
        more = "…" if self.count > len(self.examples) and where else ""
        eg = f"  (e.g. {where}{', ' + more if more else ''})" if where else ""
        return f"{self.code}  x{self.count:,}  {self.message}{eg}"


def shape(message: str) -> str:
    """The message with every number outside quotes replaced by `#`."""
    return _QUOTED_OR_NUMBER.sub(lambda m: m.group(0) if m.group(0)[0] in "'\"" else "#", message)


def _field(problem: Any, name: str) -> str:
    if isinstance(problem, Mapping):
        return str(problem.get(name, "") or "")
    return str(getattr(problem, name, "") or "")


def group_problems(
    problems: Iterable[Any],
    counts_by_code: Mapping[str, int] | None = None,
    *,
    examples: int = EXAMPLES,
) -> list[ProblemGroup]:
    """Groups of `problems` (dicts or objects with code, path, message), largest first (ties in
    the order first seen).

    `counts_by_code`: every code's full count when `problems` is a capped list; what a code has
    beyond its listed problems becomes one more group of that code, marked `unlisted`."""
    groups: dict[tuple[str, str], ProblemGroup] = {}
    listed: dict[str, int] = {}
    for problem in problems:
        code, message = _field(problem, "code"), _field(problem, "message")
        key = (code, shape(message))
        group = groups.get(key)
        if group is None:
            group = groups[key] = ProblemGroup(code, message, 0)
        group.count += 1
        if len(group.examples) < examples:
            group.examples.append(Example(_field(problem, "path"), message))
        listed[code] = listed.get(code, 0) + 1
    out = list(groups.values())
    for code, total in (counts_by_code or {}).items():
        beyond = int(total) - listed.get(code, 0)
        if beyond > 0:
            out.append(ProblemGroup(code, "more problems, not listed", beyond, unlisted=True))
    order = {id(g): n for n, g in enumerate(out)}
    out.sort(key=lambda g: (g.unlisted, -g.count, order[id(g)]))
    return out


def capped(groups: list[ProblemGroup], limit: int) -> list[ProblemGroup]:
    """At most `limit` groups (+ one per code for the rest): the groups past the limit are
    merged into one `unlisted` group per code, so every problem stays counted."""
    if len(groups) <= limit:
        return groups
    rest: dict[str, int] = {}
    for g in groups[limit:]:
        rest[g.code] = rest.get(g.code, 0) + g.count
    merged = [ProblemGroup(code, "more problems, not listed", n, unlisted=True)
              for code, n in rest.items()]  # fmt: skip
    return groups[:limit] + sorted(merged, key=lambda g: -g.count)


def from_dicts(stored: Iterable[Mapping[str, Any]]) -> list[ProblemGroup]:
    """Groups stored as `to_dict()`s, back as groups."""
    return [
        ProblemGroup(
            str(d.get("code", "")),
            str(d.get("message", "")),
            int(d.get("count", 0)),
            [
                Example(str(e.get("path", "")), str(e.get("message", "")))
                for e in d.get("examples") or ()
            ],
            bool(d.get("unlisted")),
        )
        for d in stored
    ]


def group_lines(
    problems: Iterable[Any],
    counts_by_code: Mapping[str, int] | None = None,
    *,
    limit: int = 50,
) -> list[str]:
    """The groups as terminal lines, at most `limit` (then one line saying how many more)."""
    groups = group_problems(problems, counts_by_code)
    lines = [g.line() for g in groups[:limit]]
    if len(groups) > limit:
        rest = sum(g.count for g in groups[limit:])
        lines.append(f"… {len(groups) - limit:,} more groups ({rest:,} problems)")
    return lines
