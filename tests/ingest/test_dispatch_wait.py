"""Waiting for an import run by this process's threads ends when the job does, not at a poll."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from labelport.ingest.dispatch import NoDispatch, ThreadRunner


def test_a_waiter_wakes_when_a_job_ends(tmp_path: Path) -> None:
    queue = [7]
    release = threading.Event()

    def claim(_worker: str) -> int | None:
        return queue.pop() if queue else None

    runner = ThreadRunner(
        claim=claim,
        run=lambda _id: release.wait(10),
        requeue_orphans=lambda: 0,
        lock_path=tmp_path / "jobs.lock",
        workers=1,
        poll_seconds=0.05,
    )
    runner.start()
    try:
        ended = runner.jobs_ended
        threading.Timer(0.2, release.set).start()
        started = time.monotonic()
        runner.wait_for_jobs(ended, timeout=30)
        assert runner.jobs_ended == ended + 1
        assert time.monotonic() - started < 15  # woken by the job, not by the 30 s timeout
        # Already past: no wait at all.
        started = time.monotonic()
        runner.wait_for_jobs(ended, timeout=30)
        assert time.monotonic() - started < 1
    finally:
        runner.stop()


def test_without_local_jobs_a_wait_is_a_sleep() -> None:
    started = time.monotonic()
    NoDispatch().wait_for_jobs(NoDispatch().jobs_ended, timeout=0.05)
    assert time.monotonic() - started >= 0.05
