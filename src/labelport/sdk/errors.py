"""The two exceptions labelport's SDK raises for answers of the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labelport.format.problem_groups import ProblemGroup, group_problems


@dataclass(frozen=True)
class Problem:
    """One problem (or warning) of a packet: a stable `code`, where (`path`), and what."""

    code: str
    path: str
    message: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        return cls(
            code=str(data.get("code", "")),
            path=str(data.get("path", "")),
            message=str(data.get("message", "")),
        )

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.message} [{self.code}]"


class LabelportHTTPError(Exception):
    """The server answered an error: `status` (HTTP), `code` (stable), `message` (plain words)."""

    def __init__(
        self, status: int, code: str, message: str, body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body or {}


class PacketRejected(LabelportHTTPError):
    """A packet (or request) with problems; nothing was stored. `.problems` lists every one."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: list[Problem],
        problem_count: int,
        warnings: list[Problem] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, code, message, body)
        self.problems = problems
        self.problem_count = problem_count
        self.warnings = warnings or []
        inner = self.body.get("error")
        error: dict[str, Any] = inner if isinstance(inner, dict) else self.body
        # The record the refusal left on the server (status `rejected`), when it kept one.
        self.import_id: int | None = error.get("import_id")
        self._counts_by_code: dict[str, int] = error.get("problem_counts_by_code") or {}
        self.warning_count: int = int(error.get("warning_count") or len(self.warnings))

    @property
    def groups(self) -> list[ProblemGroup]:
        """The problems grouped by code and message: count, message, a few example paths."""
        return group_problems(self.problems, self._counts_by_code)

    def __str__(self) -> str:
        head = f"{self.message} ({self.problem_count} problem(s))"
        return "\n".join([head, *describe(self.groups, self.warnings, self.warning_count)])

    def __repr__(self) -> str:
        return (
            f"PacketRejected(status={self.status}, problems={self.problem_count}, "
            f"import_id={self.import_id}, groups=[{short_groups(self.groups)}], "
            f"warnings={self.warning_count})"
        )


def short_groups(groups: list[ProblemGroup], limit: int = 5) -> str:
    """`label.unknown x162 'label "car" is not...'`, ... for a one-line repr."""
    parts = [f"{g.code} x{g.count} {g.message[:60]!r}" for g in groups[:limit]]
    if len(groups) > limit:
        parts.append(f"... {len(groups) - limit} more")
    return ", ".join(parts)


def describe(groups: list[ProblemGroup], warnings: list[Problem], warning_count: int) -> list[str]:
    """Lines for a person: one per problem group (with example places), then the warnings."""
    lines = [f"  {g.line()}" for g in groups[:30]]
    if len(groups) > 30:
        lines.append(f"  ... and {len(groups) - 30} more groups")
    if warning_count:
        lines.append(f"  {warning_count} warning(s):")
        lines += [f"    {g.line()}" for g in group_problems(warnings)[:10]]
    return lines
