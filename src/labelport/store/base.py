"""The engine holder every part of `Store` builds on: transactions and error translation."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from labelport.store.database import transaction
from labelport.store.errors import Conflict, NotFound, StoreError

try:  # psycopg is the optional `postgres` extra
    import psycopg.errors as _pg_errors
except ImportError:  # pragma: no cover - SQLite-only installs
    _pg_errors = None


def _translate(exc: BaseException) -> StoreError | None:
    """A StoreError for an integrity failure from Core or from a driver used directly."""
    orig = exc.orig if isinstance(exc, IntegrityError) else exc
    message = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if isinstance(orig, sqlite3.IntegrityError):
        if "FOREIGN KEY" in message:
            return NotFound(f"a referenced row does not exist ({message})")
        return Conflict(message)
    if _pg_errors is not None and isinstance(orig, _pg_errors.IntegrityError):
        if isinstance(orig, _pg_errors.ForeignKeyViolation):
            return NotFound(f"a referenced row does not exist ({message})")
        return Conflict(message)
    return None


class StoreBase:
    engine: Engine
    dialect: Literal["sqlite", "postgresql"]

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with transaction(self.engine, write=False) as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; integrity errors come out as Conflict / NotFound."""
        try:
            with transaction(self.engine, write=True) as conn:
                yield conn
        except (IntegrityError, sqlite3.IntegrityError) as exc:
            raise (_translate(exc) or exc) from exc
        except Exception as exc:
            mapped = _translate(exc) if _pg_errors and isinstance(exc, _pg_errors.Error) else None
            if mapped is None:
                raise
            raise mapped from exc
