"""Scale-out bench: imports run by 1, 2 and 4 `labelport worker` processes on PostgreSQL + S3.

Workloads (the ingest bench's, built by its generators, bench/ingest_bench.py):

1. 2,000 images x 20 boxes, each image its own packet and its own served JPEG.
2. 1,000,000 boxes as 10 video packets of 100,000 boxes (1,000 frames x 100 boxes): one import
   runs on one worker, so a single 1M-box packet cannot spread over workers; ten can.

For each worker count: a fresh PostgreSQL schema, every packet submitted first (queued, jobs
deferred to procrastinate), then the workers start and the clock runs until every import has
ended. Submission is not timed: it is the API servers' work, not the workers'. Blobs go to moto's
S3 server, started here on 127.0.0.1.

    .venv/bin/python bench/scale_bench.py            # the full workloads
    .venv/bin/python bench/scale_bench.py --quick    # 200 images, 2 x 100,000 boxes
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from format_bench import LABELS, build  # noqa: E402
from ingest_bench import PER_IMAGE, PLACEHOLDER_URL, make_images, make_video, serve  # noqa: E402

POSTGRES_URL = os.environ.get("LABELPORT_BENCH_POSTGRES_URL", "postgresql://root@127.0.0.1/test")
VIDEO_FRAMES, VIDEO_BOXES = 1_000, 100
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def labelport() -> list[str]:
    script = Path(sys.executable).parent / "labelport"
    return [str(script)] if script.exists() else [sys.executable, "-m", "labelport.cli"]


class Moto:
    """moto's S3 server as a child process, with one bucket."""

    def __init__(self) -> None:
        binary = Path(sys.executable).parent / "moto_server"
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        cmd = [str(binary) if binary.exists() else shutil.which("moto_server") or "moto_server"]
        self.proc = subprocess.Popen(
            [*cmd, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.bucket = "labelport-bench"
        os.environ.update({**S3_ENV, "LABELPORT_S3_ENDPOINT_URL": self.endpoint})
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        for _ in range(100):
            try:
                client.create_bucket(Bucket=self.bucket)
                return
            except Exception:
                time.sleep(0.1)
        raise SystemExit("moto_server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def new_schema() -> tuple[str, str]:
    import psycopg

    schema = f"scale_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    return schema, f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_once(packets: list[bytes], workers: int, storage_url: str, boxes: int) -> dict[str, Any]:
    from labelport.service import Service

    schema, url = new_schema()
    procs: list[subprocess.Popen] = []
    try:
        service = Service.open(
            database_url=url, storage_url=storage_url, workers=0, queue="procrastinate"
        )
        with service:
            project = service.create_project("bench")["id"]
            service.create_labels(project, list(LABELS))
            for packet in packets:
                service.submit_packet(project, packet)
            args = ["worker", "--database-url", url, "--storage-url", storage_url]
            args += ["--allow-private-urls", "--concurrency", "1"]
            started = time.perf_counter()
            for _ in range(workers):
                procs.append(subprocess.Popen([*labelport(), *args], stdout=subprocess.DEVNULL))
            deadline = started + 3600
            while time.perf_counter() < deadline:
                done = sum(
                    service.store.count_imports(project, status=s) for s in ("success", "failed")
                )
                if done == len(packets):
                    break
                time.sleep(0.1)
            wall = time.perf_counter() - started
            success = service.store.count_imports(project, status="success")
            seconds = busy_seconds(service.store, project)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        drop_schema(schema)
    if success != len(packets):
        raise SystemExit(f"{len(packets) - success} import(s) did not succeed")
    return {"seconds": seconds, "wall": wall, "imports": len(packets), "boxes": boxes}


def busy_seconds(store: Any, project_id: int) -> float:
    """From the first import started to the last one finished: the workers' start-up (Python
    imports, connecting) is left out, as a long-running worker pays it once."""
    from sqlalchemy import func, select

    from labelport.store import tables as t
    from labelport.store.database import transaction

    i = t.import_
    query = select(func.min(i.c.started_at), func.max(i.c.finished_at)).where(
        i.c.project_id == project_id
    )
    with transaction(store.engine, write=False) as conn:
        first, last = conn.execute(query).one()
    return (last - first).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 images, 2 x 100,000 boxes")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--skip-images", action="store_true")
    parser.add_argument("--skip-video", action="store_true")
    args = parser.parse_args()
    images = 200 if args.quick else 2_000
    videos = 2 if args.quick else 10
    counts = [int(n) for n in args.workers.split(",")]

    moto = Moto()
    try:
        with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp_name:
            media = Path(tmp_name) / "media"
            media.mkdir()
            with serve(media) as base_url:
                (media / "video.mp4").symlink_to(make_video(VIDEO_FRAMES))
                video_packet = build(VIDEO_FRAMES, VIDEO_BOXES).replace(
                    PLACEHOLDER_URL, f"{base_url}/video.mp4".encode()
                )
                image_packets = [
                    p.encode() for p in make_images(media, images, PER_IMAGE, base_url)
                ]
                workloads = []
                if not args.skip_images:
                    label = f"{images:,} images x {PER_IMAGE} boxes"
                    workloads.append((label, image_packets, images * PER_IMAGE))
                if not args.skip_video:
                    n = videos * VIDEO_FRAMES * VIDEO_BOXES
                    label = f"{n:,} boxes ({videos} video packets x 100,000)"
                    workloads.append((label, [video_packet] * videos, n))
                storage_url = f"s3://{moto.bucket}/run-{uuid.uuid4().hex[:8]}"
                print(f"machine: {os.cpu_count()} cores; workers run --concurrency 1 each")
                results = {}
                for label, packets, boxes in workloads:
                    print(label)
                    base = None
                    for workers in counts:
                        got = run_once(packets, workers, storage_url, boxes)
                        base = base or got["seconds"]
                        speedup = base / got["seconds"]  # against the first worker count
                        results[(label, workers)] = got
                        print(
                            f"  {workers} worker(s) {got['seconds']:8.2f} s  "
                            f"{got['imports'] / got['seconds']:7.1f} imports/s  "
                            f"{boxes / got['seconds']:9.0f} boxes/s  speed-up x{speedup:.2f}  "
                            f"(wall with start-up {got['wall']:.2f} s)"
                        )
                print(json.dumps({f"{k[0]} / {k[1]}": v for k, v in results.items()}))
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
