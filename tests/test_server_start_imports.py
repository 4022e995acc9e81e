"""A server that starts holds no module it may never use: PyAV, httpx, numpy and Pillow come in
with the first video probe, URL fetch, evaluation shown or image probed. Each costs memory for the
server's whole life (PyAV and numpy ~30 MiB together), which counts against the peak of a big
import (bench W1), and time at every start: the CLI's own process, which hands its files to
workers, never probes an image (Pillow was ~15-40 ms of each `labelport import`'s start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

START = """
import sys
from labelport.api import create_app
from labelport.service import Service

service = Service.open(data_dir=sys.argv[1], workers=1)
create_app(service)
print(" ".join(sorted(m for m in ("av", "httpx", "numpy", "PIL") if m in sys.modules)))
service.close()
"""


def test_a_started_server_has_not_loaded_pyav_httpx_numpy_or_pillow(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", START, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "", f"loaded at start: {done.stdout.strip()}"
