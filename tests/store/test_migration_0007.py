"""Migration 0007 on a database with sessions in it: web_session is rebuilt (SQLite) or altered
(PostgreSQL) without losing them; down and up again keeps link and key sessions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alembic import command
from sqlalchemy import insert, select

from labelport.store import tables as t
from labelport.store.coltypes import utcnow
from labelport.store.database import alembic_config, transaction


def _to(store: Any, revision: str, *, down: bool) -> None:
    cfg = alembic_config()
    with transaction(store.engine, write=True) as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_sessions_survive_0007_down_and_up(database: Any) -> None:
    store = database.open()
    try:
        project = store.create_project("kept")
        user = store.create_user("kim@example.com", "scrypt$2$1$1$AA==$AA==")
        now = utcnow()
        later = now + timedelta(days=1)
        common = {"csrf": "c", "created_at": now, "expires_at": later, "revoked_at": None}
        with store.engine.begin() as conn:
            conn.execute(
                insert(t.web_session).values(
                    id="link",
                    project_id=None,
                    all_projects=True,
                    principal="sign-in link",
                    **common,
                )
            )
            conn.execute(
                insert(t.web_session).values(
                    id="key",
                    project_id=project.id,
                    all_projects=False,
                    principal="lp_x",
                    role="editor",
                    **common,
                )
            )
            conn.execute(
                insert(t.web_session).values(
                    id="user",
                    project_id=None,
                    all_projects=False,
                    principal="kim@example.com",
                    user_id=user.id,
                    **common,
                )
            )
        _to(store, "0006", down=True)
        _to(store, "head", down=False)
        with store.engine.connect() as conn:
            kept = dict(conn.execute(select(t.web_session.c.id, t.web_session.c.project_id)).all())
        # An account's session cannot outlive its account's table: dropped on the way down.
        assert kept == {"link": None, "key": project.id}
        assert store.get_web_session("link") is not None
        # The scope rule holds after the rebuild: a user's session sees no project by itself.
        assert store.create_web_session(
            "again", project_id=None, principal="kim", csrf="c", expires_at=later,
            user_id=store.create_user("kim@example.com", "x").id,
        ).all_projects is False  # fmt: skip
    finally:
        store.close()
