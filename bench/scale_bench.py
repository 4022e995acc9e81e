"""Scale-out bench: imports run by 1, 2 and 4 `labelport worker` processes on PostgreSQL + S3.

Workloads:

1. batch: the W2 batch (bench/batch_bench.py's workload and image cache): 2,000 640x480 JPEGs
   x 20 boxes, 50 labels, served on 127.0.0.1 by a threaded HTTP server, sent as ONE NDJSON
   batch (`POST /api/v1/projects/{p}/batches`, with httpx) to `labelport serve --workers 0
   --queue procrastinate`; its chunks (`batch_chunk`, 200 lines: 10 jobs) spread over the
   workers, which are started (and listening for procrastinate's jobs) before the POST. Timed
   from the POST until the batch is `success`; every line must succeed and 40,000 instances be
   stored; a warning when more jobs were deferred than the batch has chunks.
   Media copied into S3 (`media=copy`, the default) and by reference (`media=reference`: probed,
   no blob written).
2. images: the ingest bench's (bench/ingest_bench.py) 2,000 images x 20 boxes, each image its
   own packet (its own import and job) and its own served 320x240 JPEG.
3. video: 1,000,000 boxes as 10 video packets of 100,000 boxes (1,000 frames x 100 boxes): one
   import runs on one worker, so a single 1M-box packet cannot spread over workers; ten can.

For each worker count: a fresh PostgreSQL schema. For images and video every packet is submitted
first (queued, jobs deferred to procrastinate), then the workers start and the clock runs from the
first import started to the last finished: submission is the API servers' work, not the
workers'. Blobs go to moto's S3 server, started here on 127.0.0.1.

    .venv/bin/python bench/scale_bench.py --only batch   # the W2 batch, copy and reference
    .venv/bin/python bench/scale_bench.py                # every workload
    .venv/bin/python bench/scale_bench.py --quick        # 400-image batch, 200 images, 2 x 100k
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
import batch_bench as w2  # noqa: E402
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


# --- the W2 batch -------------------------------------------------------------------------------


def w2_ndjson(coco_path: Path, media_url: str) -> bytes:
    """The W2 COCO file as one packet a line, the packets `labelport import --media-url` sends
    (media by URL, boxes by label name, the original file name, an idempotency key)."""
    import msgspec

    coco = json.loads(coco_path.read_bytes())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    boxes: dict[int, list[dict[str, Any]]] = {}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        box = {"type": "box", "name": names[a["category_id"]]}
        box.update(x_min=x, y_min=y, x_max=x + w, y_max=y + h)
        boxes.setdefault(a["image_id"], []).append(box)
    encode = msgspec.json.Encoder().encode
    lines = []
    for image in coco["images"]:
        name = image["file_name"]
        packet = {
            "media": {"type": "image", "url": media_url + name},
            "original_filename": name,
            "instance_list": boxes.get(image["id"], []),
            "idempotency_key": f"w2:{name}",
        }
        lines.append(encode(packet))
    return b"\n".join(lines) + b"\n"


def schema_count(schema: str, query: str) -> Any:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        return conn.execute(query).fetchall()


def listening(procs: list[subprocess.Popen]) -> int:
    """How many of `procs` hold a PostgreSQL session whose last statement was a LISTEN: a
    procrastinate worker's listener, set up after the worker registered itself."""
    import psutil
    import psycopg

    ports: dict[int, int] = {}
    for proc in procs:
        if proc.poll() is not None:
            raise SystemExit(f"a worker exited with {proc.returncode} (see its log)")
        for conn in psutil.Process(proc.pid).net_connections(kind="tcp"):
            ports[conn.laddr.port] = proc.pid
    query = "SELECT client_port FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        found = {ports[p] for (p,) in conn.execute(query).fetchall() if p in ports}
    return len(found)


def s3_objects(storage_url: str) -> int:
    """Objects under the run's prefix: media copies, the batch body, anything else written."""
    import boto3

    bucket, _, prefix = storage_url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=os.environ["LABELPORT_S3_ENDPOINT_URL"])
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    return sum(page.get("KeyCount", 0) for page in pages)


def stop_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_batch(
    body: bytes, images: int, workers: int, storage_url: str, media: str, logs: Path
) -> dict[str, Any]:
    """One W2 batch over `labelport serve --workers 0` and `workers` worker processes."""
    import httpx

    from labelport.service import Service

    schema, url = new_schema()
    run = f"{media}-{workers}"
    procs: list[subprocess.Popen] = []
    try:
        with Service.open(
            database_url=url, storage_url=storage_url, workers=0, queue="procrastinate"
        ) as service:
            project = service.create_project("bench")
            service.create_labels(project["id"], list(w2.LABELS))
            key = service.create_api_key(project["id"])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        common = ["--database-url", url, "--storage-url", storage_url, "--allow-private-urls"]
        server_log = logs / f"serve-{run}.err"
        with open(server_log, "w") as err:
            server = subprocess.Popen(
                [*labelport(), "serve", "--port", str(port), "--data-dir", str(logs / run),
                 "--workers", "0", "--queue", "procrastinate", *common],
                stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        procs.append(server)
        for n in range(workers):
            with open(logs / f"worker-{run}-{n}.err", "w") as err:
                procs.append(
                    subprocess.Popen(
                        [*labelport(), "worker", *common, "--concurrency", "1"],
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                    )
                )
        w2.poll(lambda: w2.server_up(base, server, server_log), timeout=60, interval=0.05)
        # Every worker listening before the POST: their start-up is not the batch's time, and
        # a worker that misses the jobs' NOTIFY would only find them at its next poll (5 s).
        w2.poll(lambda: listening(procs[1:]) == workers, timeout=120, interval=0.1)
        load_before = os.getloadavg()[0]
        loads: list[float] = []
        auth = (key["client_id"], key["client_secret"])
        path = f"{base}/api/v1/projects/{project['string_id']}/batches"
        with httpx.Client(auth=auth, timeout=120) as client:
            started = time.perf_counter()
            answer = client.post(
                path,
                params={"media": media},
                content=body,
                headers={"Content-Type": "application/x-ndjson"},
            )
            answered = time.perf_counter() - started
            if answer.status_code != 202:
                raise SystemExit(f"POST batches: {answer.status_code} {answer.text[:2000]}")
            batch_id = answer.json()["id"]
            deadline = started + 3600
            while True:
                state = client.get(f"{path}/{batch_id}", params={"per_page": 0}).json()
                loads.append(os.getloadavg()[0])
                if state["status"] not in ("queued", "running") or time.perf_counter() > deadline:
                    break
                time.sleep(0.1)
            seconds = time.perf_counter() - started
            lines: list[dict[str, Any]] = []
            for page in range(1, images // 1000 + 2):
                got = client.get(f"{path}/{batch_id}", params={"page": page, "per_page": 1000})
                lines += got.json()["files"]
        ok = [f for f in lines if f["status"] == "success" and not f["duplicate"]]
        boxes = sum(f["counts"]["instances"] for f in ok)
        stored = schema_count(schema, "SELECT count(*) FROM instance")[0][0]
        # A chunk's job marks the line it carries (its first unfinished one) with its worker.
        per_worker = schema_count(
            schema,
            "SELECT claimed_by, count(*) FROM import WHERE claimed_by IS NOT NULL GROUP BY 1",
        )
        blobs = schema_count(schema, "SELECT count(*) FROM file WHERE blob_key IS NOT NULL")
        objects = s3_objects(storage_url)
        # The schema is fresh: the sequence tells how many jobs were deferred (successful jobs
        # are deleted), which should be one per chunk.
        seq = schema_count(schema, "SELECT last_value, is_called FROM procrastinate_jobs_id_seq")
        jobs = seq[0][0] if seq[0][1] else 0
    finally:
        stop_all(procs)
        drop_schema(schema)
    errors = []
    if state["status"] != "success" or len(ok) != images:
        failed = [f for f in lines if f["status"] != "success"][:3]
        errors.append(f"batch {state['status']}, {len(ok)}/{images} lines success: {failed}")
    if boxes != images * w2.PER_IMAGE or stored != images * w2.PER_IMAGE:
        errors.append(f"{boxes} instances reported, {stored} stored")
    if errors:
        raise SystemExit(f"{media}, {workers} worker(s): " + "; ".join(errors))
    return {
        "seconds": seconds,
        "answered": answered,
        "images": images,
        "instances": stored,
        "media_blobs": blobs[0][0],
        "s3_objects": objects,
        "jobs": jobs,
        "jobs_with_work_per_worker": sorted(n for _, n in per_worker),
        "load_before": load_before,
        "load_max": max(loads),
        "load_after": loads[-1],
    }


def bench_batch(images: int, counts: list[int], modes: list[str], storage: str) -> dict[str, Any]:
    from labelport.ingest.intake import Settings

    chunks = -(-images // Settings.batch_chunk)
    cache = Path(tempfile.gettempdir()) / "labelport-batch-bench" / "cache"
    w2.prepare(cache, images)
    coco, folder = cache / f"coco-{images}.json", cache / "images"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="scale-batch-") as tmp, w2.media_server(folder) as url:
        body = w2_ndjson(coco, url)
        print(
            f"W2 batch: {images:,} JPEGs {w2.WIDTH}x{w2.HEIGHT} x {w2.PER_IMAGE} boxes, "
            f"{len(w2.LABELS)} labels, one NDJSON batch of {len(body) / 1e6:.1f} MB "
            f"({chunks} chunk jobs of {Settings.batch_chunk} lines); workers --concurrency 1"
        )
        for media in modes:
            print(f"  media={media}")
            base = None
            for workers in counts:
                got = run_batch(body, images, workers, f"{storage}-{media}-{workers}", media,
                                Path(tmp))  # fmt: skip
                base = base or got["seconds"]
                results[f"batch {media} / {workers}"] = got
                print(
                    f"    {workers} worker(s) {got['seconds']:8.2f} s  "
                    f"{images / got['seconds']:7.1f} images/s  "
                    f"speed-up x{base / got['seconds']:.2f}  "
                    f"(POST answered in {got['answered']:.2f} s; {got['jobs']} jobs; jobs that "
                    f"found work, per worker "
                    f"{got['jobs_with_work_per_worker']}; {got['media_blobs']:,} files with a "
                    f"blob, {got['s3_objects']:,} S3 objects; load {got['load_before']:.2f} "
                    f"before, max {got['load_max']:.2f})",
                    flush=True,
                )
                if got["jobs"] != chunks:
                    print(
                        f"    WARNING: {got['jobs']} jobs deferred for {chunks} chunks (one a "
                        "chunk expected): workers run overlapping runs of the same chunk",
                        flush=True,
                    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="400-image batch, 200 images, 2 x 100k"
    )
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--only", default="batch,images,video", help="of: batch,images,video")
    parser.add_argument("--media", default="copy,reference", help="the batch's media modes")
    parser.add_argument("--skip-images", action="store_true")
    parser.add_argument("--skip-video", action="store_true")
    parser.add_argument(
        "--src",
        type=Path,
        help="run labelport (this process, the server and the workers) from this source tree "
        "(the parent of `labelport/`), e.g. `git archive COMMIT src | tar -x -C DIR` for figures "
        "of a commit while the working tree is being edited",
    )
    args = parser.parse_args()
    if args.src:
        os.environ["PYTHONPATH"] = str(args.src.resolve())
        sys.path.insert(0, str(args.src.resolve()))
    only = set(args.only.split(","))
    if only - {"batch", "images", "video"}:
        parser.error("--only takes batch,images,video")
    if args.skip_images:
        only.discard("images")
    if args.skip_video:
        only.discard("video")
    batch_images = 400 if args.quick else 2_000
    images = 200 if args.quick else 2_000
    videos = 2 if args.quick else 10
    counts = [int(n) for n in args.workers.split(",")]

    cores = os.cpu_count()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"machine: {cores} cores, shared by the workers, the API server, PostgreSQL, moto and "
        f"other jobs: more workers than cores cannot add much; load average {load}"
    )
    import labelport as package

    where = subprocess.run(
        [sys.executable, "-c", "import labelport; print(labelport.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(f"labelport from {package.__file__} (children: {where})")
    moto = Moto()
    results: dict[str, Any] = {}
    try:
        storage = f"s3://{moto.bucket}/run-{uuid.uuid4().hex[:8]}"
        if "batch" in only:
            results |= bench_batch(batch_images, counts, args.media.split(","), storage)
        if only & {"images", "video"}:
            results |= bench_packets(only, images, videos, counts, storage)
    finally:
        moto.stop()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average at the end {load} ({cores} cores)")
    print(json.dumps(results))


def bench_packets(
    only: set[str], images: int, videos: int, counts: list[int], storage_url: str
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp_name:
        media = Path(tmp_name) / "media"
        media.mkdir()
        with serve(media) as base_url:
            (media / "video.mp4").symlink_to(make_video(VIDEO_FRAMES))
            video_packet = build(VIDEO_FRAMES, VIDEO_BOXES).replace(
                PLACEHOLDER_URL, f"{base_url}/video.mp4".encode()
            )
            image_packets = [p.encode() for p in make_images(media, images, PER_IMAGE, base_url)]
            workloads = []
            if "images" in only:
                label = f"{images:,} images x {PER_IMAGE} boxes"
                workloads.append((label, image_packets, images * PER_IMAGE))
            if "video" in only:
                n = videos * VIDEO_FRAMES * VIDEO_BOXES
                label = f"{n:,} boxes ({videos} video packets x 100,000)"
                workloads.append((label, [video_packet] * videos, n))
            print("packets, one import each; workers run --concurrency 1 each")
            results = {}
            for label, packets, boxes in workloads:
                print(label)
                base = None
                for workers in counts:
                    got = run_once(packets, workers, storage_url, boxes)
                    base = base or got["seconds"]
                    speedup = base / got["seconds"]  # against the first worker count
                    results[f"{label} / {workers}"] = got
                    print(
                        f"  {workers} worker(s) {got['seconds']:8.2f} s  "
                        f"{got['imports'] / got['seconds']:7.1f} imports/s  "
                        f"{boxes / got['seconds']:9.0f} boxes/s  speed-up x{speedup:.2f}  "
                        f"(wall with start-up {got['wall']:.2f} s)",
                        flush=True,
                    )
    return results


if __name__ == "__main__":
    main()
