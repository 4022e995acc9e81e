"""What read methods return: small frozen dataclasses, one per table, JSON columns decoded."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Row

R = TypeVar("R")


def from_row(cls: type[R], row: Row[Any] | Any, **extra: Any) -> R:
    """Build `cls` from a result row, taking the columns `cls` has fields for."""
    mapping: Any = row._mapping if hasattr(row, "_mapping") else row
    names = _field_names(cls)  # type: ignore[arg-type]  # a class hashes
    if extra:
        return cls(*[extra[n] if n in extra else mapping[n] for n in names])
    # Positional, in field order: a claim builds 200 Imports of 31 fields at once.
    return cls(*map(mapping.__getitem__, names))


@cache
def _field_names(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    string_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    client_id: str
    secret_hash: str
    role: str
    project_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LabelSchema:
    id: int
    project_id: int
    name: str
    is_default: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Label:
    id: int
    schema_id: int
    project_id: int
    name: str
    colour: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AttributeOption:
    id: int
    group_id: int
    name: str
    display_name: str | None
    parent_id: int | None
    ordinal: int


@dataclass(frozen=True, slots=True)
class AttributeGroup:
    id: int
    project_id: int
    schema_id: int
    name: str
    kind: str
    prompt: str | None
    min_value: float | None
    max_value: float | None
    is_root: bool
    created_at: datetime
    label_ids: tuple[int, ...]
    options: tuple[AttributeOption, ...]


@dataclass(frozen=True, slots=True)
class Directory:
    id: int
    project_id: int
    nickname: str
    is_default: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class File:
    id: int
    project_id: int
    directory_id: int
    media_type: str
    original_filename: str | None
    blob_key: str | None
    sha256: str | None
    size: int | None
    width: int | None
    height: int | None
    frame_count: int | None
    fps: float | None
    duration: float | None
    tokens: list[Any] | None
    token_count: int | None
    point_count: int | None
    bounds: Any
    parent_file_id: int | None
    ordinal: int | None
    source_url: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Import:
    id: int
    project_id: int
    file_id: int | None
    directory_id: int | None
    source: str | None
    media_type: str | None
    mode: str
    status: str
    percent: float
    counts: dict[str, Any] | None
    problems: list[Any] | None
    warnings: list[Any] | None
    problem_count: int
    idempotency_key: str | None
    packet_blob_key: str | None
    attempts: int
    claimed_by: str | None
    claimed_at: datetime | None
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    batch_id: int | None = None
    batch_line: int | None = None
    packet_offset: int | None = None
    packet_length: int | None = None
    media_name: str | None = None  # the media's file name as sent
    media_url: str | None = None  # the media's URL when it came by one
    rejected_key: str | None = None  # a rejected packet's key (not reserved)


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    project_id: int
    status: str
    on_error: str
    media: str
    source: str | None
    file_count: int
    body_blob_key: str | None
    duplicates: dict[str, int] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Model:
    id: int
    project_id: int
    reference: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ModelRun:
    id: int
    model_id: int
    reference: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Sequence:
    id: int
    project_id: int
    file_id: int
    label_id: int
    number: int
    instance_count: int
    first_frame: int | None
    last_frame: int | None
    keyframes: list[int] | None


@dataclass(frozen=True, slots=True)
class Instance:
    id: int
    project_id: int
    file_id: int
    import_id: int | None
    frame: int | None
    label_id: int | None
    sequence_id: int | None
    type: str
    machine_made: bool
    model_id: int | None
    model_run_id: int | None
    score: float | None
    x_min: float | None
    y_min: float | None
    x_max: float | None
    y_max: float | None
    geometry: Any  # decoded JSON
    attributes: Any  # decoded JSON
    external_id: str | None
    content_hash: str

    @classmethod
    def from_row(cls, row: Row[Any]) -> Instance:
        m = row._mapping
        return from_row(
            cls,
            row,
            machine_made=bool(m["machine_made"]),
            geometry=None if m["geometry"] is None else json.loads(m["geometry"]),
            attributes=None if m["attributes"] is None else json.loads(m["attributes"]),
        )


@dataclass(frozen=True, slots=True)
class WebSession:
    """A /ui session; `id` is the SHA-256 (hex) of its cookie's token, never the token."""

    id: str
    project_id: int | None
    all_projects: bool
    principal: str
    csrf: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    user_id: int | None = None  # a user account's session (its memberships say what it sees)
    role: str | None = None  # a key's session: the key's role
