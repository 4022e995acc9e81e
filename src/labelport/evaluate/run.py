"""Evaluate a model run end to end: load both sides, match, measure, store; and read it back."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from labelport.errors import Invalid, NotFound
from labelport.evaluate import keypoints, metrics
from labelport.evaluate.load import BOX, POLYGON, add_masks, kinds_present, load_pair, only
from labelport.evaluate.masks import mask_iou
from labelport.evaluate.matching import IOU_THRESHOLDS, Matches, Shapes, match
from labelport.shapes import ConfusionOut, EvaluationOut, LabelFigures, StoredLabelFigures
from labelport.store.evaluations import Evaluation, EvaluationStore

if TYPE_CHECKING:
    from labelport.store import Store

IOU_TYPES = ("auto", "box", "mask", "keypoints")
SCOPES = ("run", "project")


@dataclass(frozen=True)
class Params:
    """iou: the threshold of precision / recall / F1, per-file counts, confusion and tracks (AP
    always averages COCO's 0.50:0.95). score_min: predictions scored below are left out of
    those (not of AP). iou_type: box, mask (polygons rasterised) or auto (mask when a side has
    polygons). max_dets: predictions kept per file, frame and label, best first (COCO: 100).
    scope: run (the files the run predicted on) or project (every file with references too)."""

    iou: float = 0.5
    score_min: float = 0.0
    iou_type: str = "auto"
    max_dets: int | None = 100
    scope: str = "run"

    def check(self) -> None:
        if not 0.0 < self.iou <= 1.0:
            raise Invalid(code="evaluate.bad_parameter", message="iou must be in (0, 1]")
        if not 0.0 <= self.score_min <= 1.0:
            raise Invalid(code="evaluate.bad_parameter", message="score_min must be in [0, 1]")
        if self.iou_type not in IOU_TYPES:
            raise Invalid(
                code="evaluate.bad_parameter", message=f"iou_type must be one of {IOU_TYPES}"
            )
        if self.scope not in SCOPES:
            raise Invalid(code="evaluate.bad_parameter", message=f"scope must be one of {SCOPES}")
        if self.max_dets is not None and self.max_dets < 1:
            raise Invalid(code="evaluate.bad_parameter", message="max_dets must be at least 1")


def find_run(store: Store, project_id: int, spec: str | int) -> int:
    """A run of the project by id, `model/run` references, or a run reference alone (if only
    one model has a run of that name)."""
    runs = store.list_model_runs(project_id)
    models = {m.id: m.reference for m in store.list_models(project_id)}
    text = str(spec).strip()
    if text.isdigit() and any(r.id == int(text) for r in runs):
        return int(text)
    if "/" in text:
        model_ref, _, run_ref = text.rpartition("/")
        found = [
            r.id for r in runs if r.reference == run_ref and models.get(r.model_id) == model_ref
        ]
    else:
        found = [r.id for r in runs if r.reference == text]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise Invalid(
            f"several models have a run {text!r}: name it as model/run",
            code="evaluate.ambiguous_run",
        )
    raise NotFound(f"model run {text!r} not found")


def _load(es: EvaluationStore, project_id: int, run_id: int, ref_run: int | None, params: Params,
          file_id: int | None = None, frames: tuple[int, int] | None = None,
          ) -> tuple[Shapes, Shapes, str]:  # fmt: skip
    """Both sides, and the kind of comparison: box, mask or keypoints."""
    gt, gt_geo, dt, dt_geo = load_pair(
        es, project_id, run_id=run_id, reference_run_id=ref_run,
        scope_run=params.scope == "run", file_id=file_id, frames=frames,
    )  # fmt: skip
    present = kinds_present(gt_geo, len(gt)) | kinds_present(dt_geo, len(dt))
    kind = params.iou_type
    if kind == "auto":
        if present & {BOX, POLYGON} or not present:
            kind = "mask" if POLYGON in present else "box"
        else:
            kind = "keypoints"
    gt, gt_geo = only(gt, gt_geo, kind == "keypoints")
    dt, dt_geo = only(dt, dt_geo, kind == "keypoints")
    if kind == "mask":
        add_masks(dt, dt_geo)
        add_masks(gt, gt_geo)
    elif kind == "keypoints":
        nodes = [{i: v[1] for i, v in geo.items()} for geo in (gt_geo, dt_geo)]
        keypoints.fill(gt, nodes[0], dt, nodes[1])
    if ref_run is not None:
        gt.score = np.zeros(len(gt))
    return gt, dt, kind


def _similarity(kind: str) -> dict[str, Any]:
    """The keyword of `match` that compares shapes of this kind (boxes need none)."""
    if kind == "mask":
        return {"mask_iou": mask_iou}
    if kind == "keypoints":
        return {"oks": keypoints.oks}
    return {}


def compute(
    store: Store,
    project_id: int,
    run_id: int,
    reference_run_id: int | None = None,
    params: Params | None = None,
) -> tuple[dict[str, Any], dict[int, tuple[int, int, int]]]:
    """(results, {file id: (tp, fp, fn)}) of the run against the reference."""
    params = params or Params()
    params.check()
    if reference_run_id == run_id:
        raise Invalid(code="evaluate.same_run", message="a run cannot be its own reference")
    es = EvaluationStore(store)
    store_run = es.model_run_in(project_id, run_id)
    if reference_run_id is not None:
        es.model_run_in(project_id, reference_run_id)
    started = time.perf_counter()
    gt, dt, kind = _load(es, project_id, run_id, reference_run_id, params)
    loaded = time.perf_counter()
    thresholds = IOU_THRESHOLDS
    ti = metrics.threshold_index(params.iou)
    if ti is None:
        thresholds = np.append(IOU_THRESHOLDS, params.iou)
        ti = len(IOU_THRESHOLDS)
    similarity = _similarity(kind)
    m = match(gt, dt, thresholds, max_dets=params.max_dets, **similarity)
    del gt, dt  # `m` holds them, sorted: the unsorted copies are ~80 bytes a shape
    labels = np.unique(np.concatenate([m.gt.label, m.dt.label]))
    curves = metrics.coco_curves(m, labels)
    c = metrics.counts_at(m, ti, params.score_min)
    rows = metrics.per_label(m, c, curves)
    for k, row in enumerate(rows):
        row["curve"] = metrics.pr_curve(curves, k)
    overall = metrics.prf(int(c["tp"].sum()), int(c["fp"].sum()), int(c["fn"].sum()))
    ap, ap50 = curves.ap(), curves.ap(t=0)
    overall.update(
        ap=None if ap < 0 else ap,
        ap50=None if ap50 < 0 else ap50,
        references=int((~m.gt.crowd).sum()),
        predictions=len(m.dt),
        dropped_over_max_dets=m.dropped,
    )
    files = metrics.per_file(m, c)
    results = {
        "model_run": {"id": run_id, "model": store_run[1], "run": store_run[2]},
        "reference": "human" if reference_run_id is None else "run",
        "reference_run_id": reference_run_id,
        "iou_type": kind,
        "overall": overall,
        "labels": rows,
        "confusion": metrics.confusion(m, c, params.iou, **similarity),
        "tracks": metrics.tracks(m, c, ti),
        "files_with_errors": sum(1 for _, fp, fn in files.values() if fp + fn),
        "timings": {
            "load": round(loaded - started, 4),
            "match_and_measure": round(time.perf_counter() - loaded, 4),
        },
    }
    return results, files


def evaluate_and_store(
    store: Store,
    project_id: int,
    run_id: int,
    reference_run_id: int | None = None,
    params: Params | None = None,
) -> Evaluation:
    params = params or Params()
    started = time.perf_counter()
    results, files = compute(store, project_id, run_id, reference_run_id, params)
    took = time.perf_counter() - started
    return EvaluationStore(store).create_evaluation(
        project_id,
        run_id,
        reference_run_id,
        asdict(params),
        results,
        ((f, tp, fp, fn) for f, (tp, fp, fn) in sorted(files.items())),
        took,
    )


def public(store: Store, evaluation: Evaluation) -> EvaluationOut:
    """The JSON shape shown to callers: results with label names, and whether it is stale.
    The figures are the stored JSON (`compute`'s results), read into their declared keys."""
    es = EvaluationStore(store)
    names = {lab.id: lab.name for lab in store.list_labels(evaluation.project_id)}
    results, p = evaluation.results, evaluation.parameters
    stored_labels: list[StoredLabelFigures] = results.get("labels", [])
    labels: list[LabelFigures] = [
        {**row, "label_name": None if row["label_id"] is None else names.get(row["label_id"])}
        for row in stored_labels
    ]
    confusion: list[ConfusionOut] = [
        {
            "prediction": a,
            "prediction_name": names.get(a) if a is not None else None,
            "reference": b,
            "reference_name": names.get(b) if b is not None else None,
            "count": n,
        }
        for a, b, n in results.get("confusion", [])
    ]
    return {
        "id": evaluation.id,
        "model_run_id": evaluation.model_run_id,
        "reference_run_id": evaluation.reference_run_id,
        "parameters": {
            "iou": p["iou"],
            "score_min": p["score_min"],
            "iou_type": p["iou_type"],
            "max_dets": p["max_dets"],
            "scope": p["scope"],
        },
        "file_count": evaluation.file_count,
        "last_import_id": evaluation.last_import_id,
        "imports_seen": evaluation.imports_seen,
        "took": round(evaluation.took, 4),
        "created_at": evaluation.created_at.isoformat(),
        "stale": es.evaluation_is_stale(evaluation),
        "model_run": results["model_run"],
        "reference": results["reference"],
        "iou_type": results["iou_type"],
        "overall": results["overall"],
        "labels": labels,
        "confusion": confusion,
        "tracks": results["tracks"],
        "files_with_errors": results["files_with_errors"],
        "timings": results["timings"],
    }


def file_detail(
    store: Store,
    evaluation: Evaluation,
    file_id: int,
    iou_floor: float = 0.1,
    frames: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """For the viewer: a file's predictions and references with every overlapping pair (IoU >=
    iou_floor), so that the page can match again at any IoU and score threshold itself (the same
    greedy rule), and the outcome at the evaluation's own parameters. `frames`: a video's frames
    in this inclusive range only (each frame is matched on its own)."""
    p = evaluation.parameters
    params = Params(**{k: p[k] for k in ("iou", "score_min", "iou_type", "max_dets", "scope")})
    if params.iou_type == "auto":
        params = Params(**{**asdict(params), "iou_type": evaluation.results.get("iou_type", "box")})
    es = EvaluationStore(store)
    gt, dt, kind = _load(es, evaluation.project_id, evaluation.model_run_id,
                         evaluation.reference_run_id, params, file_id=file_id,
                         frames=frames)  # fmt: skip
    m: Matches = match(gt, dt, [params.iou], max_dets=params.max_dets, keep_below=iou_floor,
                       **_similarity(kind))  # fmt: skip
    c = metrics.counts_at(m, 0, params.score_min)
    e_d, e_g, e_iou = m.edges
    return {
        "file_id": file_id,
        "frames": list(frames) if frames is not None else None,
        "parameters": asdict(params),
        "predictions": [
            {"id": int(i), "label_id": _opt(lab), "frame": _opt(fr), "score": float(s),
             "outcome": "tp" if tp else ("fp" if fp else ("ignored" if ig else "below_score"))}
            for i, lab, fr, s, tp, fp, ig in zip(
                m.dt.id.tolist(), m.dt.label.tolist(), m.dt.frame.tolist(), m.dt.score.tolist(),
                c["tp"].tolist(), c["fp"].tolist(), c["ignored"].tolist(), strict=True)
        ],
        "references": [
            {"id": int(i), "label_id": _opt(lab), "frame": _opt(fr),
             "outcome": "tp" if found else "fn"}
            for i, lab, fr, found in zip(
                m.gt.id.tolist(), m.gt.label.tolist(), m.gt.frame.tolist(),
                c["gt_tp"].tolist(), strict=True)
        ],
        "pairs": [
            [int(m.dt.id[d]), int(m.gt.id[g]), round(float(v), 6)]
            for d, g, v in zip(e_d.tolist(), e_g.tolist(), e_iou.tolist(), strict=True)
        ],
    }  # fmt: skip


def _opt(v: int) -> int | None:
    return None if v < 0 else int(v)


# -- what the API, the CLI and the pages call ------------------------------------------------


def evaluate(
    store: Store, project_id: int, run: str | int, reference: str | int = "human", **params: Any
) -> EvaluationOut:
    """Find the runs, compute, store; the public shape (Service.evaluate)."""
    run_id = find_run(store, project_id, run)
    ref_id = None if str(reference) == "human" else find_run(store, project_id, reference)
    return public(store, evaluate_and_store(store, project_id, run_id, ref_id, Params(**params)))


def get_public(store: Store, project_id: int, evaluation_id: int) -> EvaluationOut:
    return public(store, EvaluationStore(store).get_evaluation(evaluation_id, project_id))


def list_public(store: Store, project_id: int, run: str | int | None = None) -> list[EvaluationOut]:
    """Newest first, without the per-label curves."""
    run_id = None if run is None else find_run(store, project_id, run)
    out = []
    for ev in EvaluationStore(store).list_evaluations(project_id, run_id):
        item = public(store, ev)
        for row in item["labels"]:
            row.pop("curve", None)
        out.append(item)
    return out


def queue_page(
    store: Store, project_id: int, evaluation_id: int, page: int, per_page: int, errors_only: bool
) -> dict[str, Any]:
    es = EvaluationStore(store)
    es.get_evaluation(evaluation_id, project_id)
    rows, total = es.review_queue(
        evaluation_id, limit=per_page, offset=(page - 1) * per_page, errors_only=errors_only
    )
    return {"items": [asdict_row(r) for r in rows], "total": total, "page": page,
            "per_page": per_page}  # fmt: skip


def asdict_row(row: Any) -> dict[str, Any]:
    return {k: getattr(row, k) for k in row.__slots__}


# A video's frames answered at once: the viewer asks again for the next window.
MAX_FRAMES = 300


def file_outcome(
    store: Store,
    project_id: int,
    evaluation_id: int,
    file_id: int,
    frame_start: int | None = None,
    frame_end: int | None = None,
) -> dict[str, Any]:
    """`file_detail` of a file of the project; for a video, frames [frame_start, frame_end]
    (at most MAX_FRAMES of them; from frame 0 when not given)."""
    es = EvaluationStore(store)
    ev = es.get_evaluation(evaluation_id, project_id)
    row = store.get_file(file_id, project_id)
    frames = None
    if row.media_type == "video":
        start = max(frame_start or 0, 0)
        end = start + MAX_FRAMES - 1 if frame_end is None else frame_end
        frames = (start, max(start, min(end, start + MAX_FRAMES - 1)))
    out = file_detail(store, ev, file_id, frames=frames)
    out["next_file_id"] = es.next_in_queue(evaluation_id, file_id)
    return out
