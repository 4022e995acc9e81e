"""Exceptions the store raises, so callers never need to catch driver-specific errors."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class NotFound(StoreError):
    """The row asked for does not exist (or not in the project asked for)."""


class Conflict(StoreError):
    """A write would break a uniqueness rule or a state rule (e.g. writing a finished import)."""
