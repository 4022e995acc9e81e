"""Migration 0011 on a database with imports in it: the keys' two indexes become one unique index
(SQLite rebuilds the table) without losing an import, and a key still holds one import; down
and up again keep them."""

from __future__ import annotations

from typing import Any

from alembic import command

from labelport.store.database import alembic_config, transaction


def _to(store: Any, revision: str, *, down: bool) -> None:
    cfg = alembic_config()
    with transaction(store.engine, write=True) as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _key_indexes(store: Any) -> list[str]:
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            rows = conn.exec_driver_sql("PRAGMA index_list('import')").all()
            names = [r[1] for r in rows]
            columns = {
                n: [c[2] for c in conn.exec_driver_sql(f"PRAGMA index_info('{n}')").all()]
                for n in names
            }
        else:
            rows = conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE schemaname = current_schema() AND tablename = 'import'"
            ).all()
            columns = {n: ["idempotency_key"] if "idempotency_key" in d else [] for n, d in rows}
    return sorted(n for n, cols in columns.items() if "idempotency_key" in cols)


def test_imports_and_their_keys_survive_0011_down_and_up(database: Any) -> None:
    store = database.open()
    try:
        project = store.create_project("kept").id
        first, _ = store.create_import(project, source="test", idempotency_key="a#1")
        store.create_import(project, source="test", idempotency_key="a#2")
        assert len(_key_indexes(store)) == 1  # at head: one index
        _to(store, "0010", down=True)
        assert len(_key_indexes(store)) == 2
        _to(store, "head", down=False)
        assert _key_indexes(store) == ["ix_import_project_id_idempotency_key"]
        assert store.get_import(first.id).idempotency_key == "a#1"
        assert store.find_latest_import_by_key_stem(project, "a") is not None
        again, created = store.create_import(project, source="test", idempotency_key="a#1")
        assert (again.id, created) == (first.id, False)  # the key still holds one import
    finally:
        store.close()
