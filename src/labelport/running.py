"""Is a `labelport serve` running on this data directory, and at which address?

`serve` writes `<data dir>/server.json` ({"url", "pid"}) while it runs. A process that runs
imports holds `<data dir>/jobs.lock` (ingest/dispatch.py), so a command that wants to run imports
itself (`labelport import`, embedded) can tell, before it tries, that it would be refused, and
say what to do instead: send them through the running server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SERVER_FILE = "server.json"
LOCK_FILE = "jobs.lock"
# Here, not in service.py: a command asks where the data is before it loads the Service.
DEFAULT_DATA_DIR = Path("labelport-data")


@dataclass(frozen=True)
class Running:
    """Another process runs imports on the data: `url` and `pid` when it is a `labelport serve`
    that said where it listens (None when it is something else, e.g. another `import`)."""

    lock_path: Path
    url: str | None = None
    pid: int | None = None


def data_root(data_dir: Path | None) -> Path:
    return Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR


def imports_runner(data_dir: Path | None) -> Running | None:
    """Who holds the data's import lock, or None when nobody does (the lock is only tested:
    taken and given back at once)."""
    root = data_root(data_dir)
    lock_path = root / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except OSError:
        return None  # no lock file: nothing ever ran imports here
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        url, pid = _server_said(root)
        return Running(lock_path, url, pid)
    finally:
        os.close(fd)  # closing gives the lock back, if it was taken
    return None


def running_server_url(data_dir: Path | None) -> str | None:
    """The address of the `labelport serve` running on this data, if one is."""
    runner = imports_runner(data_dir)
    return runner.url if runner is not None else None


def _server_said(root: Path) -> tuple[str | None, int | None]:
    try:
        said = json.loads((root / SERVER_FILE).read_text())
        url, pid = str(said["url"]), int(said["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None, None  # left behind by a server that was killed
    except PermissionError:
        pass  # alive, another user's
    return url, pid


@contextlib.contextmanager
def announced(data_dir: Path | None, url: str) -> Iterator[None]:
    """While serving: `<data dir>/server.json` says where (removed on the way out)."""
    root = data_root(data_dir)
    path: Path | None = root / SERVER_FILE
    try:  # not made when missing: a server with no data dir runs no imports here to tell of
        (root / SERVER_FILE).write_text(json.dumps({"url": url, "pid": os.getpid()}))
    except OSError:
        path = None  # missing or read-only: nobody will be told, nothing else changes
    try:
        yield
    finally:
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                if json.loads(path.read_text()).get("pid") == os.getpid():
                    path.unlink()
