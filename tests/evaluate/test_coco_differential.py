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


def _people(seed: int, images: int = 30, nodes: int = 5):
    """References and predictions of keypoints (5 nodes) with boxes from their nodes."""
    rng = np.random.default_rng(seed)
    gts, dts = [], []
    for image in range(1, images + 1):
        for _ in range(int(rng.integers(0, 6))):
            label = int(rng.integers(1, 3))
            cx, cy, size = *rng.uniform(50, 400, 2), rng.uniform(20, 80)
            pts = [(float(cx + rng.normal(0, size / 2)), float(cy + rng.normal(0, size)))
                   for _ in range(nodes)]  # fmt: skip
            gts.append({"image": image, "label": label, "pts": pts})
            for _ in range(int(rng.choice([0, 1, 1, 2]))):
                noise = rng.uniform(0.02, 0.3) * size
                dts.append({"image": image, "label": label, "score": float(rng.random()),
                            "pts": [(x + rng.normal(0, noise), y + rng.normal(0, noise))
                                    for x, y in pts]})  # fmt: skip
        for _ in range(int(rng.integers(0, 3))):
            cx, cy = rng.uniform(50, 400, 2)
            dts.append({"image": image, "label": int(rng.integers(1, 3)),
                        "score": float(rng.random()),
                        "pts": [(float(cx + rng.normal(0, 30)), float(cy + rng.normal(0, 30)))
                                for _ in range(nodes)]})  # fmt: skip
    return gts, dts


def _kp_shapes(rows: list[dict]):
    from labelport.evaluate.matching import Shapes

    n = len(rows)
    xs = [[x for x, _ in r["pts"]] for r in rows]
    ys = [[y for _, y in r["pts"]] for r in rows]
    box = np.array([[min(x), min(y), max(x), max(y)] for x, y in zip(xs, ys, strict=True)])
    shapes = Shapes(
        file=np.array([r["image"] for r in rows], np.int64), frame=np.full(n, -1),
        label=np.array([r["label"] for r in rows], np.int64), box=box.reshape(n, 4),
        id=np.arange(1, n + 1), score=np.array([r.get("score", 0.0) for r in rows]),
        crowd=np.zeros(n, bool), sequence=np.full(n, -1),
    )  # fmt: skip
    nodes = {i: [(str(k), x, y) for k, (x, y) in enumerate(r["pts"])] for i, r in enumerate(rows)}
    return shapes, nodes


@pytest.mark.parametrize("seed", range(4))
def test_keypoints_oks_same_as_cocoeval(seed: int) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from labelport.evaluate import keypoints

    gts, dts = _people(seed)

    def flat(pts: list) -> list:
        return [v for x, y in pts for v in (x, y, 2)]

    dataset: dict = {
        "images": [{"id": i} for i in range(1, 31)],
        "categories": [{"id": k, "name": str(k)} for k in (1, 2)],
        "annotations": [],
    }
    gshapes, gnodes = _kp_shapes(gts)
    dshapes, dnodes = _kp_shapes(dts)
    keypoints.fill(gshapes, gnodes, dshapes, dnodes)
    for i, r in enumerate(gts):
        x0, y0, x1, y1 = gshapes.box[i]
        dataset["annotations"].append(
            {"id": i + 1, "image_id": r["image"], "category_id": r["label"], "iscrowd": 0,
             "keypoints": flat(r["pts"]), "num_keypoints": len(r["pts"]),
             "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float(gshapes.area[i])})  # fmt: skip
    results = [{"image_id": r["image"], "category_id": r["label"], "score": r["score"],
                "keypoints": flat(r["pts"])} for r in dts]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(results), "keypoints")
        ev.params.kpt_oks_sigmas = np.full(5, keypoints.SIGMA)
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.params.maxDets = [100]
        ev.evaluate()
        ev.accumulate()
    m = match(gshapes, dshapes, IOU_THRESHOLDS, oks=keypoints.oks)
    curves = coco_curves(m, np.array(ev.params.catIds))
    np.testing.assert_allclose(curves.precision, ev.eval["precision"][:, :, :, 0, 0], atol=1e-6)
    np.testing.assert_allclose(curves.recall, ev.eval["recall"][:, :, 0, 0], atol=1e-6)
    assert curves.ap() > 0
