"""Convert bench: a generated COCO file of 50,000 images and 1,000,000 boxes.

Run: python bench/convert_bench.py [--images 50000] [--boxes 1000000] [--import-images 2000]

Measures, each in its own fresh child process (so that its peak RSS, ru_maxrss, is its own):
1. conversion alone: `labelport.convert.coco.read` over the whole file, every item's instance
   dicts built (boxes/s, peak RSS);
2. pycocotools: `COCO(path)` on the same file (its load + index), for the ratio;
3. the whole `labelport import` (the CLI, embedded SQLite, 2 worker threads): on the first
   `--import-images` images (a COCO file cut from the same data), because a full 50,000-file
   import runs ~30 packets/s on 2 shared cores (~30 minutes); say so when reporting.

The images are one tiny PNG written once and hard-linked under 50,000 names.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LABELS = [f"label_{i:02d}" for i in range(80)]

CONVERT = r"""
import resource, sys, time
from pathlib import Path
from labelport.convert import coco
from labelport.convert.model import Conversion
path = Path(sys.argv[1])
start = time.perf_counter()
conv = Conversion()
items = boxes = 0
for item in coco.read(path, conv):
    items += 1
    boxes += len(item.instances)
seconds = time.perf_counter() - start
print(items, boxes, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

PYCOCO = r"""
import contextlib, io, resource, sys, time
from pycocotools.coco import COCO
start = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    coco = COCO(sys.argv[1])
seconds = time.perf_counter() - start
print(len(coco.imgs), len(coco.anns), seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def generate(root: Path, images: int, boxes: int, seed: int = 1) -> Path:
    from PIL import Image

    rng = random.Random(seed)
    image_dir = root / "images"
    image_dir.mkdir(parents=True)
    Image.new("RGB", (640, 480), (90, 120, 150)).save(root / "one.png")
    for n in range(images):
        os.link(root / "one.png", image_dir / f"{n:06d}.png")
    path = root / "instances.json"
    with open(path, "w") as out:
        out.write('{"images":[')
        out.write(",".join(
            f'{{"id":{n},"file_name":"{n:06d}.png","width":640,"height":480}}'
            for n in range(images)
        ))  # fmt: skip
        out.write('],"categories":[')
        out.write(",".join(f'{{"id":{n},"name":"{name}"}}' for n, name in enumerate(LABELS)))
        out.write('],"annotations":[')
        for n in range(boxes):
            x, y = round(rng.uniform(0, 600), 2), round(rng.uniform(0, 440), 2)
            w, h = round(rng.uniform(1, 640 - x), 2), round(rng.uniform(1, 480 - y), 2)
            area = round(w * h, 2)
            out.write(("," if n else "") + (
                f'{{"id":{n + 1},"image_id":{rng.randrange(images)},'
                f'"category_id":{rng.randrange(len(LABELS))},"bbox":[{x},{y},{w},{h}],'
                f'"area":{area},"iscrowd":0,"segmentation":[]}}'
            ))  # fmt: skip
        out.write("]}")
    return path


def cut(path: Path, images: int, out: Path) -> int:
    data = json.loads(path.read_bytes())
    keep = {img["id"] for img in data["images"][:images]}
    data["images"] = data["images"][:images]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep]
    out.write_text(json.dumps(data))
    return len(data["annotations"])


def child(code: str, *args: str) -> list[float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return [float(v) for v in done.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--boxes", type=int, default=1_000_000)
    parser.add_argument("--import-images", type=int, default=2_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="labelport-convert-bench-"))
    try:
        start = time.perf_counter()
        path = generate(root, args.images, args.boxes)
        size = path.stat().st_size
        print(f"generated {args.images:,} images, {args.boxes:,} boxes: {size / 1e6:.1f} MB "
              f"in {time.perf_counter() - start:.1f} s")  # fmt: skip

        items, boxes, seconds, rss = child(CONVERT, str(path))
        assert (int(items), int(boxes)) == (args.images, args.boxes), (items, boxes)
        print(f"conversion (coco.read, every packet built): {seconds:.2f} s, "
              f"{boxes / seconds:,.0f} boxes/s, peak RSS {rss / 1024:.0f} MB")  # fmt: skip
        _images, p_anns, p_seconds, p_rss = child(PYCOCO, str(path))
        assert int(p_anns) == args.boxes
        print(f"pycocotools COCO(): {p_seconds:.2f} s, {p_anns / p_seconds:,.0f} boxes/s, "
              f"peak RSS {p_rss / 1024:.0f} MB")  # fmt: skip
        print(f"ratio labelport / pycocotools time: {seconds / p_seconds:.2f}")

        part = root / "part.json"
        part_boxes = cut(path, args.import_images, part)
        data_dir = root / "data"
        cli = [sys.executable, "-c", "from labelport.cli import main; main()"]
        subprocess.run([*cli, "project", "create", "bench", "--data-dir", str(data_dir)],
                       check=True, capture_output=True)  # fmt: skip
        command = [*cli, "import", str(part), "--project", "bench", "--data-dir", str(data_dir),
                   "--create-labels", "--json"]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
        summary = json.loads(done.stdout)
        rss_kb = int(done.stderr.strip().splitlines()[-1])
        assert summary["files_ok"] == args.import_images and summary["instances"] == part_boxes, (
            summary
        )
        rate = args.import_images / seconds
        print(f"labelport import of {args.import_images:,} images / {part_boxes:,} boxes: "
              f"{seconds:.1f} s, {part_boxes / seconds:,.0f} boxes/s, {rate:.1f} files/s, "
              f"peak RSS {rss_kb / 1024:.0f} MB")  # fmt: skip
        start = time.perf_counter()
        again = subprocess.run(command, capture_output=True, text=True)
        rerun = json.loads(again.stdout)
        print(f"re-run (idempotent): {time.perf_counter() - start:.1f} s, "
              f"{rerun['files_unchanged']:,} unchanged, {rerun['files_ok']} imported")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
