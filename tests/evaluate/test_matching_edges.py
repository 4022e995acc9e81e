"""Edge cases of the core: a side with nothing, degenerate boxes, the user's own threshold."""

from __future__ import annotations

import numpy as np
from coco_data import to_shapes

from labelport.evaluate import metrics
from labelport.evaluate.matching import IOU_THRESHOLDS, Shapes, box_iou_pairs, match


def _box(image: int, label: int, x: float, score: float = 0.0) -> dict:
    return {"image": image, "label": label, "x": x, "y": 0.0, "w": 10.0, "h": 10.0,
            "score": score, "crowd": False}  # fmt: skip


def test_no_references_or_no_predictions() -> None:
    dts = to_shapes([_box(1, 1, 0, 0.9), _box(1, 1, 50, 0.8)], gt=False)
    m = match(Shapes.empty(), dts)
    curves = metrics.coco_curves(m)
    assert curves.ap() == -1  # nothing to find: AP undefined, as pycocotools
    c = metrics.counts_at(m)
    assert (int(c["tp"].sum()), int(c["fp"].sum()), int(c["fn"].sum())) == (0, 2, 0)
    gts = to_shapes([_box(1, 1, 0)], gt=True)
    m = match(gts, Shapes.empty())
    assert metrics.coco_curves(m).ap() == 0.0
    c = metrics.counts_at(m)
    assert int(c["fn"].sum()) == 1
    assert metrics.prf(0, 0, 1) == {"tp": 0, "fp": 0, "fn": 1, "precision": None,
                                    "recall": 0.0, "f1": None}  # fmt: skip


def test_degenerate_boxes_never_match() -> None:
    d = np.array([[0, 0, 0, 10], [0, 0, 10, 10]], float)
    g = np.array([[0, 0, 0, 10], [20, 20, 30, 30]], float)
    assert box_iou_pairs(d, g).tolist() == [0.0, 0.0]


def test_a_threshold_of_ones_own_and_a_score_floor() -> None:
    gts = to_shapes([_box(1, 1, 0), _box(1, 1, 100)], gt=True)
    # IoU with the first reference: 7/13 = 0.538 (shifted by 3 of 10)
    dts = to_shapes([_box(1, 1, 3, 0.9), _box(1, 1, 100, 0.2)], gt=False)
    m = match(gts, dts, np.append(IOU_THRESHOLDS, 0.53))
    c = metrics.counts_at(m, len(IOU_THRESHOLDS))
    assert int(c["tp"].sum()) == 2
    c = metrics.counts_at(m, 1)  # 0.55: the shifted one misses
    assert (int(c["tp"].sum()), int(c["fp"].sum()), int(c["fn"].sum())) == (1, 1, 1)
    c = metrics.counts_at(m, len(IOU_THRESHOLDS), score_min=0.5)
    assert (int(c["tp"].sum()), int(c["fp"].sum()), int(c["fn"].sum())) == (1, 0, 1)
    files = metrics.per_file(m, c)
    assert files == {1: (1, 0, 1)}
