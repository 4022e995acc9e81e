"""Request bodies of the native API, and the error answer's shape (api/errors.py builds it).

What the routes answer otherwise is declared once, in `labelport.shapes`, for the Service too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from labelport.shapes import ProblemOut

# Ids are 64-bit database keys: anything outside that range is bad input (400), not a crash.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Number = Annotated[float, Field(allow_inf_nan=False)]


class ErrorDetail(BaseModel):
    code: str
    message: str
    problems: list[ProblemOut] | None = None
    problem_count: int | None = None
    warnings: list[ProblemOut] | None = None
    warning_count: int | None = None
    # What the capped lists (the first 1,000) leave out, on a rejected packet:
    problems_listed_at_most: int | None = None
    problems_not_listed: int | None = None
    problem_counts_by_code: dict[str, int] | None = None
    warnings_not_listed: int | None = None
    warning_counts_by_code: dict[str, int] | None = None
    import_id: int | None = None  # the `rejected` record a refused packet left, when kept
    path: str | None = None  # "" for an error about the request body as a whole (413, 415)


class ErrorOut(BaseModel):
    error: ErrorDetail


class KeyIn(BaseModel):
    role: Literal["admin", "editor", "viewer"] = "admin"


class SchemaIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class LabelsIn(BaseModel):
    # 255: what a packet may name (and auto-create), the format's limit (docs/problems.md)
    names: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        min_length=1, max_length=10_000
    )
    schema_id: Id | None = None
    colour: str | None = Field(default=None, max_length=64)


class LabelColourIn(BaseModel):
    colour: str | None = Field(max_length=64, examples=["#ff8800"])


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


class DirectoryIn(BaseModel):
    nickname: str = Field(min_length=1, max_length=200)


Key = Annotated[str, Field(min_length=1, max_length=255)]
KeyStem = Annotated[str, Field(min_length=1, max_length=254)]


class ImportsFindIn(BaseModel):
    keys: Annotated[list[Key], Field(max_length=10_000)] = []
    stems: Annotated[list[KeyStem], Field(max_length=10_000)] = []
