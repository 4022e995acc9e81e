"""labelport's matching and AP against pycocotools' COCOeval on the same generated data."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from coco_data import generate, to_coco, to_shapes

from labelport.evaluate.matching import IOU_THRESHOLDS, match
from labelport.evaluate.metrics import coco_curves

pytest.importorskip("pycocotools")


def cocoeval(dataset: dict, results: list, max_dets: int):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = gt.loadRes(results) if results else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.params.maxDets = [max_dets]
        ev.evaluate()
        ev.accumulate()
    return ev


@pytest.mark.parametrize("tie_scores", [False, True])
@pytest.mark.parametrize("max_dets", [100, 5])
@pytest.mark.parametrize("seed", range(6))
def test_same_ap_ap50_and_recall_as_cocoeval(seed: int, max_dets: int, tie_scores: bool) -> None:
    images, labels = 40, 5
    gts, dts = generate(seed, images, labels, tie_scores=tie_scores)
    assert dts and any(g["crowd"] for g in gts)
    ev = cocoeval(*to_coco(gts, dts, images, labels), max_dets)
    m = match(to_shapes(gts, gt=True), to_shapes(dts, gt=False), IOU_THRESHOLDS, max_dets=max_dets)
    curves = coco_curves(m, np.array(ev.params.catIds))
    ref_p = ev.eval["precision"][:, :, :, 0, 0]
    ref_r = ev.eval["recall"][:, :, 0, 0]
    np.testing.assert_allclose(curves.precision, ref_p, atol=1e-6, rtol=0)
    np.testing.assert_allclose(curves.recall, ref_r, atol=1e-6, rtol=0)
    # the summaries COCO prints: AP, AP50, mean recall
    valid = ref_p[ref_p > -1]
    assert abs(curves.ap() - valid.mean()) < 1e-6
    p50 = ref_p[0]
    assert abs(curves.ap(t=0) - p50[p50 > -1].mean()) < 1e-6
    assert abs(curves.mean_recall() - ref_r[ref_r > -1].mean()) < 1e-6
    # per label, including the label with predictions only (-1) and references only
    for k in range(len(curves.labels)):
        pk = ref_p[:, :, k]
        expected = pk[pk > -1].mean() if (pk > -1).any() else -1.0
        assert abs(curves.ap(k) - expected) < 1e-6


def test_a_crowded_file_needs_many_rounds_and_still_agrees() -> None:
    # 60 predictions and 60 references stacked on nearly the same spot: every prediction
    # competes with every other one, the worst case for the round-based greedy rule.
    rng = np.random.default_rng(7)
    gts = [{"image": 1, "label": 1, "x": float(rng.uniform(0, 4)), "y": float(rng.uniform(0, 4)),
            "w": 50.0, "h": 50.0, "crowd": False} for _ in range(60)]  # fmt: skip
    dts = [{"image": 1, "label": 1, "x": float(rng.uniform(0, 8)), "y": float(rng.uniform(0, 8)),
            "w": 50.0, "h": 50.0, "score": float(rng.random())} for _ in range(60)]  # fmt: skip
    ev = cocoeval(*to_coco(gts, dts, 1, 1), 100)
    m = match(to_shapes(gts, gt=True), to_shapes(dts, gt=False), IOU_THRESHOLDS)
    curves = coco_curves(m, np.array(ev.params.catIds))
    np.testing.assert_allclose(curves.precision, ev.eval["precision"][:, :, :, 0, 0], atol=1e-6)
    # and the matches themselves: the gt each prediction took, at every threshold
    for t in range(len(IOU_THRESHOLDS)):
        e = ev.evalImgs[1]  # category 1, image 1 (category 0 comes first)
        coco_took = e["dtMatches"][t]  # gt ids, in COCO's dt order (score descending)
        ours = np.where(m.dt_match[t] >= 0, m.gt.id[np.maximum(m.dt_match[t], 0)], 0)
        np.testing.assert_array_equal(ours, coco_took)
