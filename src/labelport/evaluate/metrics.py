"""Metrics from `Matches`: COCO's AP (101-point), precision / recall / F1 at one threshold, per
file counts, the confusion table and, for video, where tracks are lost or switch identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from labelport.evaluate.matching import IOU_THRESHOLDS, RECALL_THRESHOLDS, Matches, match

_EPS = np.spacing(1)


@dataclass
class CocoCurves:
    """pycocotools' `eval['precision']` [T, R, K] and `eval['recall']` [T, K] for one area range
    and one maxDets, K = `labels` in order; -1 where a label has no (non-crowd) reference."""

    labels: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray  # [T, R, K]: the score at each recall threshold (0 past the curve)

    def ap(self, k: int | None = None, t: int | None = None) -> float:
        """Mean of the valid precision entries: overall (k=None) or one label; all thresholds
        (t=None) or one (t=0 is AP at 0.5). -1 when nothing is valid, as pycocotools."""
        p = self.precision
        p = p if t is None else p[t : t + 1]
        p = p if k is None else p[:, :, k]
        valid = p[p > -1]
        return float(valid.mean()) if valid.size else -1.0

    def mean_recall(self, k: int | None = None, t: int | None = None) -> float:
        r = self.recall
        r = r if t is None else r[t : t + 1]
        r = r if k is None else r[:, k]
        valid = r[r > -1]
        return float(valid.mean()) if valid.size else -1.0


def _label_order(m: Matches) -> np.ndarray:
    """Predictions ordered by (label, score descending, file, frame, id): within a label, the
    order pycocotools' accumulate() gives them (a stable sort by score of images in id order)."""
    dt = m.dt
    return np.lexsort((dt.id, dt.frame, dt.file, -dt.score, dt.label))


def coco_curves(m: Matches, labels: np.ndarray | None = None) -> CocoCurves:
    """pycocotools' accumulate() for `m` (matched at IOU_THRESHOLDS)."""
    gt, dt = m.gt, m.dt
    if labels is None:
        labels = np.unique(np.concatenate([gt.label, dt.label]))
    # the first thresholds must be COCO's (more may follow, e.g. the user's own)
    nt, nr, nk = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(labels)
    assert np.array_equal(m.thresholds[:nt], IOU_THRESHOLDS)
    precision = -np.ones((nt, nr, nk))
    recall = -np.ones((nt, nk))
    scores = -np.ones((nt, nr, nk))
    order = _label_order(m)
    sorted_labels = dt.label[order]
    bounds = (
        np.searchsorted(sorted_labels, labels, side="left"),
        np.searchsorted(sorted_labels, labels, side="right"),
    )
    npig_all = (
        np.bincount(np.searchsorted(labels, gt.label[~gt.crowd]), minlength=nk)
        if len(gt)
        else np.zeros(nk, np.int64)
    )
    for k in range(nk):
        npig = int(npig_all[k])
        if npig == 0:
            continue
        idx = order[bounds[0][k] : bounds[1][k]]
        matched = m.dt_match[:, idx] >= 0
        ignored = m.dt_ignore[:, idx]
        tps = matched & ~ignored
        fps = ~matched & ~ignored
        tp_sum = np.cumsum(tps, axis=1).astype(np.float64)
        fp_sum = np.cumsum(fps, axis=1).astype(np.float64)
        nd = len(idx)
        sc = dt.score[idx]
        for t in range(nt):
            tp, fp = tp_sum[t], fp_sum[t]
            rc = tp / npig
            pr = tp / (fp + tp + _EPS)
            recall[t, k] = rc[-1] if nd else 0.0
            q = np.zeros(nr)
            ss = np.zeros(nr)
            if nd:
                pr = np.maximum.accumulate(pr[::-1])[::-1]
                inds = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
                ok = inds < nd
                q[ok] = pr[inds[ok]]
                ss[ok] = sc[inds[ok]]
            precision[t, :, k] = q
            scores[t, :, k] = ss
    return CocoCurves(labels, precision, recall, scores)


def counts_at(m: Matches, t: int = 0, score_min: float = 0.0) -> dict[str, np.ndarray]:
    """Per-instance outcome at threshold index `t`, keeping predictions scored >= score_min:
    `tp` / `fp` (predictions), `fn` (references), `ignored` (took a crowd reference)."""
    kept = m.dt.score >= score_min
    matched = m.dt_match[t] >= 0
    ignored = m.dt_ignore[t] & kept
    tp = matched & ~m.dt_ignore[t] & kept
    fp = ~matched & kept
    gt_tp = np.zeros(len(m.gt), bool)
    gt_tp[m.dt_match[t][tp]] = True
    fn = ~gt_tp & ~m.gt.crowd
    return {"tp": tp, "fp": fp, "ignored": ignored, "fn": fn, "gt_tp": gt_tp}


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int | None]:
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * p * r / (p + r)
        if p is not None and r is not None and p + r > 0
        else (0.0 if p is not None and r is not None else None)
    )
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f1}


def per_label(m: Matches, c: dict[str, np.ndarray], curves: CocoCurves) -> list[dict[str, object]]:
    """One row per label: counts, precision, recall, F1 at the chosen threshold; AP, AP50."""
    labels = curves.labels
    nk = len(labels)

    def count(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(labels, values[mask]), minlength=nk)

    tp = count(m.dt.label, c["tp"])
    fp = count(m.dt.label, c["fp"])
    fn = count(m.gt.label, c["fn"])
    refs = count(m.gt.label, ~m.gt.crowd)
    preds = count(m.dt.label, np.ones(len(m.dt), bool))
    rows: list[dict[str, Any]] = []
    for k, label in enumerate(labels.tolist()):
        row = prf(int(tp[k]), int(fp[k]), int(fn[k]))
        ap, ap50 = curves.ap(k), curves.ap(k, 0)
        row.update(
            label_id=None if label < 0 else label,
            references=int(refs[k]),
            predictions=int(preds[k]),
            ap=None if ap < 0 else ap,
            ap50=None if ap50 < 0 else ap50,
        )
        rows.append(row)
    return rows


def pr_curve(curves: CocoCurves, k: int, t: int = 0) -> list[list[float]]:
    """The interpolated curve of label k at threshold index t: [[recall, precision, score]...],
    only where precision is defined (to the last recall reached)."""
    if curves.precision[t, 0, k] < 0:
        return []
    p = curves.precision[t, :, k]
    s = curves.scores[t, :, k]
    reached = curves.recall[t, k]
    return [
        [round(float(r), 4), round(float(p[i]), 6), round(float(s[i]), 6)]
        for i, r in enumerate(RECALL_THRESHOLDS)
        if r <= reached + 1e-12
    ]


def per_file(m: Matches, c: dict[str, np.ndarray]) -> dict[int, tuple[int, int, int]]:
    """{file id: (tp, fp, fn)} for every file that has a prediction or a reference."""
    files = np.unique(np.concatenate([m.gt.file, m.dt.file]))

    def count(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(files, values[mask]), minlength=len(files))

    tp = count(m.dt.file, c["tp"])
    fp = count(m.dt.file, c["fp"])
    fn = count(m.gt.file, c["fn"])
    return {
        int(f): (int(a), int(b), int(x))
        for f, a, b, x in zip(files.tolist(), tp.tolist(), fp.tolist(), fn.tolist(), strict=True)
    }


def confusion(
    m: Matches, c: dict[str, np.ndarray], iou: float, **similarity: Any
) -> list[list[int | None]]:
    """[prediction label, reference label, count]: the diagonal is each label's true positives;
    then the false positives are matched (same greedy rule, any label) to the references nobody
    found: a pair is a confusion of one label for another; what is left is a prediction of
    nothing (reference None) or a reference nobody predicted (prediction None)."""
    dt, gt = m.dt, m.gt
    rows: list[list[int | None]] = []
    u, n = np.unique(dt.label[c["tp"]], return_counts=True)
    rows += [[int(a), int(a), int(x)] for a, x in zip(u.tolist(), n.tolist(), strict=True)]
    fp, fn = np.flatnonzero(c["fp"]), np.flatnonzero(c["fn"])
    crossed = match(gt.take(fn), dt.take(fp), [iou], max_dets=None, class_agnostic=True,
                    **similarity)  # fmt: skip
    took = crossed.dt_match[0] >= 0
    pairs = np.stack([crossed.dt.label[took], crossed.gt.label[crossed.dt_match[0][took]]], 1)
    if len(pairs):
        uniq, n = np.unique(pairs, axis=0, return_counts=True)
        for (a, b), x in zip(uniq.tolist(), n.tolist(), strict=True):
            rows.append([int(a), int(b), int(x)])
    left_gt = np.ones(len(crossed.gt), bool)
    left_gt[crossed.dt_match[0][took]] = False
    for values, side in ((crossed.dt.label[~took], 0), (crossed.gt.label[left_gt], 1)):
        u, n = np.unique(values, return_counts=True)
        for v, x in zip(u.tolist(), n.tolist(), strict=True):
            rows.append([int(v), None, int(x)] if side == 0 else [None, int(v), int(x)])
    return [[None if a is not None and a < 0 else a, None if b is not None and b < 0 else b, x]
            for a, b, x in rows]  # fmt: skip


def tracks(m: Matches, c: dict[str, np.ndarray], t: int = 0, limit: int = 200) -> dict[str, object]:
    """For video references with a sequence: the frames where the predicted track is lost (the
    reference was found on its previous frame, not on this one) or switches identity (found by
    another predicted sequence than the last one that found it)."""
    gt = m.gt
    seq = gt.sequence
    sel = np.flatnonzero((seq >= 0) & (gt.frame >= 0) & ~gt.crowd)
    out: dict[str, object] = {"sequences": [], "lost": 0, "switches": 0, "sequence_count": 0}
    if not len(sel):
        return out
    sel = sel[np.lexsort((gt.frame[sel], seq[sel]))]
    s, fr = seq[sel], gt.frame[sel]
    found = c["gt_tp"][sel]
    # the predicted sequence that found each reference
    by = np.full(len(m.gt), -1, np.int64)
    tp = c["tp"]
    by[m.dt_match[t][tp]] = m.dt.sequence[tp]  # c was counted at threshold index t
    pseq = by[sel]
    start = np.ones(len(sel), bool)
    start[1:] = s[1:] != s[:-1]
    prev_found = np.zeros(len(sel), bool)
    prev_found[1:] = found[:-1]
    lost = ~start & prev_found & ~found
    # the last predicted sequence that found it, carried forward within the reference track
    pos = np.where(found, np.arange(len(sel)), -1)
    seg_start = np.maximum.accumulate(np.where(start, np.arange(len(sel)), 0))
    last = np.maximum.accumulate(pos)
    last_before = np.full(len(sel), -1)
    last_before[1:] = last[:-1]
    last_before[last_before < seg_start] = -1
    switch = found & (last_before >= 0) & (pseq != pseq[np.maximum(last_before, 0)])
    rows = []
    seq_ids, first = np.unique(s, return_index=True)
    ends = np.append(first[1:], len(s))
    for sid, a, b in zip(seq_ids.tolist(), first.tolist(), ends.tolist(), strict=True):
        lf, sf = fr[a:b][lost[a:b]], fr[a:b][switch[a:b]]
        rows.append(
            {
                "sequence_id": int(sid),
                "file_id": int(gt.file[sel[a]]),
                "label_id": int(gt.label[sel[a]]),
                "frames": int(b - a),
                "found": int(found[a:b].sum()),
                "lost_frames": lf.tolist()[:limit],
                "switch_frames": sf.tolist()[:limit],
            }
        )
    rows.sort(key=lambda r: -(len(r["lost_frames"]) + len(r["switch_frames"])))
    out.update(
        sequences=rows[:limit],
        sequence_count=len(rows),
        lost=int(lost.sum()),
        switches=int(switch.sum()),
    )
    return out


def threshold_index(iou: float) -> int | None:
    hits = np.flatnonzero(np.isclose(IOU_THRESHOLDS, iou, rtol=0, atol=1e-12))
    return int(hits[0]) if len(hits) else None
