"""`Store`: the one object the rest of labelport talks to for persistence."""

from __future__ import annotations

from types import TracebackType
from typing import Literal, Self

from sqlalchemy import Engine

from labelport.store.annotations import AnnotationsMixin
from labelport.store.batches import BatchesMixin
from labelport.store.database import make_engine, migrate
from labelport.store.files import FilesMixin
from labelport.store.imports import ImportsMixin
from labelport.store.projects import ProjectsMixin
from labelport.store.sessions import SessionsMixin
from labelport.store.users import UsersMixin


class Store(
    ProjectsMixin,
    FilesMixin,
    ImportsMixin,
    BatchesMixin,
    AnnotationsMixin,
    SessionsMixin,
    UsersMixin,
):
    """Every method runs in its own transaction and returns records from `store.records`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        name = engine.dialect.name
        if name not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported dialect {name}")
        self.dialect: Literal["sqlite", "postgresql"] = name  # type: ignore[assignment]

    @classmethod
    def open(cls, url: str, *, schema: str | None = None, migrate_to_head: bool = True) -> Self:
        """Open `sqlite:///path.db` or `postgresql://user@host:port/db` and migrate it.

        `schema` (PostgreSQL): keep every table in this schema (created if missing) by setting
        the connections' search_path. A search_path given in the URL
        (`?options=-csearch_path%3Dname`) works as well, but then the schema must exist.
        """
        engine = make_engine(url, schema)
        try:
            if migrate_to_head:
                migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
