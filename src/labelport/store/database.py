"""Opening a database: engine set-up per dialect, explicit transactions, migrations to head."""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool, StaticPool

from labelport.format.problems import is_text
from labelport.store.errors import Invalid
from labelport.store.tables import add_dialect_options

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
        engine = _sqlite_engine(parsed)
    elif backend in ("postgresql", "postgres"):
        engine = _postgres_engine(parsed, schema)
    else:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///... or postgresql://...")
    add_dialect_options(engine.dialect.name)
    event.listen(engine, "before_cursor_execute", _refuse_unstorable_text)
    return engine


def _refuse_unstorable_text(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    """No text that PostgreSQL cannot store (a NUL) or no driver can send (a lone surrogate)
    reaches the database: its caller is told the value is invalid (an HTTP 400), where the
    driver's error was an internal one (500). The API checks its fields where they come in; this
    holds for any it does not, on both databases alike (a few us a statement)."""
    for row in parameters if executemany else (parameters,):
        if isinstance(row, dict):
            row = row.values()
        elif not isinstance(row, (list, tuple)):
            row = (row,)
        for value in row:
            # an array parameter (PostgreSQL's unnest of keys, say) is looked into too
            if (type(value) is str and not is_text(value)) or (
                type(value) is list and not all(is_text(v) for v in value if type(v) is str)
            ):
                raise Invalid(
                    "a text value cannot hold a NUL character (\\u0000) or a lone UTF-16 "
                    "surrogate (\\ud800-\\udfff without its pair)"
                )


def load_driver(url: str) -> None:
    """Import now what an engine for `url` imports on creation: for PostgreSQL, psycopg and
    SQLAlchemy's dialect for it (~70-100 ms), so that a caller loading its modules with the
    collector paused (`labelport._gc.kept_for_good`) loads these too. A URL that cannot be
    read is left for `make_engine` to refuse."""
    try:
        backend = make_url(url).get_backend_name()
    except exc.ArgumentError:
        return
    if backend in ("postgresql", "postgres"):
        import psycopg  # noqa: F401
        import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401


def _sqlite_engine(url: Any) -> Engine:
    memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {}
    if memory:
        # Every connection to :memory: is a new empty database; share one.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = create_engine(url.set(drivername="sqlite+pysqlite"), **kwargs)
    if not memory:
        _WRITER_TURNS[engine] = WriterTurns(Path(f"{url.database}-writer.lock"))

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


class WriterTurns:
    """Whose turn it is to write an SQLite file, among this machine's labelport processes.

    SQLite has one write lock per database, and a writer that finds it taken waits in SQLite's
    busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms between looks: a worker whose
    write queued behind another's 30 ms one often slept 20 ms more than it had to, several times
    per chunk. Writers first take a POSIX lock on a file beside the database and look again
    every fraction of a millisecond, so the lock changes hands as soon as it is free. POSIX
    locks belong to a process (a forked child does not inherit them) and end with it, so a
    killed writer never leaves one behind; other programs writing the file are still ordered by
    SQLite's own lock. After `SQLITE_BUSY_TIMEOUT_MS` the turn is not waited for any more: the
    write goes on to SQLite's lock, which reports a database that stays busy.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._threads = threading.Lock()  # POSIX locks do not order a process's own threads
        self._fd = -1
        self._pid = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        ours = self._threads.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        fd = self._file() if ours else -1
        held = fd >= 0 and _lock_before(fd, deadline)
        try:
            yield
        finally:
            if held:
                fcntl.lockf(fd, fcntl.LOCK_UN)
            if ours:
                self._threads.release()

    def _file(self) -> int:
        if self._pid != os.getpid():  # a forked child opens its own (it never had the lock)
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                self._fd = -1  # a read-only folder: SQLite's own lock orders the writers
            self._pid = os.getpid()
        return self._fd


def _lock_before(fd: int, deadline: float) -> bool:
    pause = 0.0002
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except (BlockingIOError, PermissionError):
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.001)


_WRITER_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurns] = weakref.WeakKeyDictionary()


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """One transaction on its own connection: committed on success, rolled back on error."""
    turns = _WRITER_TURNS.get(engine) if write else None
    with engine.connect() as conn, turns.turn() if turns else nullcontext():
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
