"""HTTP API benchmark: what the server adds on top of the ingest itself.

1. One video packet of 1,000,000 boxes (10,000 frames x 100 boxes, 50 labels, sequence numbers
   1-100, float coordinates) POSTed to `labelport serve` (a subprocess), timed until the import is
   `success`.
2. 16 concurrent clients POSTing 2,000 image packets in total, timed until all are `success`.

Each is measured again in-process (Service.submit_packet of the same bytes, same worker count) in
the same run; the ratio HTTP / in-process is the API's overhead (goal <= 1.3). The server's peak
RSS is sampled with psutil.

    .venv/bin/python bench/api_bench.py            # the full workload
    .venv/bin/python bench/api_bench.py --quick    # a small one, to check the script
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psutil

WIDTH, HEIGHT = 320, 240


# --- workload ---------------------------------------------------------------------------------


def make_video(path: Path, frames: int) -> Path:
    import av
    from PIL import Image

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(frames):
            im = Image.new("RGB", (WIDTH, HEIGHT), ((i * 37) % 256, (i * 11) % 256, 128))
            frame = av.VideoFrame.from_image(im)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_image(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (WIDTH, HEIGHT), (120, 40, 200)).save(path, format="JPEG")
    return path


def label_names(n: int) -> list[str]:
    return [f"label_{i:02d}" for i in range(n)]


def video_packet(url: str, frames: int, boxes: int, labels: list[str]) -> bytes:
    rng = __import__("random").Random(7)
    fpm: dict[str, list[dict[str, Any]]] = {}
    for f in range(frames):
        items = []
        for j in range(boxes):
            x, y = rng.uniform(0, WIDTH - 40), rng.uniform(0, HEIGHT - 40)
            items.append(
                {
                    "type": "box",
                    "name": labels[j % len(labels)],
                    "number": j + 1,
                    "x_min": round(x, 2),
                    "y_min": round(y, 2),
                    "x_max": round(x + rng.uniform(5, 39), 2),
                    "y_max": round(y + rng.uniform(5, 39), 2),
                }
            )
        fpm[str(f)] = items
    return msgspec.json.encode({"media": {"url": url, "type": "video"}, "frame_packet_map": fpm})


def image_packets(url: str, count: int, labels: list[str], tag: str) -> list[bytes]:
    out = []
    for n in range(count):
        instances = [
            {
                "type": "box",
                "name": labels[(n + k) % len(labels)],
                "x_min": 10.0 + k,
                "y_min": 10.0,
                "x_max": 60.5 + k,
                "y_max": 90.25,
            }
            for k in range(10)
        ]
        packet = {
            "media": {"url": url, "type": "image"},
            "instance_list": instances,
            "idempotency_key": f"{tag}-{n}",
        }
        out.append(msgspec.json.encode(packet))
    return out


# --- plumbing ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_media(root: Path) -> Iterator[str]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
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


def labelport_cmd() -> list[str]:
    script = Path(sys.executable).parent / "labelport"
    return [str(script)] if script.exists() else [sys.executable, "-m", "labelport.cli"]


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                rss = self.proc.memory_info().rss
                rss += sum(c.memory_info().rss for c in self.proc.children(recursive=True))
                self.peak = max(self.peak, rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    def stop(self) -> int:
        self.stop_event.set()
        self.join(timeout=2)
        return self.peak


def setup_project(data_dir: Path, labels: list[str]) -> tuple[str, str, str, int]:
    from labelport.service import Service

    service = Service.open(data_dir=data_dir, workers=0)
    try:
        project = service.create_project("bench")
        key = service.create_api_key(project["id"], role="editor")
        service.create_labels(project["id"], labels)
        return project["string_id"], key["client_id"], key["client_secret"], project["id"]
    finally:
        service.close()


def poll(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(interval)


# --- over HTTP ----------------------------------------------------------------------------------


def http_run(
    data_dir: Path, labels: list[str], video: bytes, images: list[bytes], clients: int, workers: int
) -> dict[str, Any]:
    psid, client_id, secret, _ = setup_project(data_dir, labels)
    results: dict[str, Any] = {}
    with served(data_dir, workers) as server:
        api = f"{server.base}/api/v1/projects/{psid}"
        with httpx.Client(auth=(client_id, secret), timeout=900) as http:
            started = time.perf_counter()
            answer = http.post(
                f"{api}/packets", content=video, headers={"Content-Type": "application/json"}
            )
            answer.raise_for_status()
            import_id = answer.json()["id"]
            results["video_accepted_s"] = time.perf_counter() - started
            state: dict[str, Any] = {}

            def video_done() -> bool:
                state.update(http.get(f"{api}/imports/{import_id}").json())
                if state["status"] == "failed":
                    raise RuntimeError(f"video import failed: {state.get('problems')[:3]}")
                return state["status"] == "success"

            poll(video_done, timeout=1800, interval=0.2)
            results["video_s"] = time.perf_counter() - started
            results["video_instances"] = state["counts"]["instances"]

        started = time.perf_counter()
        chunks = [images[i::clients] for i in range(clients)]

        def send(chunk: list[bytes]) -> None:
            with httpx.Client(auth=(client_id, secret), timeout=300) as http:
                for body in chunk:
                    r = http.post(
                        f"{api}/packets", content=body, headers={"Content-Type": "application/json"}
                    )
                    r.raise_for_status()

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, chunks))
        results["images_submitted_s"] = time.perf_counter() - started
        with httpx.Client(auth=(client_id, secret), timeout=60) as http:

            def images_done() -> bool:
                failed = http.get(f"{api}/imports", params={"status": "failed"}).json()["total"]
                if failed:
                    raise RuntimeError(f"{failed} imports failed")
                done = http.get(f"{api}/imports", params={"status": "success", "per_page": 1})
                return done.json()["total"] >= len(images) + 1

            poll(images_done, timeout=1800, interval=0.2)
        results["images_s"] = time.perf_counter() - started
    results["peak_rss"] = server.peak_rss
    return results


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    peak_rss: int = 0  # the server's, once it has stopped


@contextmanager
def served(data_dir: Path, workers: int) -> Iterator[Served]:
    """`labelport serve` over `data_dir` on a free port, up, its RSS sampled; stopped after."""
    port = free_port()
    proc = subprocess.Popen(
        [
            *labelport_cmd(),
            *("serve", "--port", str(port), "--data-dir", str(data_dir)),
            *("--workers", str(workers), "--allow-private-urls"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Served(f"http://127.0.0.1:{port}")
    sampler = RssSampler(proc.pid)
    sampler.start()
    try:
        poll(lambda: _up(server.base, proc), timeout=60, interval=0.05)
        yield server
    finally:
        server.peak_rss = sampler.stop()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _up(base: str, proc: subprocess.Popen) -> bool:
    if proc.poll() is not None:
        raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


# --- in-process -------------------------------------------------------------------------------


def inprocess_run(
    data_dir: Path, labels: list[str], video: bytes, images: list[bytes], clients: int, workers: int
) -> dict[str, Any]:
    from labelport.service import Service

    _, _, _, project_id = setup_project(data_dir, labels)
    service = Service.open(data_dir=data_dir, allow_private_urls=True, workers=workers)
    results: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        imp = service.submit_packet(project_id, video, source="bench")
        done = service.wait_import(project_id, imp["id"], timeout=1800)
        if done["status"] != "success":
            raise RuntimeError(f"in-process video import failed: {done.get('problems')[:3]}")
        results["video_s"] = time.perf_counter() - started

        started = time.perf_counter()
        chunks = [images[i::clients] for i in range(clients)]

        def send(chunk: list[bytes]) -> list[int]:
            return [service.submit_packet(project_id, body, source="bench")["id"] for body in chunk]

        with ThreadPoolExecutor(clients) as pool:
            ids = [i for chunk_ids in pool.map(send, chunks) for i in chunk_ids]
        for import_id in ids:
            done = service.wait_import(project_id, import_id, timeout=1800)
            if done["status"] != "success":
                raise RuntimeError(f"in-process image import failed: {done.get('problems')[:3]}")
        results["images_s"] = time.perf_counter() - started
    finally:
        service.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--boxes", type=int, default=100)
    parser.add_argument("--labels", type=int, default=50)
    parser.add_argument("--images", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="100 frames, 200 images")
    parser.add_argument("--skip-inprocess", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.images = 100, 200

    root = Path(tempfile.mkdtemp(prefix="labelport-api-bench-"))
    try:
        media = root / "media"
        media.mkdir()
        t = time.perf_counter()
        make_video(media / "long.mp4", args.frames)
        make_image(media / "img.jpg")
        labels = label_names(args.labels)
        with serve_media(media) as media_url:
            video = video_packet(f"{media_url}/long.mp4", args.frames, args.boxes, labels)
            images = image_packets(f"{media_url}/img.jpg", args.images, labels, "img")
            n_boxes = args.frames * args.boxes
            print(
                f"workload: {n_boxes:,} boxes in one video packet ({len(video) / 1e6:.0f} MB), "
                f"{args.images:,} image packets from {args.clients} clients; "
                f"server workers {args.workers} (built in {time.perf_counter() - t:.1f} s)"
            )
            http = http_run(root / "http", labels, video, images, args.clients, args.workers)
            local = None
            if not args.skip_inprocess:
                local = inprocess_run(
                    root / "local", labels, video, images, args.clients, args.workers
                )

        def rate(count: int, seconds: float, unit: str) -> str:
            return f"{count / seconds:,.0f} {unit}/s"

        rows = [
            ("video over HTTP", f"{http['video_s']:.2f} s", rate(n_boxes, http["video_s"], "inst")),
            ("  body accepted (202)", f"{http['video_accepted_s']:.2f} s", ""),
            (
                "images over HTTP",
                f"{http['images_s']:.2f} s",
                rate(args.images, http["images_s"], "packets"),
            ),
            (
                "  all submitted",
                f"{http['images_submitted_s']:.2f} s",
                rate(args.images, http["images_submitted_s"], "packets"),
            ),
        ]
        if local:
            rows += [
                (
                    "video in-process",
                    f"{local['video_s']:.2f} s",
                    rate(n_boxes, local["video_s"], "inst"),
                ),
                (
                    "images in-process",
                    f"{local['images_s']:.2f} s",
                    rate(args.images, local["images_s"], "packets"),
                ),
                (
                    "ratio video HTTP / in-process",
                    f"{http['video_s'] / local['video_s']:.2f}",
                    "goal <= 1.3",
                ),
                (
                    "ratio images HTTP / in-process",
                    f"{http['images_s'] / local['images_s']:.2f}",
                    "goal <= 1.3",
                ),
            ]
        rows.append(("server peak RSS", f"{http['peak_rss'] / 2**20:,.0f} MiB", ""))
        width = max(len(r[0]) for r in rows)
        for name, value, rate in rows:
            print(f"{name:<{width}}  {value:>12}  {rate}")
        assert http["video_instances"] == n_boxes, http["video_instances"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
