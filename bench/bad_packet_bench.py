"""Bad-packet bench: what refusing a packet of a million bad instances costs, against accepting
a good packet of the same size (issue 13, item 5).

Run: python bench/bad_packet_bench.py [--boxes 1000000] [--repeat 1] [--http]

Packets (image, `instance_list`, 50 labels, float coordinates with two decimals):
- good:       N boxes, all fine                              -> 202 (queued; no worker runs it)
- bad_kind:   N boxes, x_min a string ("12.5")               -> 422, N value.wrong_kind (decode)
- bad_empty:  N boxes, x_min == x_max                        -> 422, N box.empty (checks)
- bad_label:  N boxes of a label the project does not have   -> 422, N label.unknown (checks)
- ints:       `instance_list` of N one-digit integers (2 MB at 10^6) -> 422, N instance.not_object

Dense junk (`--dense-mb M`, default 10; the cost per *byte* of a bad body): each is M MB, and
is compared to `good_dense`, a good packet of boxes of the same size.
- good_dense:  boxes, all fine, M MB                          -> 202
- dense_ints:  one-digit integers (`1,` is 2 bytes: 5*10^6 at 10 MB) -> 422, instance.not_object
- dense_nulls: nulls                                          -> 422, instance.null
- dense_objs:  empty objects `{}`                             -> 422, instance.type_missing
- dense_typed: `{"type":"box"}`, every key missing            -> 422, instance.missing_key

Each goes through `Service.submit_packet` in its own fresh child process (SQLite, local blobs,
workers=0, so the good packet's import is queued and not run), handed over as an open file as
the HTTP server does with a request body; the time is from the call to its answer (the 202's
import, or `Rejected`), with the child's CPU time for the call (process_time: on a shared
machine wall time moves with the load, CPU time much less), and peak RSS is the child's
ru_maxrss (it includes the packet read from the page cache as the decoder maps it). The
baseline is the good packet of the same size: target bad / good <= 3.

With --http, each packet is also POSTed to a fresh `labelport serve` (workers 0) of its own,
timed from the POST to the answer (202 or 422); peak RSS is the server's (sampled every 50 ms).
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
from labelport.errors import Rejected
from labelport.service import Service
data_dir, path, project_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
service = Service.open(data_dir=data_dir, workers=0)
try:
    with open(path, "rb") as f:
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            imp = service.submit_packet(project_id, f, source="bench")
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            out = {"answer": "202 " + imp["status"], "instances": imp["counts"].get("instances")}
        except Rejected as refused:
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            report = refused.report
            out = {
                "answer": "422 " + refused.code,
                "problem_count": report.problem_count,
                "listed": len(report.problems),
                "by_code": getattr(report, "problem_counts_by_code", "(not counted)"),
            }
finally:
    service.close()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_rss": rss, **out}))
"""


def boxes(n: int, kind: str) -> list[dict]:
    rng = random.Random(1)
    uniform = rng.uniform
    out = []
    for j in range(n):
        x, y = round(uniform(0, 1800), 2), round(uniform(0, 1000), 2)
        box = {
            "name": LABELS[j % 50],
            "type": "box",
            "x_min": x,
            "y_min": y,
            "x_max": round(x + uniform(1, 100), 2),
            "y_max": round(y + uniform(1, 60), 2),
        }
        if kind == "bad_kind":
            box["x_min"] = str(x)
        elif kind == "bad_empty":
            box["x_max"] = x
        elif kind == "bad_label":
            box["name"] = f"nolabel_{j % 50:02d}"
        out.append(box)
    return out


DENSE = {
    "dense_ints": b"1,",
    "dense_nulls": b"null,",
    "dense_objs": b"{},",
    "dense_typed": b'{"type":"box"},',
}
HEAD = {"media": {"url": "https://example.com/a.png", "type": "image"}}


def packet(n: int, kind: str, dense_mb: float) -> bytes:
    import orjson

    size = int(dense_mb * 1e6)
    if kind in DENSE:
        unit = DENSE[kind]
        head = orjson.dumps({**HEAD, "instance_list": []})[:-2]  # ...,"instance_list":[
        count = max(1, (size - len(head) - 2) // len(unit))
        return head + unit * (count - 1) + unit[:-1] + b"]}"
    if kind == "good_dense":  # as many boxes as make `size` bytes
        per_box = len(orjson.dumps(boxes(1000, "good"))) / 1000
        n = max(1, int(size / per_box))
    instances: list = [i % 10 for i in range(n)] if kind == "ints" else boxes(n, kind)
    return orjson.dumps({**HEAD, "instance_list": instances})


def build(kind: str, path: Path, n: int, dense_mb: float) -> None:
    # In a child of its own: a child forked from a parent that held a million dicts would start
    # with the parent's high-water mark as its own peak RSS.
    subprocess.run(
        [
            *(sys.executable, __file__, "--build", kind, str(path)),
            *("--boxes", str(n), "--dense-mb", str(dense_mb)),
        ],
        check=True,
    )


def baseline(kind: str) -> str:
    """The good packet a kind is compared to: of the same size."""
    return "good_dense" if kind.startswith("dense") or kind == "good_dense" else "good"


def http_post(data_dir: Path, path: Path, string_id: str, auth: tuple[str, str]) -> dict:
    import httpx

    from api_bench import served

    with served(data_dir, workers=0) as server, path.open("rb") as body:
        url = f"{server.base}/api/v1/projects/{string_id}/packets"
        headers = {"Content-Type": "application/json"}
        start = time.perf_counter()
        response = httpx.post(url, content=body, headers=headers, auth=auth, timeout=600)
        seconds = time.perf_counter() - start
    answer = response.json()
    error = answer.get("error", {})
    out = {"seconds": seconds, "status": response.status_code, "peak_rss": server.peak_rss}
    if error:
        out["problem_count"] = error.get("problem_count")
        out["listed"] = len(error.get("problems") or [])
        out["bytes"] = len(response.content)
    return out


def child(data_dir: Path, path: Path, project_id: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir), str(path), str(project_id)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boxes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--kinds",
        default="good,bad_kind,bad_empty,bad_label,ints,"
        "good_dense,dense_ints,dense_nulls,dense_objs,dense_typed",
        help="comma-separated",
    )
    parser.add_argument("--dense-mb", type=float, default=10.0, help="size of the dense kinds")
    parser.add_argument("--http", action="store_true", help="also over HTTP")
    parser.add_argument("--build", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        Path(args.build[1]).write_bytes(packet(args.boxes, args.build[0], args.dense_mb))
        return
    kinds = args.kinds.split(",")
    with tempfile.TemporaryDirectory(prefix="labelport-badbench-") as tmp:
        root = Path(tmp)
        sys.path.insert(0, str(Path(__file__).parent))
        from api_bench import setup_project

        string_id, client_id, secret, project_id = setup_project(root / "data", LABELS)
        paths = {}
        for kind in kinds:
            t = time.perf_counter()
            paths[kind] = root / f"{kind}.json"
            build(kind, paths[kind], args.boxes, args.dense_mb)
            size = paths[kind].stat().st_size
            print(f"# {kind}: {size / 1e6:.1f} MB, built in {time.perf_counter() - t:.1f} s")
        print(f"# {args.boxes:,} instances; each run in its own child; Service.submit_packet")
        print(
            "| run | packet | payload | answer | time | x good | CPU | x good | peak RSS | x good "
            "| problems (listed) |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for run in range(1, args.repeat + 1):
            results = {kind: child(root / "data", paths[kind], project_id) for kind in kinds}
            for kind in kinds:
                r = results[kind]
                good = results.get(baseline(kind), {}).get("seconds")
                ratio = f"{r['seconds'] / good:.2f}" if good else "-"
                good_rss = results.get(baseline(kind), {}).get("peak_rss")
                rss_ratio = f"{r['peak_rss'] / good_rss:.2f}" if good_rss else "-"
                good_cpu = results.get(baseline(kind), {}).get("cpu")
                cpu_ratio = f"{r['cpu'] / good_cpu:.2f}" if good_cpu else "-"
                problems = (
                    f"{r['problem_count']:,} ({r['listed']:,}; {r['by_code']})"
                    if "problem_count" in r
                    else "0"
                )
                print(
                    f"| {run} | {kind} | {paths[kind].stat().st_size / 1e6:.1f} MB | "
                    f"{r['answer']} | {r['seconds']:.2f} s | {ratio} | {r['cpu']:.2f} s | "
                    f"{cpu_ratio} | {r['peak_rss'] / 2**20:.0f} MiB | {rss_ratio} | {problems} |",
                    flush=True,
                )
        if not args.http:
            return
        print("\n# over HTTP: POST to a fresh `labelport serve --workers 0` per packet")
        print(
            "| run | packet | answer | time | x good | server peak RSS | x good | "
            "problems (listed) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for run in range(1, args.repeat + 1):
            auth = (client_id, secret)
            results = {k: http_post(root / "data", paths[k], string_id, auth) for k in kinds}
            for kind in kinds:
                r = results[kind]
                good = results.get(baseline(kind), {}).get("seconds")
                ratio = f"{r['seconds'] / good:.2f}" if good else "-"
                good_rss = results.get(baseline(kind), {}).get("peak_rss")
                rss_ratio = f"{r['peak_rss'] / good_rss:.2f}" if good_rss else "-"
                problems = (
                    f"{r['problem_count']:,} ({r['listed']:,}; body {r['bytes'] / 1e3:.0f} kB)"
                    if "problem_count" in r
                    else "0"
                )
                print(
                    f"| {run} | {kind} | {r['status']} | {r['seconds']:.2f} s | {ratio} | "
                    f"{r['peak_rss'] / 2**20:.0f} MiB | {rss_ratio} | {problems} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
