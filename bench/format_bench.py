"""Format bench: decode + every media-free check of 1,000,000 boxes, against orjson.loads.

Run: python bench/format_bench.py [--frames 10000] [--per-frame 100]

The payload is built, and each measurement runs, in a fresh child process each, so that a peak
RSS (resource.getrusage ru_maxrss) belongs to that measurement alone: a forked child inherits the
parent's resident size as its starting high-water mark, so the parent stays small.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LABELS = [f"label_{i:02d}" for i in range(50)]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
data = Path(sys.argv[1]).read_bytes()
what = sys.argv[2]
if what == "orjson":
    import orjson
    start = time.perf_counter()
    obj = orjson.loads(data)
    seconds = time.perf_counter() - start
    extra = {}
else:
    from labelport.format import LabelIndex, check_packet, decode_packet
    labels = LabelIndex.from_names(json.loads(sys.argv[3]))
    start = time.perf_counter()
    packet, report = decode_packet(data)
    check_packet(packet, labels=labels, report=report)
    seconds = time.perf_counter() - start
    extra = {"problems": report.problem_count, "instances": report.counts["instances"],
             "sequences": report.counts.get("sequences")}
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_rss": rss, **extra}))
"""


def build(frames: int, per_frame: int) -> bytes:
    import orjson

    rng = random.Random(1)
    uniform = rng.uniform
    fpm = {}
    for frame in range(frames):
        instances = []
        for j in range(per_frame):
            x, y = uniform(0, 1800), uniform(0, 1000)
            instances.append(
                {
                    "name": LABELS[j % 50],
                    "type": "box",
                    "number": j + 1,
                    "x_min": round(x, 2),
                    "y_min": round(y, 2),
                    "x_max": round(x + uniform(1, 100), 2),
                    "y_max": round(y + uniform(1, 60), 2),
                }
            )
        fpm[frame] = instances
    packet = {
        "media": {"url": "https://example.com/v.mp4", "type": "video"},
        "frame_packet_map": fpm,
    }
    return orjson.dumps(packet, option=orjson.OPT_NON_STR_KEYS)


def child(path: Path, what: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), what, json.dumps(LABELS)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--per-frame", type=int, default=100)
    parser.add_argument("--build-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_into:
        args.build_into.write_bytes(build(args.frames, args.per_frame))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "packet.json"
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--frames",
                str(args.frames),
                "--per-frame",
                str(args.per_frame),
                "--build-into",
                str(path),
            ],
            check=True,
        )
        built = time.perf_counter() - start
        size = path.stat().st_size
        baseline = child(path, "orjson")
        ours = child(path, "labelport")
    ratio = ours["seconds"] / baseline["seconds"]
    rss_ratio = ours["peak_rss"] / size
    n = args.frames * args.per_frame
    print(
        f"instances            {n:,} boxes ({args.frames:,} frames x {args.per_frame}, 50 labels)"
    )
    print(f"payload              {size / 1e6:.1f} MB (built in {built:.1f} s)")
    print(
        f"orjson.loads         {baseline['seconds']:.3f} s  "
        f"(peak RSS {baseline['peak_rss'] / 1e6:.0f} MB)"
    )
    print(
        f"decode + checks      {ours['seconds']:.3f} s  ({ours['problems']} problems, "
        f"{ours['instances']:,} instances, {ours['sequences']} sequences)"
    )
    print(f"ratio                {ratio:.2f}  (goal <= 1.0)")
    print(
        f"peak RSS             {ours['peak_rss'] / 1e6:.0f} MB = {rss_ratio:.2f} x payload  "
        "(goal <= 4)"
    )


if __name__ == "__main__":
    main()
