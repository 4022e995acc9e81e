"""One side of an evaluation from the database: one query, streamed in chunks into numpy columns.

Boxes come from the box columns; a polygon's box is the bounds of its points (its `geometry`).
With masks, every shape is also rasterised (evaluate.masks).
"""

from __future__ import annotations

import json
from itertools import chain
from typing import Any

import numpy as np

from labelport.evaluate.masks import Mask, box_points
from labelport.evaluate.matching import Shapes
from labelport.store.evaluations import EVAL_COLUMNS, EvaluationStore

TYPES = ("box", "polygon", "keypoints")
BOX, POLYGON, KEYPOINTS = 0, 1, 2


def _chunk(
    rows: list[tuple[Any, ...]], default_score: float, run_id: int
) -> tuple[Shapes, list[int], np.ndarray]:
    """The rows (EVAL_COLUMNS, all numbers) as Shapes, the positions of non-box rows (their box
    is filled in from their points later), and which rows are the run's predictions."""
    n, k = len(rows), len(EVAL_COLUMNS)
    a = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=n * k).reshape(n, k)
    pred = (a[:, 10] == run_id) & (a[:, 11] == 1)
    score = a[:, 3].copy()
    score[score < 0] = default_score
    shapes = Shapes(
        file=a[:, 0].astype(np.int64),
        frame=a[:, 1].astype(np.int64),
        label=a[:, 2].astype(np.int64),
        box=np.ascontiguousarray(a[:, 4:8]),
        id=a[:, 8].astype(np.int64),
        score=score,
        crowd=np.zeros(n, bool),
        sequence=a[:, 9].astype(np.int64),
    )
    return shapes, np.flatnonzero(a[:, 12] > 0).tolist(), pred


def _points(es: EvaluationStore, shapes: Shapes, shaped: list[int]) -> dict[int, tuple[Any, ...]]:
    """{position: (POLYGON, [(x, y)...]) or (KEYPOINTS, [(node id, x, y)...])} of the non-box
    rows, whose box becomes the bounds of their points."""
    if not shaped:
        return {}
    found = es.geometries(shapes.id[shaped].tolist())
    out: dict[int, tuple[Any, ...]] = {}
    for i in shaped:
        geometry = json.loads(found.get(int(shapes.id[i])) or "{}")
        if "nodes" in geometry:
            nodes = [(str(n["id"]), float(n["x"]), float(n["y"])) for n in geometry["nodes"]]
            out[i] = (KEYPOINTS, nodes)
            pts = [(x, y) for _, x, y in nodes]
        else:
            pts = [(float(p["x"]), float(p["y"])) for p in geometry.get("points") or []]
            out[i] = (POLYGON, pts)
        if pts:
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            shapes.box[i] = (min(xs), min(ys), max(xs), max(ys))
        else:
            shapes.box[i] = 0.0
    return out


def only(
    shapes: Shapes, geo: dict[int, tuple[Any, ...]], keypoints: bool
) -> tuple[Shapes, dict[int, tuple[Any, ...]]]:
    """The keypoints (or everything but them), with `geo` renumbered to the new positions."""
    kinds = np.zeros(len(shapes), np.int8)
    for i, (kind, _payload) in geo.items():
        kinds[i] = kind
    keep = (kinds == KEYPOINTS) if keypoints else (kinds != KEYPOINTS)
    if keep.all():
        return shapes, geo
    idx = np.flatnonzero(keep)
    pos = np.full(len(shapes), -1)
    pos[idx] = np.arange(len(idx))
    return shapes.take(idx), {int(pos[i]): v for i, v in geo.items() if keep[i]}


def kinds_present(geo: dict[int, tuple[Any, ...]], n: int) -> set[int]:
    """Which of BOX, POLYGON, KEYPOINTS a side of n shapes holds."""
    kinds = {kind for kind, _ in geo.values()}
    if n > len(geo):
        kinds.add(BOX)
    return kinds


def add_masks(shapes: Shapes, geo: dict[int, tuple[Any, ...]]) -> None:
    """Rasterise every shape: polygons from their points, boxes as rectangles."""
    masks: list[Mask | None] = []
    for i in range(len(shapes)):
        pts = geo[i][1] if i in geo else box_points(shapes.box[i])
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
        score=np.concatenate([p.score for p in parts]),
        crowd=np.concatenate([p.crowd for p in parts]),
        sequence=np.concatenate([p.sequence for p in parts]),
    )


def load_pair(
    es: EvaluationStore,
    project_id: int,
    *,
    run_id: int,
    reference_run_id: int | None,
    scope_run: bool,
    file_id: int | None = None,
    frames: tuple[int, int] | None = None,
    types: tuple[str, ...] = TYPES,
) -> tuple[Shapes, dict[int, tuple[Any, ...]], Shapes, dict[int, tuple[Any, ...]]]:
    """(references, their geometry, predictions, theirs), read in one query. The geometry
    ((kind, points) of polygons and keypoints, see `_points`) is keyed by position in its side.
    `scope_run`: only references of files the run predicted on."""
    sides: dict[bool, list[Shapes]] = {True: [], False: []}
    points: dict[bool, dict[int, tuple[Any, ...]]] = {True: {}, False: {}}
    offsets = {True: 0, False: 0}
    for rows in es.instance_rows(
        project_id, run_id=run_id, reference_run_id=reference_run_id, types=types,
        file_id=file_id, frames=frames,
    ):  # fmt: skip
        shapes, shaped, pred = _chunk(rows, 1.0, run_id)
        pts = _points(es, shapes, shaped)
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
