"""One side of an evaluation from the database: one query, streamed in chunks into numpy columns.

Boxes come from the box columns; a polygon's box is the bounds of its points (its `geometry`).
With masks, every shape is also rasterised (evaluate.masks).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from labelport.evaluate.masks import Mask, box_points
from labelport.evaluate.matching import Shapes
from labelport.store.evaluations import EvaluationStore

TYPES = ("box", "polygon")


def _int_column(values: tuple[Any, ...]) -> np.ndarray:
    """Integers with NULLs (-1): through float64, exact for ids below 2**53."""
    a = np.array(values, dtype=np.float64)
    return np.nan_to_num(a, nan=-1.0).astype(np.int64)


def _chunk(
    rows: list[tuple[Any, ...]], default_score: float, run_id: int
) -> tuple[Shapes, dict[int, list], np.ndarray]:
    """The rows as Shapes, the points of those that are polygons, and which rows are the run's
    predictions (its run, machine made)."""
    (file, frame, label, score, x0, y0, x1, y1, geometry, ids, seq, runs, made) = zip(
        *rows, strict=True
    )
    pred = (_int_column(runs) == run_id) & np.array(made, dtype=bool)
    box = np.empty((len(rows), 4))
    for j, col in enumerate((x0, y0, x1, y1)):
        box[:, j] = np.array(col, dtype=np.float64)  # NULL -> nan (polygons)
    score_a = np.array(score, dtype=np.float64)
    score_a[np.isnan(score_a)] = default_score
    points_of: dict[int, list[tuple[float, float]]] = {}
    for i in np.flatnonzero(np.isnan(box[:, 0])).tolist():
        found = json.loads(geometry[i] or "{}").get("points") or []
        pts = [(float(p["x"]), float(p["y"])) for p in found]
        points_of[i] = pts
        if pts:
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            box[i] = (min(xs), min(ys), max(xs), max(ys))
        else:
            box[i] = 0.0
    shapes = Shapes(
        file=np.array(file, dtype=np.int64),
        frame=_int_column(frame),
        label=_int_column(label),
        box=box,
        id=np.array(ids, dtype=np.int64),
        score=score_a,
        crowd=np.zeros(len(rows), bool),
        sequence=_int_column(seq),
    )
    return shapes, points_of, pred


def add_masks(shapes: Shapes, points: dict[int, list]) -> None:
    """Rasterise every shape: polygons from their points, boxes as rectangles."""
    masks: list[Mask | None] = []
    for i in range(len(shapes)):
        pts = points.get(i) or box_points(shapes.box[i])
        try:
            masks.append(Mask(pts) if len(pts) >= 3 else None)
        except ValueError:
            masks.append(None)
    shapes.masks = masks


def concat(parts: list[Shapes]) -> Shapes:
    if not parts:
        return Shapes.empty()
    return Shapes(
        file=np.concatenate([p.file for p in parts]),
        frame=np.concatenate([p.frame for p in parts]),
        label=np.concatenate([p.label for p in parts]),
        box=np.concatenate([p.box for p in parts]),
        id=np.concatenate([p.id for p in parts]),
        score=np.concatenate([p.score for p in parts]),  # type: ignore[misc]
        crowd=np.concatenate([p.crowd for p in parts]),  # type: ignore[misc]
        sequence=np.concatenate([p.sequence for p in parts]),  # type: ignore[misc]
    )


def load_pair(
    es: EvaluationStore,
    project_id: int,
    *,
    run_id: int,
    reference_run_id: int | None,
    scope_run: bool,
    file_id: int | None = None,
    types: tuple[str, ...] = TYPES,
) -> tuple[Shapes, dict[int, list], Shapes, dict[int, list]]:
    """(references, their polygon points, predictions, theirs), read in one query. The points
    are keyed by position in their Shapes. `scope_run`: only references of files the run
    predicted on."""
    sides: dict[bool, list[Shapes]] = {True: [], False: []}
    points: dict[bool, dict[int, list]] = {True: {}, False: {}}
    offsets = {True: 0, False: 0}
    for rows in es.instance_rows(
        project_id, run_id=run_id, reference_run_id=reference_run_id, types=types,
        file_id=file_id,
    ):  # fmt: skip
        shapes, pts, pred = _chunk(rows, 1.0, run_id)
        for side, mask in ((True, pred), (False, ~pred)):
            idx = np.flatnonzero(mask)
            if not len(idx):
                continue
            if pts:
                new_pos = np.full(len(rows), -1)
                new_pos[idx] = np.arange(len(idx)) + offsets[side]
                points[side].update({int(new_pos[i]): v for i, v in pts.items() if mask[i]})
            sides[side].append(shapes if len(idx) == len(rows) else shapes.take(idx))
            offsets[side] += len(idx)
    dt, gt = concat(sides[True]), concat(sides[False])
    gt_pts = points[False]
    if scope_run and len(gt):
        keep = np.isin(gt.file, np.unique(dt.file))
        if not keep.all():
            idx = np.flatnonzero(keep)
            pos = np.full(len(gt), -1)
            pos[idx] = np.arange(len(idx))
            gt = gt.take(idx)
            gt_pts = {int(pos[i]): v for i, v in gt_pts.items() if keep[i]}
    return gt, gt_pts, dt, points[True]
