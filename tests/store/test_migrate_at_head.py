"""Opening a database already at the newest revision reads its version and skips Alembic."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from sqlalchemy import text

from labelport.store import Store
from labelport.store.database import alembic_config, at_head, script_heads, transaction


def test_script_heads_are_alembics() -> None:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert script_heads() == frozenset(heads)


def test_a_database_at_head_opens_without_alembic(database: Any) -> None:
    Store.open(database.url).close()  # a new database: migrated by Alembic
    code = (
        "import sys\n"
        "from labelport.store import Store\n"
        f"Store.open({database.url!r}).close()\n"
        "print('alembic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_another_revision_is_not_head(database: Any) -> None:
    store = Store.open(database.url)
    try:
        assert at_head(store.engine)
        with transaction(store.engine, write=True) as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        assert not at_head(store.engine)
        with transaction(store.engine, write=True) as conn:
            conn.execute(text("DELETE FROM alembic_version"))
        assert not at_head(store.engine)
        with transaction(store.engine, write=True) as conn:
            conn.execute(text("DROP TABLE alembic_version"))
        assert not at_head(store.engine)  # no table at all: a new database
    finally:
        store.close()
