"""Opening a database: engine set-up per dialect, explicit transactions, migrations to head."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool, StaticPool

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def make_engine(url: str, schema: str | None = None) -> Engine:
    """An engine for `sqlite:///path` or `postgresql://...` (always the psycopg 3 driver).

    `schema` (PostgreSQL only) puts every table in that schema, created if missing, by setting
    the connections' search_path; tests use it to get a database of their own.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("schema= is a PostgreSQL option; use another SQLite file instead")
        return _sqlite_engine(parsed)
    if backend in ("postgresql", "postgres"):
        return _postgres_engine(parsed, schema)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///... or postgresql://...")


def _sqlite_engine(url: Any) -> Engine:
    memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {}
    if memory:
        # Every connection to :memory: is a new empty database; share one.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = create_engine(url.set(drivername="sqlite+pysqlite"), **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The sqlite3 module would BEGIN on its own before DML but not before DDL and never
        # IMMEDIATE; turn that off and let `_on_begin` open every transaction.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        if not memory:
            cur.execute("PRAGMA journal_mode = WAL")
            # Safe with WAL: a power cut may lose the last commits, never corrupt the file.
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction must hold the write lock from its start: a deferred one that
        # upgrades later fails at once with SQLITE_BUSY under WAL instead of waiting.
        mode = "IMMEDIATE" if conn.get_execution_options().get("labelport_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: Any, schema: str | None) -> Engine:
    url = url.set(drivername="postgresql+psycopg")
    if schema is None:
        return create_engine(url)
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema name {schema!r}: use letters, digits and _ only")
    bootstrap = create_engine(url, poolclass=NullPool)
    try:
        with bootstrap.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        bootstrap.dispose()
    return create_engine(url, connect_args={"options": f"-csearch_path={schema}"})


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """One transaction on its own connection: committed on success, rolled back on error."""
    with engine.connect() as conn:
        if write:
            conn.execution_options(labelport_write=True)
        with conn.begin():
            yield conn


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


_REVISION = re.compile(r"^revision(?:: [^=]+)? = \"([^\"]+)\"$", re.M)
_DOWN_REVISION = re.compile(r"^down_revision(?:: [^=]+)? = (None|\"[^\"]+\")$", re.M)


def script_heads() -> frozenset[str] | None:
    """The head revisions of the migration scripts, read from their `revision` and
    `down_revision` lines without loading Alembic; None when a script does not read that way
    (a merge, a tuple): then only Alembic can tell."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        source = path.read_text()
        revision, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        revisions.add(revision[0])
        if down[0] != "None":
            downs.add(down[0].strip('"'))
    heads = revisions - downs
    return frozenset(heads) if heads and downs <= revisions else None


def at_head(engine: Engine) -> bool:
    """Whether the database's recorded revisions are the scripts' heads: one read, no Alembic
    (loading it and its scripts is ~0.3 s of every command's start)."""
    heads = script_heads()
    if heads is None:
        return False
    try:
        with transaction(engine, write=False) as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version"))
            found = {row[0] for row in rows}
    except exc.DBAPIError:  # no such table yet: a new database
        return False
    return found == heads


def migrate(engine: Engine) -> None:
    """Bring the database to the newest revision; safe when several processes open at once."""
    if at_head(engine):
        return
    from alembic import command

    cfg = alembic_config()
    with transaction(engine, write=True) as conn:
        if conn.dialect.name == "postgresql":
            # SQLite's write lock (BEGIN IMMEDIATE) already serialises concurrent migrators.
            conn.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(hashtext('labelport.migrate.' || current_schema()))"
            )
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
