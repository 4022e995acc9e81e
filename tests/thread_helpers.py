"""Jobs run at the same moment, each in a thread of its own: what races between claimers,
writers and importers are tested with."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_together(*jobs: Callable[[], Any]) -> list[Any]:
    """Run every job in its own thread, released together by a barrier; their results, in the
    jobs' order. Fails with every error a job raised, or when a thread has not ended in 60 s."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[n] = jobs[n]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a job did not end in 60 s"
    assert not errors, errors
    return results
