"""The two exceptions labelport's SDK raises for answers of the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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

    def __str__(self) -> str:
        lines = [f"{self.message} ({self.problem_count} problem(s))"]
        lines += [f"  {p}" for p in self.problems[:20]]
        if self.problem_count > 20:
            lines.append(f"  ... and {self.problem_count - 20} more")
        return "\n".join(lines)
