"""Big-lines bench: a batch whose lines are big packets, and the memory its import holds.

Workload: N lines (default 40 and 80), each an image packet of 100,000 boxes (~9 MB of JSON;
what a long video track or a dense model output sends a line), all for one small JPEG under a
media root, submitted with `Service.submit_batch` (as the HTTP server does with the spooled
body) and waited for, one worker thread, SQLite. Each size runs in its own fresh child process:
its peak RSS (ru_maxrss) is its own, read after the submit and at the end.

What it shows: memory follows the largest group of lines a chunk runs at once (at most 32 MB of
JSON, `ingest/batch.py`), not the batch, so doubling the lines leaves the peak where it was.
The floor is the same process holding one packet (`decode_packet` of one line, in the same run).

    .venv/bin/python bench/big_lines_bench.py                 # 40 and 80 lines
    .venv/bin/python bench/big_lines_bench.py --lines 20 160  # other sizes
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ingest_bench import run_child  # noqa: E402

BOXES = 100_000

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from labelport.service import Service
work, media, what = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[5]
lines, boxes = int(sys.argv[3]), int(sys.argv[4])
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
box = [{"type": "box", "name": "cat", "x_min": i % 900, "y_min": 1.5, "x_max": i % 900 + 10,
        "y_max": 20.25} for i in range(boxes)]
body = work / f"body-{lines}.ndjson"
with open(body, "wb") as f:
    for n in range(lines):
        packet = {"media": {"url": media.as_uri(), "type": "image"}, "instance_list": box,
                  "idempotency_key": f"k{n}"}
        f.write(json.dumps(packet).encode() + b"\n")
del box
line_bytes = body.stat().st_size // lines
if what == "one":
    from labelport import format as fmt
    with open(body, "rb") as f:
        data = f.readline()
    start = peak()
    packet, report = fmt.decode_packet(data)
    print(json.dumps({"peak": peak(), "start": start, "body": len(data), "line": line_bytes}))
    raise SystemExit
svc = Service.open(data_dir=work / f"data-{lines}", workers=1, media_roots=[media.parent])
project = svc.create_project("big")
svc.create_labels(project["id"], ["cat"])
start_peak = peak()
started = time.perf_counter()
with open(body, "rb") as f:
    batch = svc.submit_batch(project["id"], f)
submitted = time.perf_counter() - started
after_submit = peak()
done = svc.wait_batch(project["id"], batch["id"], timeout=3600)
seconds = time.perf_counter() - started
svc.close()
print(json.dumps({"status": done["status"], "success": done["counts"].get("success", 0),
                  "seconds": seconds, "submitted": submitted, "start": start_peak,
                  "after_submit": after_submit, "peak": peak(), "body": body.stat().st_size,
                  "line": line_bytes}))
"""


def mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[40, 80])
    parser.add_argument("--boxes", type=int, default=BOXES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labelport-big-lines-") as tmp:
        work = Path(tmp)
        media = work / "media" / "a.jpg"
        media.parent.mkdir()
        from PIL import Image

        Image.new("RGB", (1000, 1000), (90, 90, 90)).save(media)
        one = run_child(CHILD, str(work), str(media), "1", str(args.boxes), "one")
        print(f"one line: {mb(one['line'])} of JSON; decoding it alone peaks at {mb(one['peak'])}")
        print()
        print("lines  body        submitted  imported  status   peak after submit  peak")
        for lines in args.lines:
            got = run_child(CHILD, str(work), str(media), str(lines), str(args.boxes), "batch")
            ok = got["success"] == lines
            print(
                f"{lines:5d}  {mb(got['body']):>10}  {got['submitted']:7.1f} s  "
                f"{got['seconds']:6.1f} s  {got['status'] if ok else 'MISSING':7s}  "
                f"{mb(got['after_submit']):>17}  {mb(got['peak'])}"
            )
    print("\n(peak: the child's ru_maxrss, which includes its start: interpreter, labelport)")


if __name__ == "__main__":
    main()
