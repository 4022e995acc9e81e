"""The few exceptions the Service raises; the HTTP layer and the CLI map each to one answer."""

from __future__ import annotations

from typing import Any


class LabelportError(Exception):
    """Base: every error a user may see has a stable code and a plain message."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(LabelportError):
    """Missing, or belongs to another project: the two are indistinguishable on purpose."""

    code = "not_found"


class Conflict(LabelportError):
    """A unique name or reference is taken."""

    code = "conflict"


class Invalid(LabelportError):
    """Bad arguments outside the instance format (an unknown role, an empty name)."""

    code = "invalid"


class Rejected(LabelportError):
    """A packet with problems found before anything is stored: every problem, with paths."""

    code = "packet.rejected"

    def __init__(self, report: Any) -> None:
        self.report = report
        n = report.problem_count
        super().__init__(f"the packet has {n} problem{'s' if n != 1 else ''}; nothing was stored")


class Unauthorized(LabelportError):
    code = "auth.unauthorized"


class Forbidden(LabelportError):
    code = "auth.forbidden"
