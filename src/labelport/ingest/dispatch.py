"""Job dispatch: who runs an import once it is queued.

The queue itself is the `import` table (status `queued`), so a job survives any crash: whoever
runs jobs claims rows atomically, and one write transaction both stores the instances and marks
the import `success`, which makes a rerun after a crash safe (it ends exactly once).

`ThreadRunner` is the embedded default: worker threads inside the serving process. A later
out-of-process runner only has to implement `Dispatcher`.

Slow media (issue 13, item 4). An import whose media comes by a remote URL spends most of its
life waiting on the network; two such imports used to hold both workers while every other import
stayed queued. The runner therefore has two kinds of threads:

- `workers` import threads, which claim work and run everything that does not wait on a remote
  source (decoding, local media, batches, which fetch in their own bounded pool);
- `fetch_workers` fetch threads. `run` may return the rest of a job that waits on a remote
  source (`ImportJob.start`); the import thread hands it to a free fetch thread and goes back to
  claiming at once. When every fetch thread is busy it runs the rest itself, as before: the
  number of jobs in flight stays bounded (workers + fetch_workers), nothing waits claimed in a
  queue of ours (a claimed import is one being worked on), and the claim's order decides what
  runs next.

Why this and not a queue of fetches or an async fetcher: the fetch is followed by the probe and
the write of the same import, which are synchronous and need the fetched file; handing the whole
rest of the job to one thread keeps each import on one thread from fetch to write, with the
status and error handling it had. The fetch's own bounds (`FetchConfig.total_timeout`,
`min_rate`) bound how long a fetch thread can be held, and the claim's fairness across projects
(store `claim_next_import`) keeps one project's slow imports from taking every free thread.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

# Names of the runner's threads (import and fetch), as py-spy, logs and tests see them.
IMPORT_THREAD_PREFIX = "labelport-import"


class Dispatcher(Protocol):
    runs_jobs: bool  # True when queued imports run in this very process
    # True when its workers claim queued imports from the store themselves: a new batch needs
    # a wake-up only, not a job per chunk (`enqueue` of each chunk's first line)
    claims_queued: bool

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
    claims_queued = True

    def notify(self) -> None:
        pass

    def enqueue(self, import_id: int) -> None:
        pass  # a runner elsewhere claims queued imports from the store

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def take_jobs_lock(lock_path: Path, requeue_orphans: Callable[[], int]) -> int:
    """Hold `lock_path` exclusively for as long as the returned descriptor is open, then put
    every import still marked as running back in the queue: whoever holds the lock knows that no
    other runner is alive on this data, so those were orphaned by a crash."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(
            f"another labelport process already runs imports on this data ({lock_path})"
        ) from None
    recovered = requeue_orphans()
    if recovered:
        log.warning("requeued %d import(s) left running by a previous process", recovered)
    return fd


class ThreadRunner:
    """Worker threads that claim queued imports from the store and run them.

    Crash recovery: the runner holds an exclusive lock on `<data_dir>/jobs.lock` for its whole
    life. Whoever gets the lock knows no other runner is alive on this data, so every import
    still marked as running was orphaned by a crash and goes back to the queue at once.
    """

    runs_jobs = True
    claims_queued = True

    def __init__(
        self,
        *,
        claim: Callable[[str], Any],  # the next work (an import, a batch's lines) or None
        # Runs claimed work; may return the rest of it, which waits on a remote source, to be
        # run on a fetch thread (see the module docstring).
        run: Callable[[Any], Callable[[], None] | None],
        requeue_orphans: Callable[[], int],
        lock_path: Path | None,  # None: the caller holds the lock (ProcessRunner's fallback)
        workers: int = 2,
        fetch_workers: int = 0,
        poll_seconds: float = 0.5,
    ) -> None:
        self._claim = claim
        self._run = run
        self._requeue_orphans = requeue_orphans
        self._lock_path = lock_path
        self._workers = workers
        self._fetch_workers = fetch_workers
        # One permit per fetch thread: a hand-off never waits in the pool's queue.
        self._fetch_slots = threading.BoundedSemaphore(max(1, fetch_workers))
        self._fetch_pool: ThreadPoolExecutor | None = None
        self._poll = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._ended = threading.Condition()
        self.jobs_ended = 0
        self._threads: list[threading.Thread] = []
        self._lock_fd: int | None = None
        self._worker_prefix = f"{socket.gethostname()}:{os.getpid()}"

    def start(self) -> None:
        if self._lock_path is not None:
            self._lock_fd = take_jobs_lock(self._lock_path, self._requeue_orphans)
        if self._fetch_workers > 0:
            self._fetch_pool = ThreadPoolExecutor(
                self._fetch_workers, thread_name_prefix=f"{IMPORT_THREAD_PREFIX}-fetch"
            )
        for n in range(self._workers):
            thread = threading.Thread(
                target=self._loop,
                args=(f"{self._worker_prefix}:{n}",),
                name=f"{IMPORT_THREAD_PREFIX}-{n}",
                daemon=True,
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
        if self._fetch_pool is not None:
            # Each fetch ends within its deadline; its import is then finished or failed.
            self._fetch_pool.shutdown(wait=True)
            self._fetch_pool = None
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
                rest = self._run(import_id)
            except Exception:
                # run() records failures on the import itself; this is a last line of defence.
                log.exception("import %s crashed its worker", import_id)
                rest = None
            if callable(rest):  # a run that returns anything else has ended
                if self._hand_off(import_id, rest):
                    continue  # a fetch thread ends it; this thread claims the next
                self._finish(import_id, rest)
            self._job_ended()

    def _hand_off(self, work: Any, rest: Callable[[], None]) -> bool:
        """Give ``rest`` to a free fetch thread; False when none is free (or there are none)."""
        pool = self._fetch_pool
        if pool is None or not self._fetch_slots.acquire(blocking=False):
            return False

        def fetch() -> None:
            try:
                self._finish(work, rest)
            finally:
                self._fetch_slots.release()
                self._job_ended()

        try:
            pool.submit(fetch)
        except RuntimeError:  # stopping: the pool takes no more
            self._fetch_slots.release()
            return False
        return True

    @staticmethod
    def _finish(work: Any, rest: Callable[[], None]) -> None:
        try:
            rest()
        except Exception:
            log.exception("import %s crashed its fetch thread", work)

    def _job_ended(self) -> None:
        with self._ended:
            self.jobs_ended += 1
            self._ended.notify_all()
