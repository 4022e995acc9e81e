"""W1's server memory over time: where the peak RSS of the 1,000,000-box POST comes from.

The same workload and server as bench/w1_bench.py (SQLite, 1 import worker, the packet POSTed
to the native or the diffgram-compatible route); the server's RSS (with its children, psutil)
is sampled every 50 ms and printed every 0.5 s, marked until the 202/200, with the peak before
and after it against 4x the payload, and the server's CPU time (user + system) from the POST
to `success`: steadier than wall time when other work shares the cores.

    .venv/bin/python bench/w1_rss_timeline.py            # native route
    .venv/bin/python bench/w1_rss_timeline.py compat
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from api_bench import free_port, labelport_cmd, poll, serve_media, setup_project  # noqa: E402
from format_bench import LABELS, build  # noqa: E402
from ingest_bench import PLACEHOLDER_URL, make_video  # noqa: E402
from w1_bench import SDK_KEYS  # noqa: E402

MIB = 2**20


def main() -> None:
    route = sys.argv[1] if len(sys.argv) > 1 else "native"
    root = Path(tempfile.mkdtemp(prefix="labelport-w1-rss-"))
    try:
        media = root / "media"
        media.mkdir()
        (media / "video.mp4").symlink_to(make_video(10_000))
        data_dir = root / "data"
        psid, client_id, secret, _ = setup_project(data_dir, LABELS)
        with serve_media(media) as media_url:
            data = build(10_000, 100).replace(PLACEHOLDER_URL, f"{media_url}/video.mp4".encode())
            body = root / "packet.json"
            body.write_bytes(data if route == "native" else SDK_KEYS + data[1:])
            del data
            measure(route, body, data_dir, psid, client_id, secret)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(route: str, body: Path, data_dir: Path, psid: str, client_id: str, secret: str) -> None:
    port = free_port()
    server = subprocess.Popen(
        [*labelport_cmd(), "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--workers", "1", "--allow-private-urls"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        poll(up, timeout=60, interval=0.05)
        proc = psutil.Process(server.pid)
        samples: list[tuple[float, int]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                try:
                    rss = proc.memory_info().rss + sum(
                        c.memory_info().rss for c in proc.children(recursive=True)
                    )
                except psutil.Error:
                    rss = 0
                samples.append((time.perf_counter(), rss))
                time.sleep(0.05)

        threading.Thread(target=sample, daemon=True).start()
        time.sleep(0.3)
        size = body.stat().st_size
        if route == "native":
            url = f"{base}/api/v1/projects/{psid}/packets"
        else:
            url = f"{base}/api/walrus/v1/project/{psid}/input/packet"
        with httpx.Client(auth=(client_id, secret), timeout=1800) as http, open(body, "rb") as f:
            cpu_before = proc.cpu_times()
            started = time.perf_counter()
            answer = http.post(url, content=f, headers={"Content-Length": str(size)})
            accepted = time.perf_counter()
            answer.raise_for_status()
            if route == "native":
                view = f"{base}/api/v1/projects/{psid}/imports/{answer.json()['id']}"
                state = lambda: http.get(view).json()  # noqa: E731
            else:
                view = f"{base}/api/walrus/v1/project/{psid}/input/view/{answer.json()['input_id']}"
                state = lambda: http.post(view, json={}).json()["input"]  # noqa: E731

            def done() -> bool:
                now = state()
                if now.get("status") == "failed":
                    raise SystemExit(f"the import failed: {str(now)[:2000]}")
                return now.get("status") == "success"

            poll(done, timeout=1800, interval=0.05)
            ended = time.perf_counter()
            cpu_after = proc.cpu_times()
        stop.set()
        time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    before = max(r for t, r in samples if t <= accepted)
    after = max((r for t, r in samples if t > accepted), default=0)
    print(
        f"{route}: payload {size / MIB:.1f} MiB (4x = {4 * size / MIB:.0f} MiB); at rest "
        f"{samples[0][1] / MIB:.0f} MiB; peak before the answer {before / MIB:.0f} MiB, after "
        f"{after / MIB:.0f} MiB = {max(before, after) / size:.2f}x payload; answered after "
        f"{accepted - started:.2f} s, success after {ended - started:.2f} s; server CPU "
        f"{cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system:.2f} s"
    )
    for t, rss in samples[::10]:
        mark = "  (before the answer)" if t <= accepted else ""
        print(f"  {t - started:6.2f} s  {rss / MIB:6.0f} MiB{mark}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
