"""Media files."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from labelport.store import tables as t
from labelport.store.base import StoreBase
from labelport.store.errors import NotFound
from labelport.store.records import File, from_row


class FilesMixin(StoreBase):
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
