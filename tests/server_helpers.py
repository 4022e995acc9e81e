"""Running labelport servers in tests: `labelport serve` as a subprocess, or an app in a thread.

A plain module like media_factory: ``from server_helpers import ServeProcess, run_cli``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def labelport_command() -> list[str]:
    """The installed `labelport` script beside this Python, else the module."""
    script = Path(sys.executable).parent / "labelport"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from labelport.cli import main; main()"]


def run_cli(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*labelport_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"labelport {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


def cli_json(*args: str) -> Any:
    return json.loads(run_cli(*args, "--json").stdout)


def wait_until_up(base_url: str, timeout: float = 30, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"server exited with {proc.returncode}: {out}")
        try:
            if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server at {base_url} did not come up in {timeout} s")


class ServeProcess:
    """`labelport serve` on a free port over `data_dir`; a context manager."""

    def __init__(self, data_dir: Path, *extra: str, workers: int = 2) -> None:
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.args = [
            *labelport_command(),
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(workers),
            *extra,
        ]
        self.proc: subprocess.Popen | None = None
        self.banner = ""

    def __enter__(self) -> ServeProcess:
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        self.banner = self.proc.stdout.readline()
        wait_until_up(self.base_url, proc=self.proc)
        return self

    def cli(self, *args: str) -> Any:
        """A CLI command on the server's data, answering JSON."""
        return cli_json(*args, "--data-dir", str(self.data_dir))

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextmanager
def threaded_server(app: Any, **options: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread of this process; yields the base URL.
    ``options`` go to `uvicorn.Config` (proxy headers, forwarded IPs...)."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class ProjectKeys:
    id: int
    string_id: str
    keys: dict[str, tuple[str, str]]  # role -> (client_id, client_secret)

    def auth(self, role: str = "admin") -> tuple[str, str]:
        return self.keys[role]

    def url(self, path: str = "") -> str:
        return f"/api/v1/projects/{self.string_id}{path}"


def make_project(service: Any, name: str) -> ProjectKeys:
    project = service.create_project(name)
    keys = {}
    for role in ("admin", "editor", "viewer"):
        key = service.create_api_key(project["id"], role=role)
        keys[role] = (key["client_id"], key["client_secret"])
    return ProjectKeys(project["id"], project["string_id"], keys)


def wait_import(client: Any, project: ProjectKeys, import_id: int) -> dict[str, Any]:
    """The native API's import record once it is finished (success or failed); `client` is a
    TestClient signed in to the project."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data: dict[str, Any] = client.get(project.url(f"/imports/{import_id}")).json()
        if data["status"] in ("success", "failed"):
            return data
        time.sleep(0.05)
    raise AssertionError(f"import {import_id} did not finish: {data}")
