"""`labelport worker` and `serve --queue`: bad settings end with a message, never a traceback."""

from __future__ import annotations

import pytest

from labelport.service import Service
from server_helpers import run_cli


def test_worker_refuses_inconsistent_timings() -> None:
    out = run_cli(
        "worker",
        "--database-url",
        "postgresql://nobody@127.0.0.1:1/none",
        "--heartbeat",
        "10",
        "--stalled-after",
        "5",
        check=False,
    )
    assert out.returncode == 2
    assert "stalled_after must be longer" in out.stderr and "Traceback" not in out.stderr


def test_worker_needs_postgres(tmp_path) -> None:
    out = run_cli("worker", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", check=False)
    assert out.returncode == 2
    assert "PostgreSQL" in out.stderr and "Traceback" not in out.stderr


def test_service_queue_choices(tmp_path) -> None:
    with pytest.raises(ValueError, match="labelport worker"):
        Service.open(data_dir=tmp_path, queue="procrastinate", workers=2)
    with pytest.raises(ValueError, match="threads, processes or procrastinate"):
        Service.open(data_dir=tmp_path, queue="celery")
