"""Exceptions the store raises, so callers never need to catch driver-specific errors.

They are the application's own `NotFound` / `Conflict`, so the HTTP layer and the CLI answer a
store error exactly as any other of the same kind.
"""

from __future__ import annotations

from labelport import errors


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class NotFound(StoreError, errors.NotFound):
    """The row asked for does not exist (or not in the project asked for)."""

    def __init__(self, message: str) -> None:
        errors.NotFound.__init__(self, message)


class Conflict(StoreError, errors.Conflict):
    """A write would break a uniqueness rule or a state rule (e.g. writing a finished import)."""

    def __init__(self, message: str) -> None:
        errors.Conflict.__init__(self, message)


class Invalid(StoreError, errors.Invalid):
    """A value no database can store (a text with a NUL character, say)."""

    def __init__(self, message: str) -> None:
        errors.Invalid.__init__(self, message)
