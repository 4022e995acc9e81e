"""Ingest bench: a 1,000,000-box video imported end to end through Service, against a plain insert.

1. One video packet, `frame_packet_map` of 1,000,000 boxes (10,000 frames x 100 boxes, 50 labels,
   sequence numbers 1-100, float coordinates: the workload of bench/format_bench.py, built by
   its generator), for a generated 10,000-frame mp4 served on 127.0.0.1: `submit_packet` ->
   `wait_import`, on SQLite and on PostgreSQL.
2. The baseline, in the same run: the same 1,000,000 instance rows inserted into the same
   `instance` table (a fresh database migrated by labelport) with plain sqlite3 executemany /
   psycopg COPY and nothing else; rows are built before the clock starts.
   The packet is handed to `submit_packet` as a file (as the HTTP server, which spools the
   body to disk, does); one more run per database hands it over as bytes the caller holds, for
   the peak RSS of that case.
3. 2,000 images x 20 boxes, each image its own packet (and its own served JPEG), submitted one
   after the other and waited for together (2 worker threads).

Every measurement runs in its own fresh child process, so peak RSS (ru_maxrss) is its own.
Goals: import / baseline <= 2.0 on both databases; peak RSS <= 4x payload.

    .venv/bin/python bench/ingest_bench.py            # the full workload
    .venv/bin/python bench/ingest_bench.py --quick    # 100,000 boxes and 200 images
    .venv/bin/python bench/ingest_bench.py --profile sqlite   # cProfile of one video import
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from format_bench import LABELS, build  # noqa: E402  (the same workload, the same generator)

POSTGRES_URL = os.environ.get("LABELPORT_BENCH_POSTGRES_URL", "postgresql://root@127.0.0.1/test")
# The workload's boxes reach x 1900, y 1060: the frame must hold them, so it is full HD; every
# frame is the same flat picture, which keeps encoding and probing cheap.
VIDEO_SIZE = (1920, 1088)
IMAGE_SIZE = (320, 240)
CACHE = Path(tempfile.gettempdir()) / "labelport-ingest-bench"
PLACEHOLDER_URL = b"https://example.com/v.mp4"
PER_IMAGE = 20

IMPORT_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from labelport.service import Service
data_dir, database_url, packet_path, labels, profile, source = sys.argv[1:7]
service = Service.open(data_dir=data_dir, database_url=database_url or None,
                       allow_private_urls=True, workers=0 if profile else 1)
project = service.create_project("bench")["id"]
service.create_labels(project, json.loads(labels))
# "file": the packet is handed over as a file, as the HTTP server (which spools the body) and a
# caller with a file do; "bytes": the caller holds all of its bytes for the whole submit.
data = open(packet_path, "rb") if source == "file" else Path(packet_path).read_bytes()
if profile:  # run the job in this thread (cProfile sees one thread), with the in-process handoff
    import cProfile, pstats
    service.dispatcher.runs_jobs = True
    profiler = cProfile.Profile()
    profiler.enable()
start = time.perf_counter()
submitted = service.submit_packet(project, data)
submit_seconds = time.perf_counter() - start
if source == "file":
    data.close()
del data
if profile:
    service.store.claim_next_import("bench")
    service.job.run(submitted["id"])
done = service.wait_import(project, submitted["id"], timeout=3600)
seconds = time.perf_counter() - start
if profile:
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
service.close()
print(json.dumps({"seconds": seconds, "submit_seconds": submit_seconds, "peak_rss": rss,
                  "status": done["status"], "counts": done["counts"], "error": done["error"],
                  "problems": done["problems"][:3]}))
"""

IMAGES_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from labelport.service import Service
data_dir, database_url, packets_path, labels = sys.argv[1:5]
service = Service.open(data_dir=data_dir, database_url=database_url or None,
                       allow_private_urls=True, workers=2)
project = service.create_project("bench")["id"]
service.create_labels(project, json.loads(labels))
packets = json.loads(Path(packets_path).read_text())
start = time.perf_counter()
ids = [service.submit_packet(project, p.encode())["id"] for p in packets]
statuses = [service.wait_import(project, i, timeout=3600)["status"] for i in ids]
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
service.close()
print(json.dumps({"seconds": seconds, "peak_rss": rss,
                  "success": statuses.count("success"), "total": len(statuses)}))
"""

BASELINE_CHILD = r"""
import json, sys, time
from pathlib import Path
import msgspec
from labelport.ingest.rows import content_hash
from labelport.store import Store
from labelport.store.plan import INSTANCE_COLUMNS
dialect, url, packet_path, labels = sys.argv[1:5]
label_ids = {name: n + 1 for n, name in enumerate(json.loads(labels))}
Store.open(url).close()  # the real instance table, its indexes, a fresh database
packet = msgspec.json.decode(Path(packet_path).read_bytes())
rows = []
for frame, instances in packet["frame_packet_map"].items():
    frame = int(frame)
    for inst in instances:
        label = label_ids[inst["name"]]
        row = (frame, label, label * 1000 + inst["number"], "box", True, None, None, None,
               inst["x_min"], inst["y_min"], inst["x_max"], inst["y_max"], None, None, None)
        rows.append((1, 1, 1, *row, content_hash(row)))
del packet
names = ", ".join(('"project_id"', '"file_id"', '"import_id"',
                   *(f'"{c}"' for c in INSTANCE_COLUMNS)))
if dialect == "sqlite":
    import sqlite3
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO instance ({names}) VALUES ({', '.join('?' * len(rows[0]))})",
                     rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    count = conn.execute("SELECT count(*) FROM instance").fetchone()[0]
else:
    import psycopg
    from urllib.parse import parse_qs, urlsplit
    options = parse_qs(urlsplit(url).query)["options"][0]
    plain = url.split("?")[0]
    with psycopg.connect(plain, options=options) as conn:
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY instance ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        seconds = time.perf_counter() - start
        count = conn.execute("SELECT count(*) FROM instance").fetchone()[0]
print(json.dumps({"seconds": seconds, "rows": count}))
"""


def run_child(code: str, *args: str, stderr: Any = subprocess.PIPE) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"child failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_video(frames: int) -> Path:
    """A flat full-HD mp4 of exactly `frames` frames, cached between runs."""
    path = CACHE / f"video-{frames}-{VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}.mp4"
    if path.exists():
        return path
    import av
    import numpy as np

    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with av.open(str(partial), "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = *VIDEO_SIZE, "yuv420p"
        stream.gop_size = 250
        picture = np.full((VIDEO_SIZE[1], VIDEO_SIZE[0], 3), 90, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        for i in range(frames):
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    partial.rename(path)
    return path


def make_images(root: Path, count: int, per_image: int, base_url: str) -> list[str]:
    import msgspec
    from PIL import Image

    packets = []
    for n in range(count):
        name = f"img-{n:05d}.jpg"
        Image.new("RGB", IMAGE_SIZE, (n % 256, (n // 256) % 256, 77)).save(root / name, "JPEG")
        instances = [
            {
                "type": "box",
                "name": LABELS[(n + k) % len(LABELS)],
                "x_min": 5.0 + 10 * k,
                "y_min": 10.5,
                "x_max": 12.25 + 10 * k,
                "y_max": 200.0 - k,
            }
            for k in range(per_image)
        ]
        packet = {
            "media": {"url": f"{base_url}/{name}", "type": "image"},
            "instance_list": instances,
        }
        packets.append(msgspec.json.encode(packet).decode())
    return packets


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve `root` on 127.0.0.1 (threads of this process; the imports run in children)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class Databases:
    """A fresh database per measurement: a SQLite file, or a PostgreSQL schema."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.schemas: list[str] = []

    def url(self, dialect: str, name: str) -> str:
        if dialect == "sqlite":
            return f"sqlite:///{self.tmp / (name + '.db')}"
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        self.schemas.append(schema)
        sep = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"

    def drop(self) -> None:
        if not self.schemas:
            return
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for schema in self.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.schemas.clear()


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 boxes and 200 images")
    parser.add_argument("--profile", choices=("sqlite", "postgresql"))
    parser.add_argument("--skip-images", action="store_true")
    parser.add_argument("--skip-video", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, args.base_url, args.frames, args.images)
        return
    frames = 1_000 if args.quick else 10_000
    per_frame = 100
    images = 200 if args.quick else 2_000
    dialects = [d for d in ("sqlite", "postgresql") if args.only in (None, d)]
    if args.profile:
        dialects = [args.profile]
    if "postgresql" in dialects and not postgres_reachable():
        print(f"PostgreSQL at {POSTGRES_URL} is unreachable: SQLite only")
        dialects.remove("postgresql")

    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp_name:
        tmp = Path(tmp_name)
        media = tmp / "media"
        media.mkdir()
        databases = Databases(tmp)
        try:
            with serve(media) as base_url:
                started = time.perf_counter()
                # Built in a child: a forked child starts with its parent's peak RSS as its own,
                # so the parent must never hold the workload.
                subprocess.run(
                    [sys.executable, __file__, "--prepare", str(tmp), "--base-url", base_url,
                     "--frames", str(frames), "--images", str(images)],
                    check=True,
                )  # fmt: skip
                print(f"workload built in {time.perf_counter() - started:.1f} s")
                packet_path, images_path = tmp / "packet.json", tmp / "images.json"
                n, size = frames * per_frame, packet_path.stat().st_size
                video = (media / "video.mp4").resolve()
                print(
                    f"video import: {n:,} boxes ({frames:,} frames x {per_frame}, 50 labels, "
                    f"{per_frame} sequence numbers), payload {size / 1e6:.1f} MB, "
                    f"video {VIDEO_SIZE[0]}x{VIDEO_SIZE[1]} {video.stat().st_size / 1e6:.1f} MB"
                )
                labels = json.dumps(LABELS)
                for dialect in [] if args.skip_video else dialects:
                    if args.profile:
                        url = database_url(databases, dialect)
                        run_child(IMPORT_CHILD, str(tmp / "profile"), url, str(packet_path),
                                  labels, "1", "file", stderr=None)  # fmt: skip
                        return
                    bench_video(databases, dialect, tmp, packet_path, labels, n, size, args.repeat)
                if not args.skip_images:
                    print(f"images: {images:,} packets x {PER_IMAGE} boxes, {IMAGE_SIZE[0]}x"
                          f"{IMAGE_SIZE[1]} JPEGs served locally, 2 worker threads")  # fmt: skip
                    for dialect in dialects:
                        bench_images(databases, dialect, tmp, images_path, labels)
        finally:
            databases.drop()


def prepare(tmp: Path, base_url: str, frames: int, images: int) -> None:
    """The workload, into `tmp`: packet.json, images.json, media/ (video and JPEGs)."""
    media = tmp / "media"
    (media / "video.mp4").symlink_to(make_video(frames))
    payload = build(frames, 100).replace(PLACEHOLDER_URL, f"{base_url}/video.mp4".encode())
    (tmp / "packet.json").write_bytes(payload)
    packets = make_images(media, images, PER_IMAGE, base_url)
    (tmp / "images.json").write_text(json.dumps(packets))


def bench_images(
    databases: Databases, dialect: str, tmp: Path, images_path: Path, labels: str
) -> None:
    url = database_url(databases, dialect)
    got = run_child(IMAGES_CHILD, str(tmp / f"images-{dialect}"), url, str(images_path), labels)
    boxes = got["success"] * PER_IMAGE
    print(
        f"  {dialect:<10} {got['seconds']:7.2f} s  "
        f"{got['success'] / got['seconds']:6.1f} images/s  "
        f"{boxes / got['seconds']:8.0f} boxes/s  "
        f"({got['success']}/{got['total']} success, peak RSS {got['peak_rss'] / 1e6:.0f} MB)"
    )


def database_url(databases: Databases, dialect: str) -> str:
    # SQLite: "" lets Service.open put the database in its data dir, as the default does.
    return "" if dialect == "sqlite" else databases.url(dialect, "import")


def bench_video(
    databases: Databases,
    dialect: str,
    tmp: Path,
    packet_path: Path,
    labels: str,
    n: int,
    size: int,
    repeat: int,
) -> None:
    """Best of `repeat` runs of each (the machine is shared: the best is the least disturbed)."""
    bases, runs = [], []
    for attempt in range(repeat):
        url = databases.url(dialect, f"baseline-{attempt}")
        bases.append(run_child(BASELINE_CHILD, dialect, url, str(packet_path), labels))
        assert bases[-1]["rows"] == n, bases[-1]
        data_dir = tmp / f"video-{dialect}-{attempt}"
        runs.append(run_child(IMPORT_CHILD, str(data_dir), database_url(databases, dialect),
                              str(packet_path), labels, "", "file"))  # fmt: skip
        databases.drop()  # a million rows per schema add up
    held_dir = str(tmp / f"video-{dialect}-bytes")
    url = database_url(databases, dialect)
    held = run_child(IMPORT_CHILD, held_dir, url, str(packet_path), labels, "", "bytes")
    databases.drop()
    base = min(bases, key=lambda b: b["seconds"])
    got = min(runs, key=lambda r: r["seconds"])
    if got["status"] != "success" or got["counts"].get("added") != n:
        raise SystemExit(f"the import did not succeed: {got}")
    ratio = got["seconds"] / base["seconds"]
    counts = got["counts"]
    every_base = ", ".join(f"{b['seconds']:.2f}" for b in bases)
    every_run = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    print(f"  {dialect} (best of {repeat}: baseline {every_base} s; import {every_run} s)")
    print(f"    baseline insert    {base['seconds']:7.2f} s  ({n / base['seconds']:,.0f} rows/s)")
    print(
        f"    import end to end  {got['seconds']:7.2f} s  ({n / got['seconds']:,.0f} instances/s;"
        f" submit {got['submit_seconds']:.2f} s, before write "
        f"{counts.get('seconds_before_write', 0):.2f} s after claim)"
    )
    print(f"    ratio              {ratio:7.2f}  (goal <= 2.0)")
    print(
        f"    peak RSS           {got['peak_rss'] / 1e6:7.0f} MB = "
        f"{got['peak_rss'] / size:.2f} x payload  (goal <= 4; packet handed over as a file)"
    )
    print(
        f"    peak RSS, bytes    {held['peak_rss'] / 1e6:7.0f} MB = "
        f"{held['peak_rss'] / size:.2f} x payload  (the caller holds the packet's bytes; "
        f"import {held['seconds']:.2f} s)"
    )
    print(
        f"    sequences          {counts['sequences_created']} created, "
        f"{counts['frames_with_instances']:,} frames with instances"
    )


if __name__ == "__main__":
    main()
