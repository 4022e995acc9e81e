"""The engine holder every part of `Store` builds on: transactions and error translation."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from labelport.store.database import transaction
from labelport.store.errors import Conflict, NotFound, StoreError


def _psycopg_errors() -> Any:
    # Not imported here: an SQLite store would carry ~20 MB of driver it never uses. A psycopg
    # error can only exist once the driver is loaded, so looking it up is enough.
    return sys.modules.get("psycopg.errors")


def _translate(exc: BaseException) -> StoreError | None:
    """A StoreError for an integrity failure from Core or from a driver used directly."""
    orig = exc.orig if isinstance(exc, IntegrityError) else exc
    message = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if isinstance(orig, sqlite3.IntegrityError):
        if "FOREIGN KEY" in message:
            return NotFound(f"a referenced row does not exist ({message})")
        return Conflict(message)
    _pg_errors = _psycopg_errors()
    if _pg_errors is not None and isinstance(orig, _pg_errors.IntegrityError):
        if isinstance(orig, _pg_errors.ForeignKeyViolation):
            return NotFound(f"a referenced row does not exist ({message})")
        return Conflict(message)
    return None


# The read transaction `StoreBase.reading` opened in this thread (contexts are per thread), and
# the engine it is on.
_SHARED_READ: ContextVar[tuple[Engine, Connection] | None] = ContextVar("shared_read", default=None)


class StoreBase:
    engine: Engine
    dialect: Literal["sqlite", "postgresql"]

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        shared = _SHARED_READ.get()
        if shared is not None and shared[0] is self.engine:
            yield shared[1]
            return
        with transaction(self.engine, write=False) as conn:
            yield conn

    @property
    def writers_overlap(self) -> bool:
        """Whether write transactions run side by side (PostgreSQL), so that one may wait on
        something else without holding up the others; SQLite's writers take turns."""
        return self.dialect == "postgresql"

    @contextmanager
    def reading(self) -> Iterator[None]:
        """The reads of this block in one read transaction: a run of small reads (what a batch
        chunk loads of its project) is one BEGIN and COMMIT, not one each (on PostgreSQL, two
        round trips a read). Only for reads: on SQLite the block sees the database as of its
        first read, so a write made meanwhile (on its own connection) is not seen in it."""
        if _SHARED_READ.get() is not None:
            yield
            return
        with transaction(self.engine, write=False) as conn:
            token = _SHARED_READ.set((self.engine, conn))
            try:
                yield
            finally:
                _SHARED_READ.reset(token)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; integrity errors come out as Conflict / NotFound."""
        try:
            with transaction(self.engine, write=True) as conn:
                yield conn
        except (IntegrityError, sqlite3.IntegrityError) as exc:
            raise (_translate(exc) or exc) from exc
        except Exception as exc:
            pg_errors = _psycopg_errors()
            mapped = _translate(exc) if pg_errors and isinstance(exc, pg_errors.Error) else None
            if mapped is None:
                raise
            raise mapped from exc
