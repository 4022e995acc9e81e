"""Fixtures of the scale-out tests: a moto S3 server as a local process, env for boto3.

PostgreSQL comes from the shared `database` fixture (tests/conftest.py), one schema per test;
procrastinate's tables land in it too (the URL carries the search_path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server_helpers import free_port


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    env: dict[str, str]  # what a labelport process needs to reach it

    def storage_url(self, prefix: str = "lp") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


def _moto_server() -> str | None:
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else shutil.which("moto_server")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 (a real HTTP endpoint, not in-process mocks)."""
    binary = _moto_server()
    try:
        import boto3  # noqa: F401
    except ImportError:
        binary = None
    if binary is None:
        if os.environ.get("LABELPORT_REQUIRE_POSTGRES") == "1":
            pytest.fail("moto_server / boto3 missing: install '.[dev,s3]'")
        pytest.skip("moto_server / boto3 missing: install '.[dev,s3]'")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LABELPORT_S3_ENDPOINT_URL": endpoint,
    }
    server = S3Server(endpoint, f"labelport-{uuid.uuid4().hex[:8]}", env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.client().create_bucket(Bucket=server.bucket)
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server, with this process's environment pointing boto3 at it."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return s3_server
