"""Worker processes forked from the embedded import: its jobs on every core.

`ThreadRunner`'s threads share one core between them through the GIL, and in `labelport import`
they also share it with the importer reading the source and sending its batches. A batch job is
mostly Python (decode, checks, media fetch and probe, rows), so on a 2-core machine the import ran
at one core's speed. `ProcessRunner` forks its workers once the Service is open: each child opens
its own store and blob store on the same data and claims work from the store exactly as a thread
would (the queue is the `import` table, so a child is just another claimer).

How the two sides talk, without a queue engine for one process tree:
- a wake pipe, parent to children: `notify` writes one byte per child; a child that found nothing
  to claim sleeps on it (or its poll interval). The parent closing it is the children's stop.
- an ended pipe, children to parent: one byte per job ended, for `wait_for_jobs`.

A child that dies (killed, out of memory) has its claimed, unfinished imports put back to
`queued` by the parent, who sees it go (`os.waitpid`); the other children take them. Once every
child is gone the parent runs what is left in threads of its own. Whatever happens, an import
ends once: its write refuses an import that has already ended.

Forking is safe here because it happens before this process starts any thread, and a child
never touches what it inherited: it opens new connections and leaves with `os._exit`, so no
inherited connection is closed (a PostgreSQL one would be ended for the parent too).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from labelport.ingest.dispatch import ThreadRunner, take_jobs_lock

log = logging.getLogger(__name__)


class Worker(Protocol):
    """What a child runs jobs with: a Service opened in the child (claim, run, close)."""

    def _claim(self, worker_id: str) -> Any: ...
    def _run_claimed(self, claimed: Any) -> Callable[[], None] | None: ...
    def close(self) -> None: ...


def can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


class ProcessRunner:
    """`processes` forked workers that claim queued imports from the store and run them.

    Crash recovery is `ThreadRunner`'s: the parent holds `<data_dir>/jobs.lock` (so do the
    children, by inheritance, until they exit), and imports left running by an earlier process
    go back to the queue at start.
    """

    runs_jobs = False  # jobs run in the children: nothing is handed over in memory
    claims_queued = True

    def __init__(
        self,
        *,
        open_worker: Callable[[], Worker],  # called in each child, after the fork
        claim: Callable[[str], Any],  # the parent's own, for when no child is left
        run: Callable[[Any], Callable[[], None] | None],
        requeue_orphans: Callable[[], int],
        requeue_worker: Callable[[str], int],
        lock_path: Path,
        processes: int = 2,
        poll_seconds: float = 0.5,
    ) -> None:
        self._open_worker = open_worker
        self._claim = claim
        self._run = run
        self._requeue_orphans = requeue_orphans
        self._requeue_worker = requeue_worker
        self._lock_path = lock_path
        self._processes = processes
        self._poll = poll_seconds
        self._children: dict[int, str] = {}  # pid -> the worker id its claims carry
        self._wake_w = -1
        self._ended_r = -1
        self._lock_fd: int | None = None
        self._fallback: ThreadRunner | None = None
        self._fallback_base = 0  # jobs_ended when the fallback threads took over
        self._reap_lock = threading.Lock()
        self.jobs_ended = 0

    def start(self) -> None:
        self._lock_fd = take_jobs_lock(self._lock_path, self._requeue_orphans)
        # os.pipe's ends are not inherited by an exec (PEP 446), only by the fork below.
        wake_r, self._wake_w = os.pipe()
        self._ended_r, ended_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._ended_r, False)
        host = socket.gethostname()
        # What exists now is the workers' inheritance: frozen, their garbage collector never
        # walks it (a walk writes into every object, so each page would be copied per worker).
        gc.freeze()
        for _ in range(self._processes):
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(self._wake_w)
                os.close(self._ended_r)
                _child(self._open_worker, wake_r, ended_w, f"{host}:{os.getpid()}:0", self._poll)
            self._children[pid] = f"{host}:{pid}:0"
        gc.unfreeze()  # the parent collects as before
        os.close(wake_r)
        os.close(ended_w)

    def notify(self) -> None:
        if self._wake_w >= 0:
            # Full of wake-ups already, or no child left to read it.
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                os.write(self._wake_w, b"w" * max(len(self._children), 1))
        if self._fallback is not None:
            self._fallback.notify()

    def enqueue(self, import_id: int) -> None:
        self.notify()  # the children claim queued imports from the store themselves

    def wait_for_jobs(self, ended: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.jobs_ended == ended:
            self._reap()
            left = deadline - time.monotonic()
            if self._fallback is not None:
                self._fallback.wait_for_jobs(ended - self._fallback_base, max(left, 0.0))
                self.jobs_ended = self._fallback_base + self._fallback.jobs_ended
                return
            if left <= 0:
                return
            # Woken by a job's end, or every 0.25 s to see whether a child has died.
            readable, _, _ = select.select([self._ended_r], [], [], min(left, 0.25))
            if readable:
                self._read_ended()

    def _read_ended(self) -> None:
        while True:
            try:
                data = os.read(self._ended_r, 4096)
            except BlockingIOError:
                return
            if not data:
                return
            self.jobs_ended += len(data)

    def _reap(self) -> None:
        """Children that have died: their claims go back to the queue, for the others."""
        with self._reap_lock:
            for pid, worker_id in list(self._children.items()):
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done, status = pid, 0
                if done == 0:
                    continue
                del self._children[pid]
                requeued = self._requeue_worker(worker_id)
                log.warning(
                    "import worker %d ended (status %d); %d import(s) it held are queued again",
                    pid,
                    status,
                    requeued,
                )
                self.notify()
            if not self._children and self._fallback is None and self._wake_w >= 0:
                log.warning("no import worker process is left: imports run in this process")
                self._fallback_base = self.jobs_ended
                self._fallback = ThreadRunner(
                    claim=self._claim,
                    run=self._run,
                    requeue_orphans=lambda: 0,
                    lock_path=None,
                    workers=1,
                )
                self._fallback.start()

    def stop(self) -> None:
        if self._wake_w >= 0:
            os.close(self._wake_w)  # end of file on the wake pipe: the children finish and exit
            self._wake_w = -1
        deadline = time.monotonic() + 30
        for pid in list(self._children):
            pause = 0.0005  # a child ends a few ms after its pipe does: a command's exit waits
            while time.monotonic() < deadline:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(pause)
                pause = min(pause * 2, 0.01)
            else:
                log.error("import worker %d did not stop; killed", pid)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            self._children.pop(pid, None)
        if self._fallback is not None:
            self._fallback.stop()
            self._fallback = None
        if self._ended_r >= 0:
            self._read_ended()
            os.close(self._ended_r)
            self._ended_r = -1
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _child(
    open_worker: Callable[[], Worker], wake_r: int, ended_w: int, worker_id: str, poll: float
) -> None:
    """A child's life: claim and run until the wake pipe ends; then leave without cleanup of
    anything inherited (`os._exit`)."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        worker = open_worker()
        try:
            _serve(worker, wake_r, ended_w, worker_id, poll)
        finally:
            worker.close()
    except BaseException:
        log.exception("import worker %d failed", os.getpid())
        code = 1
    finally:
        os._exit(code)


def _serve(worker: Worker, wake_r: int, ended_w: int, worker_id: str, poll: float) -> None:
    os.set_blocking(wake_r, False)
    os.set_blocking(ended_w, False)
    while True:
        try:
            work = worker._claim(worker_id)
        except Exception:
            log.exception("claiming an import failed")
            work = None
        if work is None:
            readable, _, _ = select.select([wake_r], [], [], poll)
            if readable:
                try:
                    if not os.read(wake_r, 64):
                        return  # the parent closed the pipe: stop
                except BlockingIOError:
                    pass  # another child took the wake-up
            continue
        try:
            rest = worker._run_claimed(work)
            if callable(rest):  # the rest of an import waiting on remote media
                rest()
        except Exception:
            log.exception("import %s crashed its worker", work)
        try:
            os.write(ended_w, b"e")
        except BlockingIOError:
            pass  # the parent has not read for 64 KiB of job ends: it polls again in 0.25 s
        except BrokenPipeError:
            return  # the parent is gone
