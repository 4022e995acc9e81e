"""W1 over HTTP: the 1,000,000-box video POSTed to the native and the diffgram-compatible route.

Workload: the packet of bench/format_bench.py (10,000 frames x 100 boxes, 50 labels, sequence
numbers 1-100, float coordinates; built by its generator) for a generated 10,000-frame mp4 served
on 127.0.0.1 (bench/ingest_bench.py makes and caches it). Each route gets its own fresh
`labelport serve` (SQLite + local blobs, a subprocess): the packet is POSTed to

- native: `POST /api/v1/projects/{p}/packets`, polled at `GET .../imports/{id}`;
- compat: `POST /api/walrus/v1/project/{p}/input/packet` (what the `diffgram` SDK calls), with
  the SDK's placeholder keys (`type`, `connection_id`, `job_id`, `ordinal: 0`, ... as
  `FileConstructor.from_url` sends them), polled at `.../input/view/{id}`;

and timed from the first byte sent until the import reads `success`. The server's peak RSS (with
its children) is sampled with psutil.

Baseline, in the same run, in a fresh child process: the least work the job needs, a bare sqlite3
`executemany` of the same N minimal rows (file_id, frame, label_id, sequence_id, type, x_min,
y_min, x_max, y_max, machine_made; indexes on (file_id, frame) and sequence_id), built before the
clock starts, in one transaction (WAL, synchronous=NORMAL, as labelport runs SQLite).
Goals: route / baseline <= 2.0 on both routes; server peak RSS <= 4x the payload.

    .venv/bin/python bench/w1_bench.py                       # 1,000,000 boxes, best of 1
    .venv/bin/python bench/w1_bench.py --repeat 3            # best of 3 of each, interleaved
    .venv/bin/python bench/w1_bench.py --instances 100000    # a small one, to check the script
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from api_bench import (  # noqa: E402  (plumbing shared with the API bench)
    poll,
    serve_media,
    served,
    setup_project,
)
from format_bench import LABELS, build  # noqa: E402  (the W1 workload and its generator)
from ingest_bench import PLACEHOLDER_URL, make_video  # noqa: E402

PER_FRAME = 100
# What diffgram's FileConstructor.from_url puts beside `media` and `frame_packet_map`.
SDK_KEYS = (
    b'{"instance_list":null,"type":"from_url","connection_id":null,"bucket_name":null,'
    b'"raw_data_blob_path":null,"job_id":null,"video_split_duration":null,'
    b'"parent_file_id":null,"ordinal":0,'
)

BASELINE_CHILD = r"""
import json, os, sqlite3, sys, time
import msgspec
db, packet_path, labels = sys.argv[1:4]
label_ids = {name: n + 1 for n, name in enumerate(json.loads(labels))}
with open(packet_path, "rb") as f:
    packet = msgspec.json.decode(f.read())
rows = [
    (1, int(frame), label_ids[i["name"]], label_ids[i["name"]] * 1000 + i["number"], "box",
     i["x_min"], i["y_min"], i["x_max"], i["y_max"], True)
    for frame, instances in packet["frame_packet_map"].items() for i in instances
]
del packet
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("PRAGMA synchronous = NORMAL")
conn.execute("CREATE TABLE instance (id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, "
             "frame INTEGER, label_id INTEGER, sequence_id INTEGER, type TEXT NOT NULL, "
             "x_min REAL, y_min REAL, x_max REAL, y_max REAL, machine_made BOOLEAN NOT NULL)")
conn.execute("CREATE INDEX instance_file_frame ON instance (file_id, frame)")
conn.execute("CREATE INDEX instance_sequence ON instance (sequence_id)")
start = time.perf_counter()
conn.execute("BEGIN")
conn.executemany("INSERT INTO instance (file_id, frame, label_id, sequence_id, type, x_min, "
                 "y_min, x_max, y_max, machine_made) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
conn.execute("COMMIT")
seconds = time.perf_counter() - start
count = conn.execute("SELECT count(*) FROM instance").fetchone()[0]
print(json.dumps({"seconds": seconds, "rows": count}))
"""


def baseline(tmp: Path, packet_path: Path, attempt: int) -> dict[str, Any]:
    db = tmp / f"baseline-{attempt}.db"
    out = subprocess.run(
        [sys.executable, "-c", BASELINE_CHILD, str(db), str(packet_path), json.dumps(LABELS)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"baseline failed:\n{out.stderr}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def over_http(route: str, data_dir: Path, packet_path: Path, n: int) -> dict[str, Any]:
    """One fresh server; POST the packet file (streamed) to `route`; time until `success`."""
    psid, client_id, secret, _ = setup_project(data_dir, LABELS)
    with served(data_dir, workers=1) as server:
        base = server.base
        if route == "native":
            post_url = f"{base}/api/v1/projects/{psid}/packets"
        else:
            post_url = f"{base}/api/walrus/v1/project/{psid}/input/packet"
        size = packet_path.stat().st_size
        headers = {"Content-Type": "application/json", "Content-Length": str(size)}
        with (
            httpx.Client(auth=(client_id, secret), timeout=1800) as http,
            open(packet_path, "rb") as body,
        ):
            started = time.perf_counter()
            answer = http.post(post_url, content=body, headers=headers)
            accepted = time.perf_counter() - started
            answer.raise_for_status()
            state: dict[str, Any] = {}
            if route == "native":
                import_id = answer.json()["id"]

                def done() -> bool:
                    state.update(
                        http.get(f"{base}/api/v1/projects/{psid}/imports/{import_id}").json()
                    )
                    return _finished(state)
            else:
                import_id = answer.json()["input_id"]
                view = f"{base}/api/walrus/v1/project/{psid}/input/view/{import_id}"

                def done() -> bool:
                    state.update(http.post(view, json={}).json()["input"])
                    return _finished(state)

            poll(done, timeout=1800, interval=0.05)
            seconds = time.perf_counter() - started
        added = (state.get("counts") or {}).get("added")
        if added != n:
            raise SystemExit(f"{route}: {added} instances stored, {n} sent: {state}")
        result = {"seconds": seconds, "accepted": accepted, "counts": state["counts"]}
    result["peak_rss"] = server.peak_rss
    return result


def _finished(state: dict[str, Any]) -> bool:
    if state.get("status") == "failed":
        raise SystemExit(f"the import failed: {json.dumps(state)[:2000]}")
    return state.get("status") == "success"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1_000_000, help="boxes (x100 a frame)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    parser.add_argument("--routes", default="native,compat")
    parser.add_argument("--build-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    frames = max(1, args.instances // PER_FRAME)
    if args.build_into:  # in a child: the parent never holds the workload
        args.build_into.write_bytes(build(frames, PER_FRAME))
        return
    n = frames * PER_FRAME
    routes = args.routes.split(",")
    root = Path(tempfile.mkdtemp(prefix="labelport-w1-bench-"))
    try:
        media = root / "media"
        media.mkdir()
        (media / "video.mp4").symlink_to(make_video(frames))
        raw = root / "raw.json"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--instances", str(n), "--build-into", str(raw)],
            check=True,
        )
        with serve_media(media) as media_url:
            url = f"{media_url}/video.mp4".encode()
            native = root / "native.json"
            compat = root / "compat.json"
            _write_packets(raw, url, native, compat)
            raw.unlink()
            size = native.stat().st_size
            print(
                f"W1: {n:,} boxes ({frames:,} frames x {PER_FRAME}, 50 labels), payload "
                f"{size / 1e6:.1f} MB (compat {compat.stat().st_size / 1e6:.1f} MB), built in "
                f"{time.perf_counter() - started:.1f} s; server: SQLite, 1 import worker"
            )
            runs: dict[str, list[dict[str, Any]]] = {"baseline": [], **{r: [] for r in routes}}
            for attempt in range(args.repeat):
                runs["baseline"].append(baseline(root, native, attempt))
                assert runs["baseline"][-1]["rows"] == n, runs["baseline"][-1]
                for route in routes:
                    data_dir = root / f"{route}-{attempt}"
                    got = over_http(route, data_dir, native if route == "native" else compat, n)
                    runs[route].append(got)
                    shutil.rmtree(data_dir, ignore_errors=True)
                    print(
                        f"  run {attempt + 1}: {route:<7} {got['seconds']:6.2f} s "
                        f"(202/200 after {got['accepted']:.2f} s; peak RSS "
                        f"{got['peak_rss'] / 2**20:,.0f} MiB)",
                        flush=True,
                    )
                print(f"  run {attempt + 1}: baseline {runs['baseline'][-1]['seconds']:6.2f} s")
        report(runs, routes, n, size)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _write_packets(raw: Path, url: bytes, native: Path, compat: Path) -> None:
    data = raw.read_bytes().replace(PLACEHOLDER_URL, url)
    native.write_bytes(data)
    assert data.startswith(b"{")
    compat.write_bytes(SDK_KEYS + data[1:])


def report(runs: dict[str, list[dict[str, Any]]], routes: list[str], n: int, size: int) -> None:
    base = min(r["seconds"] for r in runs["baseline"])
    every = ", ".join(f"{r['seconds']:.2f}" for r in runs["baseline"])
    print(f"baseline executemany  {base:7.2f} s  ({n / base:,.0f} rows/s; runs: {every} s)")
    for route in routes:
        best = min(runs[route], key=lambda r: r["seconds"])
        every = ", ".join(f"{r['seconds']:.2f}" for r in runs[route])
        peak = max(r["peak_rss"] for r in runs[route])
        counts = best["counts"]
        print(
            f"{route + ' over HTTP':<21} {best['seconds']:7.2f} s  "
            f"ratio {best['seconds'] / base:.2f} (goal <= 2.0); "
            f"accepted after {best['accepted']:.2f} s, "
            f"{counts.get('seconds_before_write', 0):.2f} s in the job before the write; "
            f"runs: {every} s"
        )
        print(
            f"{'':<21} server peak RSS {peak / 2**20:,.0f} MiB = {peak / size:.2f} x payload "
            "(goal <= 4)"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
