"""Job dispatch: who runs an import once it is queued.

The queue itself is the `import` table (status `queued`), so a job survives any crash: whoever
runs jobs claims rows atomically, and one write transaction both stores the instances and marks
the import `success`, which makes a rerun after a crash safe (it ends exactly once).

`ThreadRunner` is the embedded default: worker threads inside the serving process. A later
out-of-process runner only has to implement `Dispatcher`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    runs_jobs: bool  # True when queued imports run in this very process

    def notify(self) -> None:
        """A new import was queued: wake a worker now rather than at its next poll."""

    def enqueue(self, import_id: int) -> None:
        """Import `import_id` was just created `queued`: see that it runs (Service calls this)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def jobs_ended(self) -> int:
        """How many jobs this process has finished (0 where none run here)."""

    def wait_for_jobs(self, ended: int, timeout: float) -> None:
        """Sleep up to `timeout`, and no longer once `jobs_ended` differs from `ended`: a waiter
        learns of its import's end at once instead of at its next poll."""


class JobsElsewhere:
    """For dispatchers whose jobs run in other processes: nothing here to wait on."""

    jobs_ended = 0

    def wait_for_jobs(self, ended: int, timeout: float) -> None:
        time.sleep(timeout)


class NoDispatch(JobsElsewhere):
    """For processes that only enqueue (the CLI next to a server, `serve --workers 0`)."""

    runs_jobs = False

    def notify(self) -> None:
        pass

    def enqueue(self, import_id: int) -> None:
        pass  # a runner elsewhere claims queued imports from the store

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class ThreadRunner:
    """Worker threads that claim queued imports from the store and run them.

    Crash recovery: the runner holds an exclusive lock on `<data_dir>/jobs.lock` for its whole
    life. Whoever gets the lock knows no other runner is alive on this data, so every import
    still marked as running was orphaned by a crash and goes back to the queue at once.
    """

    runs_jobs = True

    def __init__(
        self,
        *,
        claim: Callable[[str], Any],  # the next work (an import, a batch's lines) or None
        run: Callable[[Any], None],
        requeue_orphans: Callable[[], int],
        lock_path: Path,
        workers: int = 2,
        poll_seconds: float = 0.5,
    ) -> None:
        self._claim = claim
        self._run = run
        self._requeue_orphans = requeue_orphans
        self._lock_path = lock_path
        self._workers = workers
        self._poll = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._ended = threading.Condition()
        self.jobs_ended = 0
        self._threads: list[threading.Thread] = []
        self._lock_fd: int | None = None
        self._worker_prefix = f"{socket.gethostname()}:{os.getpid()}"

    def start(self) -> None:
        self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise RuntimeError(
                f"another labelport process already runs imports on this data ({self._lock_path})"
            ) from None
        recovered = self._requeue_orphans()
        if recovered:
            log.warning("requeued %d import(s) left running by a previous process", recovered)
        for n in range(self._workers):
            thread = threading.Thread(
                target=self._loop, args=(f"{self._worker_prefix}:{n}",), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def notify(self) -> None:
        self._wake.set()

    def enqueue(self, import_id: int) -> None:
        self.notify()  # the threads claim queued imports from the store themselves

    def wait_for_jobs(self, ended: int, timeout: float) -> None:
        with self._ended:
            self._ended.wait_for(lambda: self.jobs_ended != ended, timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _loop(self, worker_id: str) -> None:
        while not self._stopping.is_set():
            # Clear before claiming, so a notify() that lands after an empty claim still wakes us.
            self._wake.clear()
            try:
                import_id = self._claim(worker_id)
            except Exception:
                log.exception("claiming an import failed")
                import_id = None
            if import_id is None:
                self._wake.wait(self._poll)
                continue
            try:
                self._run(import_id)
            except Exception:
                # run() records failures on the import itself; this is a last line of defence.
                log.exception("import %s crashed its worker", import_id)
            with self._ended:
                self.jobs_ended += 1
                self._ended.notify_all()
