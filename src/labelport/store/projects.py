"""Projects and what hangs off them directly: api keys, label schemas, labels, attribute groups,
directories."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection, func, insert, select, update

from labelport.store import tables as t
from labelport.store.base import StoreBase
from labelport.store.coltypes import utcnow
from labelport.store.errors import NotFound
from labelport.store.records import (
    ApiKey,
    AttributeGroup,
    AttributeOption,
    Directory,
    Label,
    LabelSchema,
    Project,
    from_row,
)

_Record = TypeVar("_Record")
DEFAULT_SCHEMA_NAME = "default"
DEFAULT_DIRECTORY_NICKNAME = "default"


def _one(conn: Connection, table: Any, cls: type[_Record], what: str, *where: Any) -> _Record:
    row = conn.execute(select(table).where(*where)).first()
    if row is None:
        raise NotFound(f"{what} not found")
    return from_row(cls, row)


class ProjectsMixin(StoreBase):
    # -- projects -------------------------------------------------------------------------

    def create_project(self, string_id: str, name: str | None = None) -> Project:
        """A project with its default label schema and default directory."""
        now = utcnow()
        with self._write() as conn:
            row = conn.execute(
                insert(t.project)
                .values(string_id=string_id, name=name or string_id, created_at=now)
                .returning(*t.project.c)
            ).one()
            conn.execute(
                insert(t.label_schema).values(
                    project_id=row.id, name=DEFAULT_SCHEMA_NAME, is_default=True, created_at=now
                )
            )
            conn.execute(
                insert(t.directory).values(
                    project_id=row.id,
                    nickname=DEFAULT_DIRECTORY_NICKNAME,
                    is_default=True,
                    created_at=now,
                )
            )
        return from_row(Project, row)

    def get_project(self, project_id: int) -> Project:
        with self._read() as conn:
            return _one(
                conn, t.project, Project, f"project {project_id}", t.project.c.id == project_id
            )

    def get_project_by_string_id(self, string_id: str) -> Project:
        with self._read() as conn:
            return _one(
                conn,
                t.project,
                Project,
                f"project {string_id!r}",
                t.project.c.string_id == string_id,
            )

    def list_projects(self, limit: int = 100, offset: int = 0) -> list[Project]:
        q = select(t.project).order_by(t.project.c.id).limit(limit).offset(offset)
        with self._read() as conn:
            return [from_row(Project, r) for r in conn.execute(q)]

    # -- api keys -------------------------------------------------------------------------

    def create_api_key(
        self, project_id: int, client_id: str, secret_hash: str, role: str = "editor"
    ) -> ApiKey:
        """Stores the hash it is given; hashing the secret is the caller's job."""
        if role not in t.ROLES:
            raise ValueError(f"role {role!r}: one of {', '.join(t.ROLES)}")
        with self._write() as conn:
            row = conn.execute(
                insert(t.api_key)
                .values(
                    project_id=project_id,
                    client_id=client_id,
                    secret_hash=secret_hash,
                    role=role,
                    created_at=utcnow(),
                )
                .returning(*t.api_key.c)
            ).one()
        return from_row(ApiKey, row)

    def get_api_key(self, client_id: str) -> ApiKey | None:
        with self._read() as conn:
            row = conn.execute(select(t.api_key).where(t.api_key.c.client_id == client_id)).first()
        return None if row is None else from_row(ApiKey, row)

    def list_api_keys(self, project_id: int) -> list[ApiKey]:
        """The project's keys, oldest first (their hashes too: callers show only the rest)."""
        q = select(t.api_key).where(t.api_key.c.project_id == project_id).order_by(t.api_key.c.id)
        with self._read() as conn:
            return [from_row(ApiKey, r) for r in conn.execute(q)]

    # -- label schemas and labels ---------------------------------------------------------

    def create_label_schema(self, project_id: int, name: str) -> LabelSchema:
        with self._write() as conn:
            row = conn.execute(
                insert(t.label_schema)
                .values(project_id=project_id, name=name, is_default=False, created_at=utcnow())
                .returning(*t.label_schema.c)
            ).one()
        return from_row(LabelSchema, row)

    def list_label_schemas(self, project_id: int) -> list[LabelSchema]:
        """The default schema first, then by creation."""
        s = t.label_schema
        q = select(s).where(s.c.project_id == project_id).order_by(s.c.is_default.desc(), s.c.id)
        with self._read() as conn:
            return [from_row(LabelSchema, r) for r in conn.execute(q)]

    def create_labels(
        self,
        project_id: int,
        labels: Iterable[str | Mapping[str, Any]],
        schema_id: int | None = None,
    ) -> list[Label]:
        """Labels given as names or {"name", "colour"}; all or none (Conflict on a taken name)."""
        now = utcnow()
        values = []
        for item in labels:
            spec = {"name": item} if isinstance(item, str) else dict(item)
            values.append(
                {
                    "name": spec["name"],
                    "colour": spec.get("colour"),
                    "project_id": project_id,
                    "created_at": now,
                }
            )
        if not values:
            return []
        with self._write() as conn:
            schema_id = self._schema_of(conn, project_id, schema_id)
            for v in values:
                v["schema_id"] = schema_id
            rows = conn.execute(
                insert(t.label).returning(*t.label.c, sort_by_parameter_order=True), values
            ).all()
        return [from_row(Label, r) for r in rows]

    def get_or_create_labels(self, project_id: int, names: Iterable[str]) -> list[Label]:
        """Labels of the default schema by name, created where missing; safe under races."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return []
        with self._write() as conn:
            schema_id = self._schema_of(conn, project_id, None)
            now = utcnow()
            conn.execute(
                _insert_ignoring(conn, t.label, ["schema_id", "name"]),
                [
                    {"name": n, "project_id": project_id, "schema_id": schema_id, "created_at": now}
                    for n in wanted
                ],
            )
            rows = conn.execute(
                select(t.label).where(t.label.c.schema_id == schema_id, t.label.c.name.in_(wanted))
            ).all()
        by_name = {r.name: from_row(Label, r) for r in rows}
        return [by_name[n] for n in wanted]

    def list_labels(self, project_id: int, schema_id: int | None = None) -> list[Label]:
        q = select(t.label).where(t.label.c.project_id == project_id)
        if schema_id is not None:
            q = q.where(t.label.c.schema_id == schema_id)
        with self._read() as conn:
            return [from_row(Label, r) for r in conn.execute(q.order_by(t.label.c.id))]

    def get_label(self, label_id: int) -> Label:
        with self._read() as conn:
            return _one(conn, t.label, Label, f"label {label_id}", t.label.c.id == label_id)

    def label_index(self, project_id: int, label_id: int) -> int:
        """The label's place (0-based) among its project's labels by id: its default colour."""
        lab = t.label
        q = select(func.count()).where(lab.c.project_id == project_id, lab.c.id < label_id)
        with self._read() as conn:
            return int(conn.execute(q).scalar() or 0)

    def set_label_colour(self, project_id: int, label_id: int, colour: str | None) -> Label:
        """Sets (None: clears, back to the default palette) a label's colour; the caller checks
        its form (`palette.normalise`)."""
        lab = t.label
        with self._write() as conn:
            row = conn.execute(
                update(lab)
                .where(lab.c.id == label_id, lab.c.project_id == project_id)
                .values(colour=colour)
                .returning(*lab.c)
            ).first()
        if row is None:
            raise NotFound(f"label {label_id} not found")
        return from_row(Label, row)

    def _schema_of(self, conn: Connection, project_id: int, schema_id: int | None) -> int:
        s = t.label_schema
        q = select(s.c.id).where(s.c.project_id == project_id)
        q = q.where(s.c.is_default.is_(True)) if schema_id is None else q.where(s.c.id == schema_id)
        found: int | None = conn.execute(q).scalar()  # the id column's
        if found is None:
            what = "default label schema" if schema_id is None else f"label schema {schema_id}"
            raise NotFound(f"{what} of project {project_id} not found")
        return found

    # -- attribute groups -----------------------------------------------------------------

    def create_attribute_group(
        self,
        project_id: int,
        name: str,
        kind: str,
        *,
        label_ids: Iterable[int] = (),
        options: Iterable[str | Mapping[str, Any]] = (),
        prompt: str | None = None,
        min_value: float | None = None,
        max_value: float | None = None,
        is_root: bool = False,
        schema_id: int | None = None,
    ) -> AttributeGroup:
        """A group, the labels it applies to, and its options.

        Options are names or {"name", "display_name", "children": [...]}; children nest for
        `tree` groups.
        """
        if kind not in t.ATTRIBUTE_KINDS:
            raise ValueError(f"kind {kind!r}: one of {', '.join(t.ATTRIBUTE_KINDS)}")
        label_ids = list(dict.fromkeys(label_ids))
        with self._write() as conn:
            schema_id = self._schema_of(conn, project_id, schema_id)
            if label_ids:
                found = conn.execute(
                    select(func.count()).where(
                        t.label.c.id.in_(label_ids), t.label.c.project_id == project_id
                    )
                ).scalar()
                if found != len(label_ids):
                    raise NotFound(f"some of labels {label_ids} are not in project {project_id}")
            group_id = conn.execute(
                insert(t.attribute_group)
                .values(
                    project_id=project_id,
                    schema_id=schema_id,
                    name=name,
                    kind=kind,
                    prompt=prompt,
                    min_value=min_value,
                    max_value=max_value,
                    is_root=is_root,
                    created_at=utcnow(),
                )
                .returning(t.attribute_group.c.id)
            ).scalar_one()
            if label_ids:
                conn.execute(
                    insert(t.attribute_group_label),
                    [{"group_id": group_id, "label_id": lid} for lid in label_ids],
                )
            self._insert_options(conn, group_id, list(options), parent_id=None)
            return self._groups(conn, project_id, group_id)[0]

    def update_attribute_group(
        self, project_id: int, group_id: int, **changes: Any
    ) -> AttributeGroup:
        """Change name, prompt, kind, min/max, is_root, or the labels it applies to (label_ids)."""
        allowed = {"name", "prompt", "kind", "min_value", "max_value", "is_root"}
        unknown = set(changes) - allowed - {"label_ids"}
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} of an attribute group")
        if "kind" in changes and changes["kind"] not in t.ATTRIBUTE_KINDS:
            raise ValueError(f"kind {changes['kind']!r}: one of {', '.join(t.ATTRIBUTE_KINDS)}")
        g = t.attribute_group
        with self._write() as conn:
            self._groups_or_missing(conn, project_id, group_id)
            values = {k: v for k, v in changes.items() if k in allowed}
            if values:
                conn.execute(update(g).where(g.c.id == group_id).values(**values))
            if changes.get("label_ids") is not None:
                label_ids = list(dict.fromkeys(changes["label_ids"]))
                found = conn.execute(
                    select(func.count()).where(
                        t.label.c.id.in_(label_ids), t.label.c.project_id == project_id
                    )
                ).scalar()
                if found != len(label_ids):
                    raise NotFound(f"some of labels {label_ids} are not in project {project_id}")
                gl = t.attribute_group_label
                conn.execute(gl.delete().where(gl.c.group_id == group_id))
                if label_ids:
                    conn.execute(
                        insert(gl), [{"group_id": group_id, "label_id": i} for i in label_ids]
                    )
            return self._groups(conn, project_id, group_id)[0]

    def add_attribute_option(
        self, project_id: int, group_id: int, name: str, display_name: str | None = None
    ) -> AttributeOption:
        o = t.attribute_option
        with self._write() as conn:
            self._groups_or_missing(conn, project_id, group_id)
            ordinal = conn.execute(
                select(func.count()).where(o.c.group_id == group_id, o.c.parent_id.is_(None))
            ).scalar()
            row = conn.execute(
                insert(o)
                .values(group_id=group_id, name=name, display_name=display_name, ordinal=ordinal)
                .returning(*o.c)
            ).one()
        return from_row(AttributeOption, row)

    def _groups_or_missing(self, conn: Connection, project_id: int, group_id: int) -> None:
        g = t.attribute_group
        found = conn.execute(
            select(g.c.id).where(g.c.id == group_id, g.c.project_id == project_id)
        ).scalar()
        if found is None:
            raise NotFound(f"attribute group {group_id} of project {project_id} not found")

    def _insert_options(
        self,
        conn: Connection,
        group_id: int,
        options: list[str | Mapping[str, Any]],
        parent_id: int | None,
    ) -> None:
        for ordinal, item in enumerate(options):
            spec: Mapping[str, Any] = {"name": item} if isinstance(item, str) else item
            option_id = conn.execute(
                insert(t.attribute_option)
                .values(
                    group_id=group_id,
                    name=spec["name"],
                    display_name=spec.get("display_name"),
                    parent_id=parent_id,
                    ordinal=ordinal,
                )
                .returning(t.attribute_option.c.id)
            ).scalar_one()
            if spec.get("children"):
                self._insert_options(conn, group_id, list(spec["children"]), option_id)

    def list_attribute_groups(self, project_id: int) -> list[AttributeGroup]:
        """Every group of the project with its options and label ids (three queries in all)."""
        with self._read() as conn:
            return self._groups(conn, project_id, None)

    def _groups(
        self, conn: Connection, project_id: int, group_id: int | None
    ) -> list[AttributeGroup]:
        g, o, gl = t.attribute_group, t.attribute_option, t.attribute_group_label
        q = select(g).where(g.c.project_id == project_id)
        if group_id is not None:
            q = q.where(g.c.id == group_id)
        groups = conn.execute(q.order_by(g.c.id)).all()
        ids = [r.id for r in groups]
        if not ids:
            return []
        options: dict[int, list[AttributeOption]] = {i: [] for i in ids}
        for r in conn.execute(
            select(o)
            .where(o.c.group_id.in_(ids))
            .order_by(o.c.group_id, o.c.parent_id, o.c.ordinal, o.c.id)
        ):
            options[r.group_id].append(from_row(AttributeOption, r))
        labels: dict[int, list[int]] = {i: [] for i in ids}
        for gid, lid in conn.execute(
            select(gl.c.group_id, gl.c.label_id)
            .where(gl.c.group_id.in_(ids))
            .order_by(gl.c.label_id)
        ):
            labels[gid].append(lid)
        return [
            from_row(
                AttributeGroup,
                r,
                label_ids=tuple(labels[r.id]),
                options=tuple(options[r.id]),
                is_root=bool(r.is_root),
            )
            for r in groups
        ]

    # -- directories ----------------------------------------------------------------------

    def create_directory(self, project_id: int, nickname: str) -> Directory:
        with self._write() as conn:
            row = conn.execute(
                insert(t.directory)
                .values(
                    project_id=project_id, nickname=nickname, is_default=False, created_at=utcnow()
                )
                .returning(*t.directory.c)
            ).one()
        return from_row(Directory, row)

    def list_directories(self, project_id: int) -> list[Directory]:
        d = t.directory
        q = select(d).where(d.c.project_id == project_id).order_by(d.c.is_default.desc(), d.c.id)
        with self._read() as conn:
            return [from_row(Directory, r) for r in conn.execute(q)]

    def get_directory(self, directory_id: int, project_id: int | None = None) -> Directory:
        d = t.directory
        where = [d.c.id == directory_id]
        if project_id is not None:
            where.append(d.c.project_id == project_id)
        with self._read() as conn:
            return _one(conn, d, Directory, f"directory {directory_id}", *where)

    def default_directory(self, project_id: int) -> Directory:
        d = t.directory
        with self._read() as conn:
            return _one(
                conn,
                d,
                Directory,
                f"default directory of project {project_id}",
                d.c.project_id == project_id,
                d.c.is_default.is_(True),
            )


def _insert_ignoring(conn: Connection, table: Any, conflict_columns: list[str]) -> Any:
    """INSERT that skips rows whose unique key exists (race-safe get-or-create)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    return dialect_insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
