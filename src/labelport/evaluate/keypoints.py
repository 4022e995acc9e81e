"""Keypoints: instances' nodes as arrays by slot, and COCO's object keypoint similarity (OKS).

Slots are per label: the node ids of the label's references, in order of first appearance; a
prediction's node with an id the references never use is ignored, a reference's node the
prediction lacks counts as not found (similarity 0 for that node). Every node has the same
sigma (`SIGMA`, COCO's constants are per node of a person); a reference's area is the area of its
nodes' bounding box.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labelport.evaluate.matching import Shapes

SIGMA = 0.05


def fill(
    gt: Shapes, gt_nodes: dict[int, list[Any]], dt: Shapes, dt_nodes: dict[int, list[Any]]
) -> None:
    """Set `kp` on both sides (and `area` on the references) from {position: [(id, x, y)]}."""
    slots: dict[tuple[int, str], int] = {}
    per_label: dict[int, int] = {}
    for i, nodes in gt_nodes.items():
        label = int(gt.label[i])
        for key, _x, _y in nodes:
            if (label, key) not in slots:
                slots[(label, key)] = per_label.get(label, 0)
                per_label[label] = slots[(label, key)] + 1
    k = max(per_label.values(), default=1)
    for shapes, nodes_of in ((gt, gt_nodes), (dt, dt_nodes)):
        kp = np.full((len(shapes), k, 2), np.nan)
        for i, nodes in nodes_of.items():
            label = int(shapes.label[i])
            for key, x, y in nodes:
                slot = slots.get((label, key))
                if slot is not None:
                    kp[i, slot] = (x, y)
        shapes.kp = kp
    w = gt.box[:, 2] - gt.box[:, 0]
    h = gt.box[:, 3] - gt.box[:, 1]
    gt.area = w * h


def oks(gt: Shapes, dt: Shapes, gi: np.ndarray, di: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """COCO's OKS of the pairs (dt[di[k]], gt[gi[k]]): the mean over the reference's nodes of
    exp(-d^2 / (2 * area * (2 * sigma)^2))."""
    assert gt.kp is not None and dt.kp is not None and gt.area is not None
    g, d = gt.kp[gi], dt.kp[di]
    d2 = ((d - g) ** 2).sum(axis=2)
    var = (2 * sigma) ** 2
    e = d2 / var / (gt.area[gi][:, None] + np.spacing(1)) / 2
    visible = ~np.isnan(g[:, :, 0])
    with np.errstate(invalid="ignore"):
        sim = np.where(visible & ~np.isnan(e), np.exp(-np.nan_to_num(e, nan=0.0)), 0.0)
    n = visible.sum(axis=1)
    return np.where(n > 0, sim.sum(axis=1) / np.maximum(n, 1), 0.0)
