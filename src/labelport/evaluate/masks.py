"""Mask IoU of polygons (and boxes drawn as rectangles), by rasterising each shape once.

Each shape becomes a bitmap of its own bounding box on the pixel grid (Pillow draws it); a pair's
intersection is counted on the overlap of the two bitmaps only. Matching calls this for pairs
whose boxes intersect, so shapes far apart cost nothing.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from labelport.evaluate.matching import Shapes

# A shape larger than this many pixels is drawn at a coarser scale (same IoU up to the grid).
MAX_PIXELS = 4_000_000


class Mask:
    __slots__ = ("area", "bits", "x0", "y0")

    def __init__(self, points: list[tuple[float, float]]) -> None:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        self.x0, self.y0 = math.floor(min(xs)), math.floor(min(ys))
        w = max(math.ceil(max(xs)) - self.x0, 1)
        h = max(math.ceil(max(ys)) - self.y0, 1)
        if w * h > MAX_PIXELS:
            raise ValueError("shape too large to rasterise")
        img = Image.new("1", (w, h), 0)
        ImageDraw.Draw(img).polygon([(x - self.x0, y - self.y0) for x, y in points], fill=1)
        self.bits = np.asarray(img, dtype=bool)
        self.area = int(self.bits.sum())


def box_points(box: np.ndarray) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def intersection(a: Mask, b: Mask) -> int:
    ah, aw = a.bits.shape
    bh, bw = b.bits.shape
    x0, y0 = max(a.x0, b.x0), max(a.y0, b.y0)
    x1, y1 = min(a.x0 + aw, b.x0 + bw), min(a.y0 + ah, b.y0 + bh)
    if x1 <= x0 or y1 <= y0:
        return 0
    sa = a.bits[y0 - a.y0 : y1 - a.y0, x0 - a.x0 : x1 - a.x0]
    sb = b.bits[y0 - b.y0 : y1 - b.y0, x0 - b.x0 : x1 - b.x0]
    return int(np.count_nonzero(sa & sb))


def mask_iou(
    gt: Shapes, dt: Shapes, gi: np.ndarray, di: np.ndarray, crowd: np.ndarray
) -> np.ndarray:
    """IoU of pairs (dt[di[k]], gt[gi[k]]) from their `masks`; crowd: over the prediction's area."""
    out = np.zeros(len(gi))
    gm, dm = gt.masks, dt.masks
    assert gm is not None and dm is not None
    for k, (g, d, c) in enumerate(zip(gi.tolist(), di.tolist(), crowd.tolist(), strict=True)):
        a, b = dm[d], gm[g]
        if a is None or b is None:
            continue
        inter = intersection(a, b)
        union = a.area if c else a.area + b.area - inter
        out[k] = inter / union if union > 0 and inter > 0 else 0.0
    return out
