"""Media files."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from labelport.store import tables as t
from labelport.store.base import StoreBase
from labelport.store.coltypes import utcnow
from labelport.store.errors import NotFound
from labelport.store.records import File, from_row

# What probing may fill in or correct after the file row exists.
FILE_FACTS = frozenset(
    {
        "media_type",
        "original_filename",
        "blob_key",
        "sha256",
        "size",
        "width",
        "height",
        "frame_count",
        "fps",
        "duration",
        "tokens",
        "token_count",
        "point_count",
        "bounds",
        "source_url",
    }
)


def _check_facts(facts: dict[str, Any]) -> None:
    unknown = set(facts) - FILE_FACTS
    if unknown:
        raise TypeError(f"not file facts: {', '.join(sorted(unknown))}")


class FilesMixin(StoreBase):
    def create_file(
        self,
        project_id: int,
        media_type: str,
        *,
        directory_id: int | None = None,
        parent_file_id: int | None = None,
        ordinal: int | None = None,
        **facts: Any,
    ) -> File:
        """A file in `directory_id` (default: the project's default directory).

        `facts` are any of FILE_FACTS; `tokens` is a JSON-able list and sets token_count
        unless that is given too.
        """
        _check_facts(facts)
        if facts.get("tokens") is not None and "token_count" not in facts:
            facts["token_count"] = len(facts["tokens"])
        with self._write() as conn:
            directory_id = self._directory_in(conn, project_id, directory_id)
            row = conn.execute(
                insert(t.file)
                .values(
                    project_id=project_id,
                    directory_id=directory_id,
                    media_type=media_type,
                    parent_file_id=parent_file_id,
                    ordinal=ordinal,
                    created_at=utcnow(),
                    **facts,
                )
                .returning(*t.file.c)
            ).one()
        return from_row(File, row)

    def _directory_in(self, conn: Connection, project_id: int, directory_id: int | None) -> int:
        d = t.directory
        q = select(d.c.id).where(d.c.project_id == project_id)
        q = (
            q.where(d.c.is_default.is_(True))
            if directory_id is None
            else q.where(d.c.id == directory_id)
        )
        found = conn.execute(q).scalar()
        if found is None:
            what = "default directory" if directory_id is None else f"directory {directory_id}"
            raise NotFound(f"{what} of project {project_id} not found")
        return found

    def get_file(self, file_id: int, project_id: int | None = None) -> File:
        where = [t.file.c.id == file_id]
        if project_id is not None:
            where.append(t.file.c.project_id == project_id)
        with self._read() as conn:
            row = conn.execute(select(t.file).where(*where)).first()
        if row is None:
            raise NotFound(f"file {file_id} not found")
        return from_row(File, row)

    def existing_file_ids(self, project_id: int, file_ids: list[int]) -> set[int]:
        f = t.file
        found: set[int] = set()
        with self._read() as conn:
            for start in range(0, len(file_ids), 500):
                chunk = file_ids[start : start + 500]
                found.update(
                    conn.execute(
                        select(f.c.id).where(f.c.project_id == project_id, f.c.id.in_(chunk))
                    ).scalars()
                )
        return found

    def update_file(self, file_id: int, **facts: Any) -> File:
        """Set media facts (after fetching / probing); returns the updated file."""
        _check_facts(facts)
        if facts.get("tokens") is not None and "token_count" not in facts:
            facts["token_count"] = len(facts["tokens"])
        with self._write() as conn:
            row = conn.execute(
                update(t.file).where(t.file.c.id == file_id).values(**facts).returning(*t.file.c)
            ).first()
        if row is None:
            raise NotFound(f"file {file_id} not found")
        return from_row(File, row)

    def list_files(
        self,
        project_id: int,
        directory_id: int | None = None,
        *,
        media_type: str | None = None,
        parent_file_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[File]:
        """Oldest first. Children of compound files are listed only when asked by parent."""
        q = self._files_query(project_id, directory_id, media_type, parent_file_id)
        q = q.order_by(t.file.c.ordinal, t.file.c.id).limit(limit).offset(offset)
        with self._read() as conn:
            return [from_row(File, r) for r in conn.execute(q)]

    def count_files(
        self, project_id: int, directory_id: int | None = None, *, media_type: str | None = None
    ) -> int:
        q = self._files_query(project_id, directory_id, media_type, None)
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()

    def _files_query(
        self,
        project_id: int,
        directory_id: int | None,
        media_type: str | None,
        parent_file_id: int | None,
    ) -> Any:
        f = t.file
        q = select(f).where(f.c.project_id == project_id)
        if directory_id is not None:
            q = q.where(f.c.directory_id == directory_id)
        if media_type is not None:
            q = q.where(f.c.media_type == media_type)
        if parent_file_id is None:
            q = q.where(f.c.parent_file_id.is_(None))
        else:
            q = q.where(f.c.parent_file_id == parent_file_id)
        return q
