"""Evaluate bench: a model run against the people's boxes, labelport (from the database, end to end)
against pycocotools' COCOeval (from in-memory dicts) on the same boxes, in the same run.

Workload (default): 10,000 images of 640x640, 100 reference boxes each (1,000,000) in 10 labels,
and 100 scored predictions each (1,000,000): 80 jittered copies of references (5 % with another
label) and 20 boxes anywhere. Loaded once into a project through the batch path
(`Service.submit_batch`, one NDJSON packet per image, media by reference from a folder of
generated PNGs); the data directory is kept and reused (`--work`).

Measured, each in its own child process (time, peak RSS = the child's ru_maxrss):
- labelport: `evaluate_and_store` — one streamed query per side, matching at COCO's ten IoU
  thresholds (+ the class-agnostic matching of the confusion table), AP / P / R / F1, per-file
  counts, stored with its per-file rows.
- cocoeval: `COCOeval.evaluate()` + `accumulate()` with the same parameters (iouType bbox, one
  area range "all", maxDets [100]); building the COCO index (createIndex, loadRes) is reported
  apart and not counted.
Goal: labelport <= 0.5x COCOeval's time. Both AP figures are printed: they must agree.

    .venv/bin/python bench/evaluate_bench.py --images 200            # check the script
    .venv/bin/python bench/evaluate_bench.py                          # 10,000 images, 2M boxes
    .venv/bin/python bench/evaluate_bench.py --database-url postgresql://root@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZE = 640
PER_IMAGE = 100
TRUE_PER_IMAGE = 80
LABELS = 10


def generate(images: int, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(references, predictions) as columns: image (1-based), label, x0, y0, x1, y1[, score]."""
    rng = np.random.default_rng(seed)
    n = images * PER_IMAGE
    image = np.repeat(np.arange(1, images + 1), PER_IMAGE)
    w, h = rng.uniform(10, 80, n), rng.uniform(10, 80, n)
    x, y = rng.uniform(0, SIZE - 90, n), rng.uniform(0, SIZE - 90, n)
    gt = {"image": image, "label": rng.integers(0, LABELS, n),
          "x0": x, "y0": y, "x1": x + w, "y1": y + h}  # fmt: skip
    per = np.arange(n) % PER_IMAGE
    true = per < TRUE_PER_IMAGE
    jitter = rng.normal(0, 0.08, (n, 4)) * np.stack([w, h, w, h], axis=1)
    dx0 = np.where(true, x + jitter[:, 0], rng.uniform(0, SIZE - 90, n))
    dy0 = np.where(true, y + jitter[:, 1], rng.uniform(0, SIZE - 90, n))
    dw = np.where(true, np.maximum(w + jitter[:, 2], 2), rng.uniform(10, 80, n))
    dh = np.where(true, np.maximum(h + jitter[:, 3], 2), rng.uniform(10, 80, n))
    flip = (rng.random(n) < 0.05) | ~true
    label = np.where(flip, rng.integers(0, LABELS, n), gt["label"])
    dt = {"image": image, "label": label,
          "x0": np.clip(dx0, 0, SIZE - 1), "y0": np.clip(dy0, 0, SIZE - 1),
          "x1": np.clip(dx0 + dw, 1, SIZE - 1), "y1": np.clip(dy0 + dh, 1, SIZE - 1),
          "score": rng.random(n)}  # fmt: skip
    return gt, dt


# --- loading the project ------------------------------------------------------------------


def _images(folder: Path, images: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, images + 1):
        path = folder / f"img{i:05d}.png"
        if not path.exists():
            img = Image.new("L", (SIZE, SIZE), 0)
            img.putpixel((i % SIZE, (i // SIZE) % SIZE), 255)  # each file different
            img.save(path, optimize=False, compress_level=1)


def _packets(folder: Path, gt: dict, dt: dict, images: int, out: Path) -> None:
    import msgspec

    enc = msgspec.json.Encoder()
    starts = np.arange(images + 1) * PER_IMAGE
    names = [f"c{k}" for k in range(LABELS)]
    with open(out, "wb") as f:
        for i in range(images):
            a, b = starts[i], starts[i + 1]
            inst = [
                {"type": "box", "name": names[lab], "x_min": x0, "y_min": y0, "x_max": x1,
                 "y_max": y1, "machine_made": False}
                for lab, x0, y0, x1, y1 in zip(gt["label"][a:b].tolist(), gt["x0"][a:b].tolist(),
                    gt["y0"][a:b].tolist(), gt["x1"][a:b].tolist(), gt["y1"][a:b].tolist(),
                    strict=True)
            ] + [
                {"type": "box", "name": names[lab], "x_min": x0, "y_min": y0, "x_max": x1,
                 "y_max": y1, "model_ref": "detector", "model_run_ref": "bench", "score": s}
                for lab, x0, y0, x1, y1, s in zip(dt["label"][a:b].tolist(),
                    dt["x0"][a:b].tolist(), dt["y0"][a:b].tolist(), dt["x1"][a:b].tolist(),
                    dt["y1"][a:b].tolist(), dt["score"][a:b].tolist(), strict=True)
            ]  # fmt: skip
            path = folder / f"img{i + 1:05d}.png"
            packet = {"media": {"url": path.resolve().as_uri(), "type": "image"},
                      "original_filename": path.name, "instance_list": inst}  # fmt: skip
            f.write(enc.encode(packet) + b"\n")


def load(args: argparse.Namespace) -> dict:
    from labelport.service import Service

    work = Path(args.work)
    folder = work / "media"
    svc = Service.open(data_dir=work / "data", database_url=args.database_url,
                       media_roots=[folder], workers=2)  # fmt: skip
    try:
        name = f"evaluate-bench-{args.images}"
        try:
            project = svc.get_project(name)
            runs = svc.store.list_model_runs(project["id"])
            if runs:
                return {"project_id": project["id"], "run_id": runs[0].id, "loaded": None}
        except Exception:
            project = svc.create_project(name, string_id=name)
            svc.create_labels(project["id"], [f"c{k}" for k in range(LABELS)])
        t0 = time.perf_counter()
        _images(folder, args.images)
        gt, dt = generate(args.images, args.seed)
        ndjson = work / f"packets-{args.images}.ndjson"
        _packets(folder, gt, dt, args.images, ndjson)
        t1 = time.perf_counter()
        load1 = os.getloadavg()[0]
        with open(ndjson, "rb") as body:
            batch = svc.submit_batch(project["id"], body, media="reference")
        done = svc.wait_batch(project["id"], batch["id"], timeout=7200)
        t2 = time.perf_counter()
        assert done["status"] == "success", done
        runs = svc.store.list_model_runs(project["id"])
        return {
            "project_id": project["id"],
            "run_id": runs[0].id,
            "loaded": {"generate_s": round(t1 - t0, 1), "import_s": round(t2 - t1, 1),
                       "boxes_per_s": round(2 * args.images * PER_IMAGE / (t2 - t1)),
                       "loadavg_1m": [round(load1, 2), round(os.getloadavg()[0], 2)]},
        }  # fmt: skip
    finally:
        svc.close()


# --- the two measurements (children) --------------------------------------------------------


def child_labelport(args: argparse.Namespace) -> dict:
    from labelport.evaluate.run import evaluate_and_store
    from labelport.store import Store

    url = args.database_url or f"sqlite:///{Path(args.work) / 'data' / 'labelport.db'}"
    store = Store.open(url)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        ev = evaluate_and_store(store, args.project_id, args.run_id)
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        store.close()
    o = ev.results["overall"]
    return {
        "seconds": took,
        "timed_cpu_s": cpu,
        "ap": o["ap"],
        "ap50": o["ap50"],
        "recall": o["recall"],
        "timings": ev.results["timings"],
        "files": ev.file_count,
    }


def child_cocoeval(args: argparse.Namespace) -> dict:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, dt = generate(args.images, args.seed)
    t0 = time.perf_counter()
    dataset = {
        "images": [{"id": i, "width": SIZE, "height": SIZE} for i in range(1, args.images + 1)],
        "categories": [{"id": k, "name": f"c{k}"} for k in range(LABELS)],
        "annotations": [
            {"id": n, "image_id": i, "category_id": c, "bbox": [x0, y0, x1 - x0, y1 - y0],
             "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}
            for n, (i, c, x0, y0, x1, y1) in enumerate(zip(gt["image"].tolist(),
                gt["label"].tolist(), gt["x0"].tolist(), gt["y0"].tolist(), gt["x1"].tolist(),
                gt["y1"].tolist(), strict=True), start=1)
        ],
    }  # fmt: skip
    results = [
        {"image_id": i, "category_id": c, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": s}
        for i, c, x0, y0, x1, y1, s in zip(dt["image"].tolist(), dt["label"].tolist(),
            dt["x0"].tolist(), dt["y0"].tolist(), dt["x1"].tolist(), dt["y1"].tolist(),
            dt["score"].tolist(), strict=True)
    ]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.params.maxDets = [100]
        t1, c1 = time.perf_counter(), time.process_time()
        ev.evaluate()
        ev.accumulate()
        t2, c2 = time.perf_counter(), time.process_time()
    p = ev.eval["precision"][:, :, :, 0, 0]
    r = ev.eval["recall"][:, :, 0, 0]
    return {
        "seconds": t2 - t1,
        "timed_cpu_s": c2 - c1,
        "index_s": t1 - t0,
        "ap": float(p[p > -1].mean()),
        "ap50": float(p[0][p[0] > -1].mean()),
        "recall50": float(r[0][r[0] > -1].mean()),
    }


def run_child(args: argparse.Namespace, which: str, extra: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--images", str(args.images),
           "--work", args.work, "--seed", str(args.seed),
           "--project-id", str(extra["project_id"]), "--run-id", str(extra["run_id"])]  # fmt: skip
    if args.database_url:
        cmd += ["--database-url", args.database_url]
    load_before = os.getloadavg()[0]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"{which} failed: {out}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024)
    # CPU time of the whole child (user + system): far less noisy than wall time on a shared box
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    result["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--work", default="/tmp/labelport-evaluate-bench")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--child", choices=["labelport", "cocoeval"])
    ap.add_argument("--project-id", type=int)
    ap.add_argument("--run-id", type=int)
    args = ap.parse_args()
    if args.child:
        out = child_labelport(args) if args.child == "labelport" else child_cocoeval(args)
        print(json.dumps(out))
        return
    Path(args.work).mkdir(parents=True, exist_ok=True)
    info = load(args)
    print(json.dumps({"images": args.images, "references": args.images * PER_IMAGE,
                      "predictions": args.images * PER_IMAGE, "load": info["loaded"],
                      "cpus": os.cpu_count()}), flush=True)  # fmt: skip
    for n in range(args.repeat):
        lp = run_child(args, "labelport", info)
        print(json.dumps({"run": n + 1, "labelport": lp}), flush=True)
        coco = run_child(args, "cocoeval", info)
        print(json.dumps({"run": n + 1, "cocoeval": coco}), flush=True)
        ratio = lp["seconds"] / coco["seconds"]
        print(
            f"run {n + 1}: labelport {lp['seconds']:.2f} s (peak {lp['peak_rss_mib']} MiB), "
            f"COCOeval {coco['seconds']:.2f} s (peak {coco['peak_rss_mib']} MiB, index "
            f"{coco['index_s']:.1f} s not counted): {ratio:.3f}x (goal <= 0.5x); CPU time of "
            f"the timed part: labelport {lp['timed_cpu_s']:.1f} s, COCOeval "
            f"{coco['timed_cpu_s']:.1f} s: {lp['timed_cpu_s'] / coco['timed_cpu_s']:.3f}x; "
            f"AP {lp['ap']:.6f} / {coco['ap']:.6f}, AP50 {lp['ap50']:.6f} / {coco['ap50']:.6f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
