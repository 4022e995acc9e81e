"""Evaluations of model runs: /api/v1/projects/{project_string_id}/evaluations/...

Computing one runs in the request (a million predictions take seconds) and stores it; reading
one says whether an import into its files came since (`stale`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from labelport import shapes
from labelport.api import models as m
from labelport.api.native import ERROR_RESPONSES, Editor, IdPath, Page, Psid, Svc, Viewer

router = APIRouter(
    prefix="/api/v1/projects/{project_string_id}/evaluations", responses=ERROR_RESPONSES
)


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str = Field(
        min_length=1,
        max_length=600,
        description="run id, model/run, or run",
        json_schema_extra=m.id_of("run"),
    )
    reference: str = Field(
        "human",
        min_length=1,
        max_length=600,
        description="human, or another run",
        json_schema_extra=m.id_of("run"),
    )
    iou: float = Field(0.5, gt=0, le=1)
    score_min: float = Field(0.0, ge=0, le=1)
    iou_type: str = Field("auto", pattern="^(auto|box|mask|keypoints)$")
    max_dets: int | None = Field(100, ge=1, le=1_000_000)
    scope: str = Field("run", pattern="^(run|project)$")


@router.post(
    "", response_model=shapes.EvaluationOut, status_code=201, summary="Evaluate a model run"
)
def create_evaluation(
    project_string_id: Psid, body: EvaluationIn, who: Editor, svc: Svc
) -> shapes.EvaluationOut:
    params = body.model_dump()
    run, reference = params.pop("run"), params.pop("reference")
    return svc.evaluate(who.project_id, run, reference=reference, **params)


@router.get("", response_model=list[shapes.EvaluationOut], summary="Evaluations, newest first")
def list_evaluations(
    project_string_id: Psid,
    who: Viewer,
    svc: Svc,
    run: Annotated[str | None, Query(max_length=600)] = None,
) -> Any:
    from labelport.evaluate.run import list_public

    return list_public(svc.store, who.project_id, run)


@router.get("/{evaluation_id}", response_model=shapes.EvaluationOut)
def get_evaluation(
    project_string_id: Psid, evaluation_id: IdPath, who: Viewer, svc: Svc
) -> shapes.EvaluationOut:
    return svc.get_evaluation(who.project_id, evaluation_id)


@router.get("/{evaluation_id}/files", summary="The review queue: files, most errors first")
def review_queue(
    project_string_id: Psid,
    evaluation_id: IdPath,
    who: Viewer,
    svc: Svc,
    page: Page = 1,
    per_page: Annotated[int, Query(ge=1, le=10_000)] = 100,
    errors_only: bool = False,
) -> Any:
    from labelport.evaluate.run import queue_page

    return queue_page(svc.store, who.project_id, evaluation_id, page, per_page, errors_only)


@router.get("/{evaluation_id}/files/{file_id}", summary="One file's predictions and references")
def file_outcome(
    project_string_id: Psid,
    evaluation_id: IdPath,
    file_id: IdPath,
    who: Viewer,
    svc: Svc,
    frame_start: Annotated[int | None, Query(ge=0, le=2**31)] = None,
    frame_end: Annotated[int | None, Query(ge=0, le=2**31)] = None,
) -> Any:
    """A video's frames [frame_start, frame_end], at most 300 at once (from 0 by default)."""
    from labelport.evaluate.run import file_outcome as outcome

    return outcome(svc.store, who.project_id, evaluation_id, file_id, frame_start, frame_end)
