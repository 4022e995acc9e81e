"""Matching predictions to references, COCO's way, vectorised with numpy.

Shapes are grouped by (file, frame, label) — one COCO "image and category" — and, within a group,
every prediction is paired with every reference. IoU is computed for all pairs of all groups at
once (in chunks), and only pairs at or above the lowest threshold are kept as *edges*.

COCO's greedy rule: predictions in score order (ties: lower instance id first) each take the
unmatched reference with the highest IoU >= t (ties: the later reference); a crowd reference
(`crowd=True`) is only taken when no ordinary one is available, may be taken many times, and a
prediction matched to it counts neither as a true nor as a false positive.

That rule is sequential per group; here it runs for all groups at once in rounds: a prediction
is decided as soon as no higher-ranked undecided prediction of its group still competes for one
of its available references. Its choice can then no longer change, and each round decides at
least the highest-ranked undecided prediction of every group, so the result is exactly the
sequential one (tests/evaluate/test_coco_differential.py checks it against pycocotools).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# COCO's thresholds, spelled as pycocotools spells them so that the floats are identical.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)

# Pairs whose IoU is computed in one numpy pass: bounds the memory of crowded files.
PAIR_CHUNK = 500_000
_BIG = np.iinfo(np.int64).max


@dataclass
class Shapes:
    """Instances as columns. `frame` is -1 outside video; `label` -1 for none; `score` is used
    for predictions only (references carry one, unused); `sequence` is -1 outside video.
    `masks`, if set, holds one entry per instance for mask IoU (see evaluate.masks)."""

    file: np.ndarray  # int64
    frame: np.ndarray  # int64
    label: np.ndarray  # int64
    box: np.ndarray  # float64 (n, 4): x_min, y_min, x_max, y_max
    id: np.ndarray  # int64: instance id, the tie-break
    score: np.ndarray  # float64
    crowd: np.ndarray  # bool
    sequence: np.ndarray  # int64
    masks: list[Any] | None = None
    kp: np.ndarray | None = None  # float64 (n, K, 2): keypoints by slot, nan where absent
    area: np.ndarray | None = None  # float64: the area OKS scales by (references)

    def __len__(self) -> int:
        return len(self.file)

    @classmethod
    def empty(cls) -> Shapes:
        i = np.zeros(0, np.int64)
        return cls(i, i, i, np.zeros((0, 4)), i, np.zeros(0), np.zeros(0, bool), i)

    def take(self, index: np.ndarray) -> Shapes:
        def t(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        masks = None if self.masks is None else [self.masks[i] for i in index.tolist()]
        return Shapes(
            self.file[index], self.frame[index], self.label[index], self.box[index],
            self.id[index], self.score[index], self.crowd[index], self.sequence[index], masks,
            t(self.kp), t(self.area),
        )  # fmt: skip


@dataclass
class Matches:
    """The outcome for thresholds `thresholds` (T of them).

    `gt` and `dt` are the inputs reordered: gt by (group, crowd last, id), dt by (group, score
    descending, id), with predictions past `max_dets` per group dropped (`dropped` counts them).
    `dt_match[t, i]`: index into `gt` of the reference prediction i took, or -1.
    `dt_ignore[t, i]`: prediction i took a crowd reference (neither TP nor FP).
    `dt_iou[t, i]`: IoU with the reference it took (0 if none).
    `edges`: every (dt, gt, iou) pair at or above the lowest threshold.
    """

    thresholds: np.ndarray
    gt: Shapes
    dt: Shapes
    dt_match: np.ndarray
    dt_ignore: np.ndarray
    dt_iou: np.ndarray
    gt_matched: np.ndarray
    dropped: int = 0
    edges: tuple[np.ndarray, np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    )


def box_iou_pairs(d: np.ndarray, g: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of each row of `d` with the same row of `g` (both (n, 4) x_min, y_min, x_max, y_max);
    with `crowd`, those rows divide by the prediction's area alone (COCO's crowd IoU)."""
    iw = np.minimum(d[:, 2], g[:, 2]) - np.maximum(d[:, 0], g[:, 0])
    ih = np.minimum(d[:, 3], g[:, 3]) - np.maximum(d[:, 1], g[:, 1])
    np.maximum(iw, 0, out=iw)
    np.maximum(ih, 0, out=ih)
    inter = iw * ih
    da = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1])
    ga = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    union = da + ga - inter
    if crowd is not None and crowd.any():
        union = np.where(crowd, da, union)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou: np.ndarray = inter / union
    iou[~(inter > 0)] = 0.0  # no overlap, or a degenerate box: never a match
    return iou


def _group_codes(
    gt: Shapes, dt: Shapes, keys: Callable[[Shapes], list[np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, int]:
    """One code per distinct key over both sets, numbered in key order."""
    kg, kd = keys(gt), keys(dt)
    both = [np.concatenate([a, b]) for a, b in zip(kg, kd, strict=True)]
    n = len(both[0])
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    order = np.lexsort(both[::-1])
    change = np.zeros(n, bool)
    change[0] = True
    for col in both:
        s = col[order]
        change[1:] |= s[1:] != s[:-1]
    codes = np.empty(n, np.int64)
    codes[order] = np.cumsum(change) - 1
    return codes[: len(gt)], codes[len(gt) :], int(change.sum())


def _keys(class_agnostic: bool) -> Callable[[Shapes], list[np.ndarray]]:
    if class_agnostic:
        return lambda s: [s.file, s.frame]
    return lambda s: [s.file, s.frame, s.label]


def match(
    gt: Shapes,
    dt: Shapes,
    thresholds: np.ndarray | list[float] = IOU_THRESHOLDS,
    *,
    max_dets: int | None = 100,
    class_agnostic: bool = False,
    mask_iou: Callable[[Shapes, Shapes, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    | None = None,
    keep_below: float | None = None,
    oks: Callable[[Shapes, Shapes, np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Matches:
    """Match `dt` (with scores) to `gt` per (file, frame, label) at each threshold.

    `mask_iou(gt, dt, gi, di, crowd)`: IoU of the pairs (di[k], gi[k]) when shapes are masks;
    boxes otherwise (a mask's box then only preselects pairs that can overlap).
    `keep_below`: also keep edges down to this IoU (for the viewer), without matching on them.
    `oks(gt, dt, gi, di)`: keypoint similarity of the pairs instead of IoU (every pair of a
    group is scored: OKS is not bounded by the boxes' overlap).
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    keys = _keys(class_agnostic)
    gcode, dcode, n_groups = _group_codes(gt, dt, keys)

    # Order: gt by (group, crowd, id), dt by (group, -score, id).
    g_order = np.lexsort((gt.id, gt.crowd, gcode))
    d_order = np.lexsort((dt.id, -dt.score, dcode))
    gt, dt = gt.take(g_order), dt.take(d_order)
    gcode, dcode = gcode[g_order], dcode[d_order]

    # At most max_dets predictions per group (COCO's maxDets), the best-scored.
    dropped = 0
    d_count = np.bincount(dcode, minlength=n_groups)
    d_start = np.concatenate([[0], np.cumsum(d_count)[:-1]]).astype(np.int64)
    if max_dets is not None and len(dt):
        rank = np.arange(len(dt)) - d_start[dcode]
        keep = rank < max_dets
        dropped = int((~keep).sum())
        if dropped:
            idx = np.flatnonzero(keep)
            dt, dcode = dt.take(idx), dcode[idx]
            d_count = np.bincount(dcode, minlength=n_groups)
            d_start = np.concatenate([[0], np.cumsum(d_count)[:-1]]).astype(np.int64)
    g_count = np.bincount(gcode, minlength=n_groups)
    g_start = np.concatenate([[0], np.cumsum(g_count)[:-1]]).astype(np.int64)

    low = float(thresholds.min()) if len(thresholds) else 1.0
    if keep_below is not None:
        low = min(low, keep_below)
    e_d, e_g, e_iou = _edges(gt, dt, dcode, g_count, g_start, low, mask_iou, oks)

    nt, nd, ng = len(thresholds), len(dt), len(gt)
    dt_match = np.full((nt, nd), -1, np.int64)
    dt_ignore = np.zeros((nt, nd), bool)
    dt_iou = np.zeros((nt, nd))
    gt_matched = np.zeros((nt, ng), bool)
    if len(e_d):
        # Each prediction's edges together, best first: IoU descending, then the later reference.
        order = np.lexsort((-e_g, -e_iou, e_d))
        e_d, e_g, e_iou = e_d[order], e_g[order], e_iou[order]
        e_crowd = gt.crowd[e_g]
        for ti, t in enumerate(thresholds):
            thr = min(t, 1 - 1e-10)  # as pycocotools
            ok = e_iou >= thr
            _greedy(e_d[ok & ~e_crowd], e_g[ok & ~e_crowd], e_iou[ok & ~e_crowd],
                    nd, ng, dt_match[ti], dt_iou[ti])  # fmt: skip
            # Crowd references: for predictions left unmatched, the best crowd one.
            sel = ok & e_crowd
            if sel.any():
                cd, cg, ci = e_d[sel], e_g[sel], e_iou[sel]
                free = dt_match[ti][cd] < 0
                cd, cg, ci = cd[free], cg[free], ci[free]
                first = np.ones(len(cd), bool)
                first[1:] = cd[1:] != cd[:-1]
                dt_match[ti][cd[first]] = cg[first]
                dt_iou[ti][cd[first]] = ci[first]
                dt_ignore[ti][cd[first]] = True
            m = dt_match[ti]
            gt_matched[ti][m[(m >= 0) & ~dt_ignore[ti]]] = True
    return Matches(
        thresholds, gt, dt, dt_match, dt_ignore, dt_iou, gt_matched, dropped, (e_d, e_g, e_iou)
    )


def _greedy(
    d: np.ndarray,
    g: np.ndarray,
    iou: np.ndarray,
    nd: int,
    ng: int,
    dt_match: np.ndarray,
    dt_iou: np.ndarray,
) -> None:
    """COCO's greedy rule over edges sorted by (dt, best first), in rounds (see module doc)."""
    gt_taken = np.zeros(ng, bool)
    decided = np.zeros(nd, bool)
    minrank = np.full(ng, _BIG, np.int64)
    while len(d):
        minrank[g] = _BIG
        np.minimum.at(minrank, g, d)
        blocked = np.zeros(nd, bool)
        blocked[d[minrank[g] < d]] = True
        first = np.ones(len(d), bool)
        first[1:] = d[1:] != d[:-1]
        choose = first & ~blocked[d]
        cd, cg = d[choose], g[choose]
        dt_match[cd] = cg
        dt_iou[cd] = iou[choose]
        gt_taken[cg] = True
        decided[cd] = True
        keep = ~(decided[d] | gt_taken[g])
        d, g, iou = d[keep], g[keep], iou[keep]


def _edges(
    gt: Shapes,
    dt: Shapes,
    dcode: np.ndarray,
    g_count: np.ndarray,
    g_start: np.ndarray,
    low: float,
    mask_iou: Callable[..., Any] | None,
    oks: Callable[..., Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (dt, gt) pair of a group with IoU >= low (and > 0), in chunks of PAIR_CHUNK.

    Only references whose x range can overlap a prediction's enough are paired with it: IoU >= t
    needs an overlap in x of at least t times the prediction's width (crowd or not), so the
    reference's x_min lies in [x0 + t*w - W, x1 - t*w], W the widest reference of the group.
    The references of each group sorted by x_min give that window by binary search."""
    nd = len(dt)
    if nd == 0 or len(gt) == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    n_groups = len(g_count)
    gcode = np.repeat(np.arange(n_groups), g_count)
    t = 0.0 if mask_iou is not None else max(min(low, 1.0), 0.0)
    xs = np.concatenate([gt.box[:, [0, 2]].ravel(), dt.box[:, [0, 2]].ravel()])
    x_min, span = float(xs.min()), float(xs.max() - xs.min())
    gw = gt.box[:, 2] - gt.box[:, 0]
    widest = np.zeros(n_groups)
    np.maximum.at(widest, gcode, gw)
    offset = 4.0 * (span + 1.0)
    margin = 1e-6 * (span + 1.0) + 1e-9
    if oks is None and offset * n_groups < 2.0**50:
        perm = np.lexsort((gt.box[:, 0], gcode))
        keys = gcode[perm] * offset + (gt.box[perm, 0] - x_min)
        dw = dt.box[:, 2] - dt.box[:, 0]
        base = dcode * offset - x_min
        lo = np.searchsorted(keys, base + dt.box[:, 0] + t * dw - widest[dcode] - margin, "left")
        hi = np.searchsorted(keys, base + dt.box[:, 2] - t * dw + margin, "right")
        hi = np.maximum(hi, lo)
    else:  # coordinates too far apart for one key: every pair of the group
        perm = np.arange(len(gt))
        lo = g_start[dcode]
        hi = lo + g_count[dcode]
    per_dt = hi - lo
    ends = np.cumsum(per_dt)
    out_d, out_g, out_i = [], [], []
    start_dt = 0
    thr = min(low, 1 - 1e-10)
    while start_dt < nd:
        base_n = ends[start_dt - 1] if start_dt else 0
        stop_dt = int(np.searchsorted(ends, base_n + PAIR_CHUNK, side="right"))
        stop_dt = max(stop_dt, start_dt + 1)
        counts = per_dt[start_dt:stop_dt]
        total = int(counts.sum())
        if total:
            di = np.repeat(np.arange(start_dt, stop_dt, dtype=np.int64), counts)
            offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            gi = perm[lo[di] + offs]
            crowd = gt.crowd[gi]
            if oks is not None:
                iou = oks(gt, dt, gi, di)
            else:
                iou = box_iou_pairs(dt.box[di], gt.box[gi], crowd)
            if mask_iou is not None and oks is None:
                near = np.flatnonzero(iou > 0)
                di, gi, crowd = di[near], gi[near], crowd[near]
                iou = mask_iou(gt, dt, gi, di, crowd)
            keep = iou >= thr
            keep &= iou > 0
            out_d.append(di[keep])
            out_g.append(gi[keep])
            out_i.append(iou[keep])
        start_dt = stop_dt
    if not out_d:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    return np.concatenate(out_d), np.concatenate(out_g), np.concatenate(out_i)
