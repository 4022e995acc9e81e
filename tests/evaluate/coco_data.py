"""Generated detection data (overlaps, crowds, empty files, one-sided labels) in both shapes:
labelport's `Shapes` and pycocotools' dicts."""

from __future__ import annotations

import numpy as np

from labelport.evaluate.matching import Shapes


def generate(seed: int, images: int = 40, labels: int = 5, tie_scores: bool = False):
    """(gt rows, dt rows): lists of dicts with image, label, x, y, w, h (+ crowd / score)."""
    rng = np.random.default_rng(seed)
    gts, dts = [], []
    for image in range(1, images + 1):
        kind = rng.random()
        if kind < 0.1:
            continue  # an empty file
        crowded = kind > 0.8
        n = int(rng.integers(0, 40 if crowded else 8))
        for _ in range(n):
            # label `labels` (the last) only ever has references, label 0 never appears as one
            label = int(rng.integers(1, labels + 1))
            w, h = rng.uniform(5, 80, 2)
            if crowded:  # many shapes packed in a small area: lots of overlaps
                x, y = rng.uniform(0, 60, 2)
            else:
                x, y = rng.uniform(0, 400, 2)
            crowd = bool(rng.random() < 0.05)
            if crowd:
                w, h = w * 3, h * 3
            gts.append({"image": image, "label": label, "x": x, "y": y, "w": w, "h": h,
                        "crowd": crowd})  # fmt: skip
            # a prediction near it, sometimes two (a duplicate), sometimes none
            for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
                jitter = rng.normal(0, 0.15, 4) * np.array([w, h, w, h])
                plabel = label if rng.random() < 0.9 else int(rng.integers(0, labels))
                if plabel == labels:
                    plabel = 0  # label 0: predictions only
                dts.append({
                    "image": image, "label": plabel, "x": x + jitter[0], "y": y + jitter[1],
                    "w": max(w + jitter[2], 1.0), "h": max(h + jitter[3], 1.0),
                })  # fmt: skip
        for _ in range(int(rng.integers(0, 6))):  # false positives anywhere
            w, h = rng.uniform(5, 80, 2)
            x, y = rng.uniform(0, 400, 2)
            label = int(rng.integers(0, labels))
            dts.append({"image": image, "label": label, "x": x, "y": y, "w": w, "h": h})
    for r in gts + dts:
        for key in ("x", "y", "w", "h"):
            r[key] = float(r[key])
    for d in dts:
        s = rng.random()
        d["score"] = round(float(s), 1) if tie_scores else float(s)
    return gts, dts


def to_shapes(rows: list[dict], *, gt: bool) -> Shapes:
    n = len(rows)
    box = np.array([[r["x"], r["y"], r["x"] + r["w"], r["y"] + r["h"]] for r in rows]).reshape(n, 4)
    return Shapes(
        file=np.array([r["image"] for r in rows], np.int64),
        frame=np.full(n, -1, np.int64),
        label=np.array([r["label"] for r in rows], np.int64),
        box=box,
        id=np.arange(1, n + 1, dtype=np.int64),
        score=np.array([r.get("score", 0.0) for r in rows], np.float64),
        crowd=np.array([r.get("crowd", False) for r in rows], bool),
        sequence=np.full(n, -1, np.int64),
    )


def to_coco(gts: list[dict], dts: list[dict], images: int, labels: int):
    """(ground-truth dataset dict, results list) for pycocotools."""
    dataset = {
        "images": [{"id": i, "width": 500, "height": 500} for i in range(1, images + 1)],
        "categories": [{"id": k, "name": str(k)} for k in range(0, labels + 1)],
        "annotations": [
            {"id": i, "image_id": r["image"], "category_id": r["label"],
             "bbox": [r["x"], r["y"], r["w"], r["h"]], "area": r["w"] * r["h"],
             "iscrowd": int(r["crowd"])}
            for i, r in enumerate(gts, start=1)
        ],
    }  # fmt: skip
    results = [
        {"image_id": r["image"], "category_id": r["label"],
         "bbox": [r["x"], r["y"], r["w"], r["h"]], "score": r["score"]}
        for r in dts
    ]  # fmt: skip
    return dataset, results
