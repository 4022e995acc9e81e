"""What the API's routes share: the ids a request names, and the error answer's shape
(api/errors.py builds it).

A request body's model is declared beside its route (api/native.py, api/evaluate.py); what the
routes answer otherwise is declared once, in `labelport.shapes`, for the Service too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from labelport.shapes import ProblemOut

# Ids are 64-bit database keys: anything outside that range is bad input (400), not a crash.
MAX_ID = 2**63 - 1
Number = Annotated[float, Field(allow_inf_nan=False)]

# The things of a project a request may name by id.
Kind = Literal[
    "label", "schema", "group", "directory", "file", "import", "batch", "run", "evaluation"
]


def id_of(kind: Kind) -> JsonDict:
    """What a request body's field names, for its schema (`json_schema_extra`): /openapi.json
    says it, and tests/api/test_api_isolation.py sends another project's id of that kind there
    and expects the answer an id that exists nowhere gets."""
    return {"x-id-of": kind}


LabelId = Annotated[int, Field(ge=1, le=MAX_ID, json_schema_extra=id_of("label"))]
SchemaId = Annotated[int, Field(ge=1, le=MAX_ID, json_schema_extra=id_of("schema"))]


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
