"""Request and response bodies of the native API, so that /openapi.json says what is really sent.

Response models allow extra keys: the Service may add a field before this file learns its name,
and the schema then still tells the truth (`additionalProperties` is on).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Timestamp = datetime | str | None
# Ids are 64-bit database keys: anything outside that range is bad input (400), not a crash.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Number = Annotated[float, Field(allow_inf_nan=False)]


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ProblemOut(BaseModel):
    code: str
    path: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    problems: list[ProblemOut] | None = None
    problem_count: int | None = None
    warnings: list[ProblemOut] | None = None
    warning_count: int | None = None
    path: str | None = None  # "" for an error about the request body as a whole (413, 415)


class ErrorOut(BaseModel):
    error: ErrorDetail


class ProjectOut(Out):
    id: int
    string_id: str
    name: str
    created_at: Timestamp = None


class KeyIn(BaseModel):
    role: Literal["admin", "editor", "viewer"] = "admin"


class KeyOut(Out):
    client_id: str
    client_secret: str | None = None
    role: str
    project_id: int


class SchemaIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class SchemaOut(Out):
    id: int
    name: str
    is_default: bool


class LabelsIn(BaseModel):
    # 255: what a packet may name (and auto-create), the format's limit (docs/problems.md)
    names: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        min_length=1, max_length=10_000
    )
    schema_id: Id | None = None
    colour: str | None = Field(default=None, max_length=64)


class LabelOut(Out):
    id: int
    name: str
    colour: str | None = None
    colour_is_default: bool | None = None
    schema_id: int | None = None


class LabelColourIn(BaseModel):
    colour: str | None = Field(max_length=64, examples=["#ff8800"])


class OptionOut(Out):
    id: int
    name: str
    display_name: str | None = None
    parent_id: int | None = None


class AttributeGroupIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=32)
    prompt: str = Field(default="", max_length=2000)
    label_ids: list[Id] = Field(default=[], max_length=10_000)
    options: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default=[], max_length=10_000
    )
    min_value: Number | None = None
    max_value: Number | None = None


class AttributeGroupPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = Field(default=None, min_length=1, max_length=32)
    prompt: str | None = Field(default=None, max_length=2000)
    label_ids: list[Id] | None = Field(default=None, max_length=10_000)
    min_value: Number | None = None
    max_value: Number | None = None


class OptionIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    display_name: str | None = Field(default=None, max_length=200)


class AttributeGroupOut(Out):
    id: int
    name: str
    kind: str
    prompt: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    label_ids: list[int] = []
    options: list[OptionOut] = []


class DirectoryIn(BaseModel):
    nickname: str = Field(min_length=1, max_length=200)


class DirectoryOut(Out):
    id: int
    nickname: str
    is_default: bool


class FileOut(Out):
    id: int
    directory_id: int | None = None
    media_type: str | None = None
    original_filename: str | None = None
    sha256: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    fps: float | None = None
    duration: float | None = None
    token_count: int | None = None
    source_url: str | None = None
    parent_file_id: int | None = None
    ordinal: int | None = None
    created_at: Timestamp = None


class FilePage(BaseModel):
    items: list[FileOut]
    total: int
    page: int
    per_page: int


class TokenOut(Out):
    text: str
    start_char: int | None = None
    end_char: int | None = None
    sentence: int | None = None


class ImportOut(Out):
    id: int
    file_id: int | None = None
    directory_id: int | None = None
    status: str
    percent: float | None = None
    source: str | None = None
    media_type: str | None = None
    mode: str | None = None
    counts: dict[str, Any] | None = None
    problem_count: int = 0
    problems: list[ProblemOut] = []
    warning_count: int = 0
    warnings: list[ProblemOut] = []
    idempotency_key: str | None = None
    error: str | None = None
    created_at: Timestamp = None
    started_at: Timestamp = None
    finished_at: Timestamp = None


class DryRunOut(Out):
    status: Literal["dry_run"]
    problem_count: int = 0
    problems: list[ProblemOut] = []
    warning_count: int = 0
    warnings: list[ProblemOut] = []
    counts: dict[str, Any] | None = None


class ImportFound(BaseModel):
    found: ImportOut | None = None


Key = Annotated[str, Field(min_length=1, max_length=255)]
KeyStem = Annotated[str, Field(min_length=1, max_length=254)]


class ImportsFindIn(BaseModel):
    keys: Annotated[list[Key], Field(max_length=10_000)] = []
    stems: Annotated[list[KeyStem], Field(max_length=10_000)] = []


class ImportsFound(BaseModel):
    keys: dict[str, ImportOut]  # key -> its import, for the keys found
    latest: dict[str, ImportOut]  # stem -> the newest import of a key STEM#VERSION
    latest_success: dict[str, ImportOut]  # stem -> the newest of those that succeeded


class BatchLineOut(Out):
    line: int  # from 0, in the order sent (blank lines are not counted)
    import_id: int
    duplicate: bool  # the line repeated an idempotency key: this is the first import's outcome
    status: str
    file_id: int | None = None
    media_type: str | None = None
    idempotency_key: str | None = None
    counts: dict[str, Any] | None = None
    problem_count: int = 0
    problems: list[ProblemOut] = []
    warning_count: int = 0
    error: str | None = None


class BatchOut(Out):
    id: int
    project_id: int
    status: Literal["queued", "running", "success", "partial", "failed"]
    on_error: str
    media: str
    source: str | None = None
    file_count: int
    counts: dict[str, int]  # lines per import status, and `duplicate`
    percent: float
    error: str | None = None
    created_at: Timestamp = None
    finished_at: Timestamp = None
    files: list[BatchLineOut] = []  # one page of per-line outcomes
    files_total: int = 0


class BatchPage(BaseModel):
    batches: list[BatchOut]
    total: int


class ImportPage(BaseModel):
    items: list[ImportOut]
    total: int
    page: int
    per_page: int


class InstanceOut(Out):
    id: int
    file_id: int
    frame: int | None = None
    type: str
    label_id: int | None = None
    label_name: str | None = None
    sequence_id: int | None = None
    number: int | None = None
    machine_made: bool | None = None
    model_id: int | None = None
    model_run_id: int | None = None
    score: float | None = None
    external_id: str | int | None = None
    attribute_groups: dict[str, Any] | None = None


class InstancePage(BaseModel):
    items: list[InstanceOut]
    total: int
    page: int
    per_page: int


class SequenceOut(Out):
    id: int
    file_id: int
    label_id: int | None = None
    label_name: str | None = None
    number: int
    instance_count: int | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    keyframes: list[int] = []
