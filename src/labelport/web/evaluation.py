"""The model-run pages: a project's runs, one run's evaluation (metrics, precision-recall curves,
confusion, tracks, the review queue), recomputing it, and the JSON the viewer's overlay reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from labelport.errors import Forbidden, Invalid, NotFound
from labelport.shapes import EvaluationOut
from labelport.store.evaluations import EvaluationStore
from labelport.web.pages import label_view, page_number, paging_of
from labelport.web.queries import labels as label_rows
from labelport.web.sessions import same_token
from labelport.web.state import PREFIX, html, project_for, signed_in

router: APIRouter = APIRouter()

QUEUE_PER_PAGE = 50
# The precision-recall plot: a square of PLOT units with a margin for the axes.
PLOT, PAD = 160, 28


def _runs(store: Any, project_id: int) -> list[dict[str, Any]]:
    models = {m.id: m.reference for m in store.list_models(project_id)}
    return [
        {"id": r.id, "model": models.get(r.model_id, ""), "run": r.reference}
        for r in store.list_model_runs(project_id)
    ]


@router.get("/p/{project_string_id}/runs")
def runs_page(request: Request, project_string_id: str) -> Response:
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)
    store = state.service.store
    es = EvaluationStore(store)
    runs = _runs(store, project["id"])
    for r in runs:
        latest = es.list_evaluations(project["id"], r["id"], limit=1)
        r["evaluation"] = latest[0] if latest else None
        r["stale"] = bool(latest) and es.evaluation_is_stale(latest[0])
    return html(request, "runs.html", {"session": session, "project": project, "runs": runs})


@router.get("/p/{project_string_id}/runs/{run_id:int}")
def run_page(
    request: Request, project_string_id: str, run_id: int, evaluation: str | None = None,
    page: str | None = None,
) -> Response:  # fmt: skip
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)
    pid = project["id"]
    store = state.service.store
    es = EvaluationStore(store)
    _, model_ref, run_ref = es.model_run_in(pid, run_id)
    history = es.list_evaluations(pid, run_id, limit=20)
    chosen = None
    if evaluation and evaluation.isdigit():
        chosen = es.get_evaluation(int(evaluation), pid)
        if chosen.model_run_id != run_id:
            raise NotFound(f"evaluation {evaluation} not found")
    elif history:
        chosen = history[0]
    context: dict[str, Any] = {
        "session": session,
        "project": project,
        "run": {"id": run_id, "model": model_ref, "run": run_ref},
        "history": history,
        "other_runs": [r for r in _runs(store, pid) if r["id"] != run_id],
        "may_compute": session.may(pid, "editor"),
        "result": None,
    }
    if chosen is not None:
        from labelport.evaluate import run as ev  # numpy: loaded when an evaluation is shown

        result = ev.public(store, chosen)
        colours = {lab["id"]: lab["colour"] for lab in label_view(label_rows(state.engine, pid))}
        # The page's rows: the answer's, with the label's colour and its curve drawn.
        labels: list[dict[str, Any]] = [
            {
                **row,
                "colour": colours.get(row["label_id"], "#888888")
                if row["label_id"] is not None
                else "#888888",
                "plot": _plot(row.get("curve") or []),
            }
            for row in result["labels"]
        ]
        paging = paging_of(chosen.file_count, QUEUE_PER_PAGE, page_number(page))
        queue, _ = es.review_queue(
            chosen.id, limit=QUEUE_PER_PAGE, offset=(paging["page"] - 1) * QUEUE_PER_PAGE
        )
        context.update(
            result={**result, "labels": labels},
            queue=queue,
            paging=paging,
            confusion=_confusion(result),
            params=chosen.parameters,
        )
    return html(request, "run.html", context)


def _plot(curve: list[list[float]]) -> dict[str, Any]:
    """SVG polyline points of a precision-recall curve (recall right, precision up)."""
    points = " ".join(f"{PAD + r * PLOT:.1f},{PAD / 2 + (1 - p) * PLOT:.1f}" for r, p, _s in curve)
    return {"points": points, "size": PLOT + PAD * 1.5, "plot": PLOT, "pad": PAD}


def _confusion(result: EvaluationOut) -> dict[str, Any]:
    """A matrix: rows the predictions' labels, columns the references' (None: nothing)."""
    names: dict[Any, str] = {}
    cells: dict[tuple[Any, Any], int] = {}
    for c in result["confusion"]:
        names.setdefault(c["prediction"], c["prediction_name"] or "(none)")
        names.setdefault(c["reference"], c["reference_name"] or "(none)")
        cells[(c["prediction"], c["reference"])] = c["count"]
    keys = sorted((k for k in names if k is not None), key=lambda k: names[k])
    return {
        "rows": [*keys, None],
        "cols": [*keys, None],
        "names": {**names, None: "nothing"},
        "cells": cells,
    }


@router.post("/p/{project_string_id}/runs/{run_id:int}/evaluate")
async def run_evaluate(
    request: Request,
    project_string_id: str,
    run_id: int,
    csrf: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "human",
    iou: Annotated[str, Form()] = "0.5",
    score_min: Annotated[str, Form()] = "0",
    scope: Annotated[str, Form()] = "run",
) -> Response:
    """Compute (again) and show it: an editor's session, with the page's CSRF token."""
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)
    if not same_token(csrf, session.csrf):
        raise Forbidden("the page is out of date; reload it and try again", code="auth.csrf")
    if not session.may(project["id"], "editor"):
        raise Forbidden("evaluating a run needs an editor's role", code="auth.forbidden")
    try:
        params = {"iou": float(iou), "score_min": float(score_min), "scope": scope}
    except ValueError:
        raise Invalid("iou and score must be numbers", code="evaluate.bad_parameter") from None
    result = await run_in_threadpool(
        state.service.evaluate, project["id"], run_id, reference=reference, **params
    )
    target = f"{PREFIX}/p/{project['string_id']}/runs/{run_id}?evaluation={result['id']}"
    return RedirectResponse(target, status_code=303)


@router.get("/p/{project_string_id}/evaluations/{evaluation_id:int}/files/{file_id:int}.json")
def file_outcome(
    request: Request,
    project_string_id: str,
    evaluation_id: int,
    file_id: int,
    frame_start: int | None = None,
    frame_end: int | None = None,
) -> JSONResponse:
    """The viewer overlay's data: the file's predictions, references and overlapping pairs (a
    video's in a window of frames)."""
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)
    from labelport.evaluate import run as ev  # numpy: loaded when an evaluation is shown

    out = ev.file_outcome(
        state.service.store, project["id"], evaluation_id, file_id, frame_start, frame_end
    )
    evaluation = EvaluationStore(state.service.store).get_evaluation(evaluation_id, project["id"])
    out["run_id"] = evaluation.model_run_id
    out["run_url"] = f"{PREFIX}/p/{project['string_id']}/runs/{evaluation.model_run_id}"
    out["run_url"] += f"?evaluation={evaluation_id}"
    return JSONResponse(out)
