"""Scale-out end to end: 2 API servers and 3 workers as processes over PostgreSQL and moto S3.

300 packets (images, and videos with frame packet maps big enough to spend a while writing) go
to both servers; one worker is killed with SIGKILL while it writes an import. Every import must
end exactly once: the expected successes and failures, exact instance counts, no duplicated
files, sequences or models, and every stored media blob in the bucket.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from labelport.ingest.intake import Settings
from labelport.service import Service
from labelport.store import tables as t
from labelport.store.database import transaction
from media_factory import make_jpeg, make_mp4, serve_directory
from server_helpers import free_port, labelport_command, wait_until_up

IMAGES = 60  # distinct image files; packets reuse them (each packet still makes its own file)
VIDEO_FRAMES = 120
BIG_VIDEOS = 8  # packets of VIDEO_FRAMES x BIG_BOXES boxes: long enough writes to kill one in
BIG_BOXES = 60
SMALL_VIDEOS = 12
BAD_URLS = 4  # media that is not there: failed with media.http_error
BAD_FRAMES = 2  # a frame past the video's end: failed by the media checks
TOTAL = 300
WORKER_FLAGS = [
    "--allow-private-urls",
    "--concurrency",
    "2",
    "--heartbeat",
    "1",
    "--stalled-after",
    "4",
    "--check-every",
    "1",
    "--orphan-after",
    "20",
]


def box(label: str, n: int, **extra: Any) -> dict[str, Any]:
    x = 2 + (n * 7) % 40
    return {
        "type": "box",
        "name": label,
        "x_min": x,
        "y_min": 2,
        "x_max": x + 10,
        "y_max": 30,
        "model_ref": "detector-v1",
        "model_run_ref": "run-1",
        **extra,
    }


def video_packet(url: str, frames: int, boxes: int) -> dict[str, Any]:
    return {
        "media": {"url": url, "type": "video"},
        "frame_packet_map": {
            str(f): [box("cat" if b % 2 else "dog", b, number=b + 1) for b in range(boxes)]
            for f in range(frames)
        },
    }


def build_packets(media: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(packet, expectation) pairs; an expectation is {"status", "instances"|"code"}."""
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for v in range(BIG_VIDEOS):
        url = media.url(f"clip{v % 2}.mp4")
        out.append(
            (
                video_packet(url, VIDEO_FRAMES, BIG_BOXES),
                {
                    "status": "success",
                    "instances": VIDEO_FRAMES * BIG_BOXES,
                    "sequences": BIG_BOXES,
                },
            )
        )
    for v in range(SMALL_VIDEOS):
        url = media.url(f"clip{v % 2}.mp4")
        out.append(
            (
                video_packet(url, 10, 3),
                {"status": "success", "instances": 30, "sequences": 3},
            )
        )
    for n in range(BAD_URLS):
        packet = {"media": {"url": media.url(f"missing-{n}.jpg"), "type": "image"}}
        packet["instance_list"] = [box("cat", 1)]
        out.append((packet, {"status": "failed", "code": "media.http_error"}))
    for _ in range(BAD_FRAMES):
        packet = video_packet(media.url("clip0.mp4"), 1, 1)
        packet["frame_packet_map"] = {str(VIDEO_FRAMES + 5): packet["frame_packet_map"]["0"]}
        out.append((packet, {"status": "failed", "code": None}))
    n = 0
    while len(out) < TOTAL:
        count = 1 + n % 5
        packet = {
            "media": {"url": media.url(f"img{n % IMAGES}.jpg"), "type": "image"},
            "instance_list": [box("cat" if k % 2 else "dog", k) for k in range(count)],
        }
        out.append((packet, {"status": "success", "instances": count, "sequences": 0}))
        n += 1
    # Big ones spread through the run, so that writes are going on when the kill comes.
    big, rest = out[:BIG_VIDEOS], out[BIG_VIDEOS:]
    step = len(rest) // BIG_VIDEOS
    for i, item in enumerate(big):
        rest.insert(i * (step + 1) + step // 2, item)
    return rest


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("w")
        self.popen = subprocess.Popen(
            [*labelport_command(), *args], stdout=self.handle, stderr=subprocess.STDOUT, env=env
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=35)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self.handle.close()


@pytest.mark.slow
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_two_servers_three_workers_survive_a_killed_worker(database, s3_env, tmp_path) -> None:
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    for i in range(IMAGES):
        make_jpeg(media_dir / f"img{i}.jpg", 64 + i, 48)
    for v in range(2):
        make_mp4(media_dir / f"clip{v}.mp4", frames=VIDEO_FRAMES, fps=10, width=64 + v, height=48)

    storage_url = s3_env.storage_url("scale")
    setup = Service.open(database_url=database.url, storage_url=storage_url, workers=0)
    project = setup.create_project("Scale")
    key = setup.create_api_key(project["id"])
    setup.create_labels(project["id"], ["cat", "dog"])
    auth = (key["client_id"], key["client_secret"])
    env = {**os.environ, **s3_env.env, "PYTHONUNBUFFERED": "1"}
    db = ["--database-url", database.url, "--storage-url", storage_url]

    with ExitStack() as stack:
        stack.callback(setup.close)
        media = stack.enter_context(serve_directory(media_dir))
        servers = []
        for n in range(2):
            port = free_port()
            args = ["serve", "--workers", "0", "--port", str(port), "--allow-private-urls", *db]
            proc = Proc(args, env, tmp_path / f"server{n}.log")
            stack.callback(proc.stop)
            servers.append(f"http://127.0.0.1:{port}")
            wait_until_up(servers[-1], proc=None, timeout=60)
        workers: dict[int, Proc] = {}

        def start_worker(n: int) -> None:
            proc = Proc(["worker", *db, *WORKER_FLAGS], env, tmp_path / f"worker{n}.log")
            stack.callback(proc.stop)
            workers[proc.popen.pid] = proc

        for n in range(3):
            start_worker(n)

        packets = build_packets(media)
        clients = [
            stack.enter_context(
                httpx.Client(
                    base_url=f"{base}/api/v1/projects/{project['string_id']}",
                    auth=auth,
                    timeout=60,
                )
            )
            for base in servers
        ]

        def submit(index: int) -> int:
            answer = clients[index % 2].post("/packets", json=packets[index][0])
            assert answer.status_code == 202, answer.text
            return answer.json()["id"]

        started = time.monotonic()
        pool = stack.enter_context(ThreadPoolExecutor(4))
        futures = [pool.submit(submit, i) for i in range(TOTAL)]

        # Catch an import being written and kill -9 the worker writing it.
        killed: dict[str, Any] | None = None
        deadline = time.monotonic() + 90
        while killed is None and time.monotonic() < deadline:
            writing = clients[0].get("/imports", params={"status": "writing", "per_page": 5})
            for item in writing.json()["items"]:
                row = setup.store.get_import(item["id"])
                pid = int((row.claimed_by or "0:0").rsplit(":", 1)[1])
                if pid in workers and row.status == "writing":
                    os.kill(pid, signal.SIGKILL)
                    workers[pid].popen.wait(timeout=10)
                    after = setup.store.get_import(item["id"]).status
                    if after == "success":  # committed just before the kill: not mid-write
                        start_worker(len(workers))
                        break
                    killed = {"import_id": item["id"], "pid": pid, "status": after}
                    break
            time.sleep(0.02)
        assert killed is not None, "no import was caught while writing"
        ids = [f.result(timeout=120) for f in futures]
        assert len(set(ids)) == TOTAL

        # Everything ends: the killed worker's imports are retried by the others.
        deadline = time.monotonic() + 100
        while time.monotonic() < deadline:
            rows = [setup.store.get_import(i) for i in ids]
            if all(r.status in ("success", "failed") for r in rows):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        stuck = [(r.id, r.status) for r in rows if r.status not in ("success", "failed")]
        assert not stuck, f"unfinished after {elapsed:.0f} s: {stuck[:10]}"

    store = setup.store
    by_id = {r.id: r for r in rows}
    statuses = Counter(r.status for r in rows)
    assert statuses == {"success": TOTAL - BAD_URLS - BAD_FRAMES, "failed": BAD_URLS + BAD_FRAMES}

    # The import caught mid-write was finished once, by another worker.
    recovered = by_id[killed["import_id"]]
    assert recovered.status == "success", recovered
    assert recovered.claimed_by != f"{recovered.claimed_by.rsplit(':', 1)[0]}:{killed['pid']}"

    files = []
    for import_id, (_packet, want) in zip(ids, packets, strict=True):
        row = by_id[import_id]
        assert row.status == want["status"], (row, want)
        if want["status"] == "failed":
            assert row.problem_count >= 1 and row.file_id is None
            if want["code"]:
                assert row.problems[0]["code"] == want["code"], row.problems
            continue
        assert row.counts["added"] == want["instances"], row.counts
        assert store.count_instances(row.file_id) == want["instances"]
        sequences = store.list_sequences(row.file_id)
        numbers = [(s.label_id, s.number) for s in sequences]
        assert len(numbers) == len(set(numbers)) == want["sequences"]
        files.append(row.file_id)

    # One file per successful import, and nothing else (the killed write left no file behind).
    assert len(set(files)) == len(files)
    assert store.count_files(project["id"]) == len(files)
    # One model and one run, though 3 workers created them concurrently.
    with transaction(store.engine, write=False) as conn:
        models = conn.execute(select(func.count()).select_from(t.model)).scalar_one()
        runs = conn.execute(select(func.count()).select_from(t.model_run)).scalar_one()
    assert (models, runs) == (1, 1)
    sample = store.list_instances(files[-1], limit=1000)
    assert len({(i.model_id, i.model_run_id) for i in sample}) == 1

    # Every file's media is in the bucket, complete.
    s3 = s3_env.client()
    for file_id in files:
        row = store.get_file(file_id, project["id"])
        head = s3.head_object(Bucket=s3_env.bucket, Key=f"scale/{row.blob_key}")
        assert head["ContentLength"] == row.size
    assert elapsed < 110, f"took {elapsed:.0f} s"
    print(f"300 imports in {elapsed:.1f} s; killed worker {killed['pid']} writing {killed}")


@pytest.mark.slow
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_batch_spreads_over_workers_and_survives_a_killed_one(database, s3_env, tmp_path) -> None:
    """One batch of 600 lines (3 chunks of `batch_chunk`) through a server and procrastinate
    workers; one worker is killed -9 while the batch runs. Every line ends exactly once, the
    chunks ran on more than one worker, and each file's media is in the bucket."""
    lines, bad = 600, {17, 333}
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    for i in range(IMAGES):
        make_jpeg(media_dir / f"img{i}.jpg", 64 + i, 48)
    storage_url = s3_env.storage_url("batch")
    setup = Service.open(database_url=database.url, storage_url=storage_url, workers=0)
    project = setup.create_project("Batch scale")
    key = setup.create_api_key(project["id"])
    setup.create_labels(project["id"], ["cat", "dog"])
    env = {**os.environ, **s3_env.env, "PYTHONUNBUFFERED": "1"}
    db = ["--database-url", database.url, "--storage-url", storage_url]
    flags = [f if f != "2" else "1" for f in WORKER_FLAGS]  # one job at a time per worker

    with ExitStack() as stack:
        stack.callback(setup.close)
        media = stack.enter_context(serve_directory(media_dir))
        port = free_port()
        server = Proc(
            ["serve", "--workers", "0", "--port", str(port), "--allow-private-urls", *db],
            env,
            tmp_path / "server.log",
        )
        stack.callback(server.stop)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, proc=None, timeout=60)
        workers: dict[int, Proc] = {}

        def start_worker(n: int) -> None:
            proc = Proc(["worker", *db, *flags], env, tmp_path / f"worker{n}.log")
            stack.callback(proc.stop)
            workers[proc.popen.pid] = proc

        for n in range(3):
            start_worker(n)
        packets = []
        for n in range(lines):
            name = f"missing-{n}.jpg" if n in bad else f"img{n % IMAGES}.jpg"
            packets.append(
                {
                    "media": {"url": media.url(name), "type": "image"},
                    "instance_list": [box("cat" if k % 2 else "dog", k) for k in range(3)],
                    "idempotency_key": f"line-{n}",
                }
            )
        body = b"".join(httpx.Request("POST", "/", json=p).content + b"\n" for p in packets)
        client = stack.enter_context(
            httpx.Client(
                base_url=f"{base}/api/v1/projects/{project['string_id']}",
                auth=(key["client_id"], key["client_secret"]),
                timeout=60,
            )
        )
        answer = client.post(
            "/batches", content=body, headers={"Content-Type": "application/x-ndjson"}
        )
        assert answer.status_code == 202, answer.text
        batch_id = answer.json()["id"]
        with transaction(setup.store.engine, write=False) as conn:
            # Counted at once: a chunk takes seconds, and finished jobs are deleted.
            jobs = conn.execute(
                text(
                    "SELECT count(DISTINCT args->>'import_id') FROM procrastinate_jobs WHERE "
                    "(args->>'import_id')::bigint IN (SELECT id FROM import WHERE batch_id = :b)"
                ),
                {"b": batch_id},
            ).scalar_one()

        # Kill one worker while lines of the batch are being worked on.
        killed = None
        deadline = time.monotonic() + 90
        while killed is None and time.monotonic() < deadline:
            counts = client.get(f"/batches/{batch_id}", params={"per_page": 0}).json()["counts"]
            if sum(n for s, n in counts.items() if s in ("fetching", "processing", "writing")):
                pid = next(iter(workers))
                os.kill(pid, signal.SIGKILL)
                workers[pid].popen.wait(timeout=10)
                killed = pid
                start_worker(len(workers))
            time.sleep(0.02)
        assert killed is not None, "the batch was never caught running"

        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            done = client.get(f"/batches/{batch_id}", params={"per_page": 1000}).json()
            if done["status"] in ("success", "partial", "failed"):
                break
            time.sleep(0.5)
        assert done["status"] == "partial", done["counts"]
        # Posting the same batch again imports nothing new.
        again = client.post(
            "/batches", content=body, headers={"Content-Type": "application/x-ndjson"}
        ).json()
        assert again["counts"]["duplicate"] == lines

    store = setup.store
    outcomes = done["files"]
    assert [f["line"] for f in outcomes] == list(range(lines))
    failed = {f["line"] for f in outcomes if f["status"] == "failed"}
    assert failed == bad
    assert all(f["problems"][0]["code"] == "media.http_error" for f in outcomes if f["line"] in bad)
    files = [f["file_id"] for f in outcomes if f["status"] == "success"]
    assert len(set(files)) == len(files) == lines - len(bad)
    assert store.count_files(project["id"]) == len(files)
    with transaction(store.engine, write=False) as conn:
        instances = conn.execute(select(func.count()).select_from(t.instance)).scalar_one()
        chunk_runners = set(
            conn.execute(
                select(t.import_.c.claimed_by).where(
                    t.import_.c.batch_id == batch_id, t.import_.c.claimed_by.is_not(None)
                )
            ).scalars()
        )
    assert instances == 3 * len(files)
    chunk = Settings().batch_chunk
    assert jobs == -(-lines // chunk) == 3  # one job per chunk of lines, not one per line
    assert len(chunk_runners) >= 2, chunk_runners  # the chunks ran on more than one worker
    s3 = s3_env.client()
    for file_id in files[:50]:
        row = store.get_file(file_id, project["id"])
        head = s3.head_object(Bucket=s3_env.bucket, Key=f"batch/{row.blob_key}")
        assert head["ContentLength"] == row.size
