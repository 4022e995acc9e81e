"""Opening a database: migrations reach head, match tables.py, and re-opening is harmless."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from labelport.store import Store, tables
from labelport.store.database import MIGRATIONS_DIR, alembic_config
from labelport.store.tables import metadata


def test_migrations_create_exactly_the_tables_of_tables_py(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert ctx.get_current_revision() == head


def test_indexes_have_the_options_tables_py_gives_them_on_this_database(store: Store) -> None:
    """What Alembic's comparison does not look at: a partial index's WHERE, PostgreSQL's
    operator classes. The migrations must have made each index with them."""
    dialect = store.dialect
    with store.engine.connect() as conn:
        if dialect == "sqlite":
            found = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'index'")
        else:
            found = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            )
        definitions = [" ".join(str(d).split()) for (d,) in found if d]
    checked = 0
    for index, options in tables.dialect_options():
        for key, value in options.items():
            if not key.startswith(f"{dialect}_"):
                continue
            assert index.dialect_kwargs[key] is value  # given when the engine was made
            columns = [c.name for c in index.columns]
            on = [d for d in definitions if " ON " in d and all(c in d for c in columns)]
            if key.endswith("_where"):
                wanted = f"WHERE {value}"
                assert any(wanted in d.replace("(", "").replace(")", "") for d in on), (key, on)
            else:  # postgresql_ops
                for column, op in value.items():
                    assert any(f"{column} {op}" in d for d in on), (key, on)
            checked += 1
    assert checked >= 3


def test_importing_the_command_loads_no_database_dialect() -> None:
    """Each dialect's SQLAlchemy package comes in with an engine of it: PostgreSQL's took
    ~50 ms of every CLI start, on SQLite too."""
    code = (
        "import sys, labelport.cli, labelport.service; "
        "print(' '.join(m for m in sys.modules if m.startswith('sqlalchemy.dialects.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == ""


def test_reopening_and_concurrent_opening_keep_the_data(database: Any) -> None:
    with database.open() as first:
        first.create_project("kept")
    errors: list[BaseException] = []

    def reopen() -> None:
        try:
            database.open().close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reopen) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    with database.open() as again:
        assert again.get_project_by_string_id("kept").name == "kept"
        assert again.dialect == database.dialect


def test_sqlite_pragmas(tmp_path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'x.db'}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0


def test_in_memory_sqlite_works(tmp_path) -> None:
    with Store.open("sqlite://") as store:
        assert store.create_project("p").id == 1


def test_unsupported_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        Store.open("mysql://localhost/x")
    with pytest.raises(ValueError, match="PostgreSQL option"):
        Store.open("sqlite://", schema="s")


def test_migration_files_are_package_data() -> None:
    """A wheel must carry what Alembic needs: the versions package and the .mako template."""
    assert (MIGRATIONS_DIR / "script.py.mako").exists()
    assert (MIGRATIONS_DIR / "versions" / "__init__.py").exists()
    assert (MIGRATIONS_DIR / "__init__.py").exists()
