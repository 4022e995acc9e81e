"""The test PostgreSQL server: its URL, whether it can be reached, and admin statements on it.

A module of its own (not conftest.py) so tests import it by an unambiguous name: with several
conftest.py files collected, `from conftest import ...` may find another folder's.
"""

from __future__ import annotations

import os
from functools import cache

POSTGRES_URL = os.environ.get(
    "LABELPORT_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test"
)


@cache
def _postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (the `postgres` extra)"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {' '.join(str(exc).split())}"


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(sql)
