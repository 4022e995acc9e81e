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


def _chunk(rows: list[tuple[Any, ...]], default_score: float) -> tuple[Shapes, dict[int, list]]:
    (file, frame, label, score, x0, y0, x1, y1, geometry, ids, seq) = zip(*rows, strict=True)
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
    return shapes, points_of


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


def load_side(
    es: EvaluationStore,
    project_id: int,
    *,
    run_id: int | None,
    files_of_run: int | None,
    file_id: int | None = None,
    types: tuple[str, ...] = TYPES,
) -> tuple[Shapes, dict[int, list]]:
    """The instances of `run_id` (None: the people's), of `files_of_run`'s files if given, and
    the points of those that are polygons (by position)."""
    parts: list[Shapes] = []
    points: dict[int, list] = {}
    offset = 0
    for rows in es.instance_rows(
        project_id, run_id=run_id, types=types, files_of_run=files_of_run, file_id=file_id
    ):
        shapes, pts = _chunk(rows, 1.0)
        points.update({offset + i: v for i, v in pts.items()})
        offset += len(shapes)
        parts.append(shapes)
    return concat(parts), points
