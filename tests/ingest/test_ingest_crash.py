"""Crash recovery, for real: a process importing 200,000 instances is killed (SIGKILL) while it
writes; the next process on the same data requeues the import, which ends `success` exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import func, select, text

from labelport.service import Service
from labelport.store import Store, tables
from media_factory import make_mp4, serve_directory

FRAMES, PER_FRAME, LABELS = 2000, 100, 10
TOTAL = FRAMES * PER_FRAME
SIZE = 32  # a tiny frame: the video must only be long, not large

CHILD = r"""
import sys, time
from pathlib import Path
from labelport.service import Service
data_dir, database_url, project_id, packet_path = sys.argv[1:5]
service = Service.open(data_dir=data_dir, database_url=database_url or None,
                       allow_private_urls=True, workers=1)
submitted = service.submit_packet(int(project_id), Path(packet_path).read_bytes())
print(submitted["id"], flush=True)
time.sleep(120)  # the parent kills us long before this
"""


def _packet(url: str) -> bytes:
    fpm = {
        frame: [
            {
                "type": "box",
                "name": f"label_{j % LABELS}",
                "number": j + 1,
                "x_min": (j % 16) + 0.5,
                "y_min": (frame % 16) + 0.25,
                "x_max": (j % 16) + 8.5,
                "y_max": (frame % 16) + 9.0,
            }
            for j in range(PER_FRAME)
        ]
        for frame in range(FRAMES)
    }
    return msgspec.json.encode({"media": {"url": url, "type": "video"}, "frame_packet_map": fpm})


def _writing_in_progress(store: Store, wal: Path, wal_at_start: int) -> bool:
    """Evidence that the instance rows are being written (not yet committed)."""
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            copying = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE :copy"
                    " AND state = 'active'"
                ),
                {"copy": 'COPY "instance"%'},
            ).scalar_one()
        return copying > 0
    # SQLite spills the uncommitted pages of a big transaction into the WAL as they are written.
    return wal.exists() and wal.stat().st_size > wal_at_start + (2 << 20)


@pytest.mark.slow
def test_killed_import_is_rerun_and_ends_once(database, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database_url = database.url if database.dialect == "postgresql" else ""
    url_for_store = database_url or f"sqlite:///{(data_dir / 'labelport.db').resolve()}"
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    make_mp4(media_dir / "long.mp4", frames=FRAMES, fps=25, width=SIZE, height=SIZE)

    store = Store.open(url_for_store)
    try:
        project = store.create_project("crash", "Crash")
        store.create_labels(project.id, [f"label_{n}" for n in range(LABELS)])
        with serve_directory(media_dir) as server:
            packet_path = tmp_path / "packet.json"
            packet_path.write_bytes(_packet(server.url("long.mp4")))
            wal = data_dir / "labelport.db-wal"
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(data_dir),
                    database_url,
                    str(project.id),
                    str(packet_path),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                import_id = int(child.stdout.readline())
                status = _kill_while_writing(store, child, import_id, wal)
            finally:
                if child.poll() is None:
                    child.kill()
                child.wait(timeout=10)
            assert status == "writing"
            assert child.returncode == -signal.SIGKILL
            after_kill = store.get_import(import_id)
            assert after_kill.status == "writing" and after_kill.attempts == 1
            assert _count(store, tables.instance) == _count(store, tables.file) == 0

            with Service.open(
                data_dir=data_dir,
                database_url=database_url or None,
                allow_private_urls=True,
                workers=1,
            ) as service:
                done = service.wait_import(project.id, import_id, timeout=60)
        assert done["status"] == "success", done
        final = store.get_import(import_id)
        assert final.attempts == 2  # run once more, not more
        assert done["counts"]["added"] == done["counts"]["instances"] == TOTAL
        assert _count(store, tables.instance) == TOTAL
        assert store.count_imports(project.id) == 1 and _count(store, tables.file) == 1
        with store.engine.connect() as conn:
            s = tables.sequence
            tracks = conn.execute(
                select(
                    s.c.label_id, s.c.number, s.c.instance_count, s.c.first_frame, s.c.last_frame
                )
            ).all()
            imports_of_rows = conn.execute(select(tables.instance.c.import_id).distinct()).all()
        assert len(tracks) == len({(t.label_id, t.number) for t in tracks}) == PER_FRAME
        assert {(t.instance_count, t.first_frame, t.last_frame) for t in tracks} == {
            (FRAMES, 0, FRAMES - 1)
        }
        assert imports_of_rows == [(import_id,)]
    finally:
        store.close()


def _kill_while_writing(store: Store, child: subprocess.Popen, import_id: int, wal: Path) -> str:
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        status = store.get_import(import_id).status
        if status == "writing" or status in ("success", "failed") or child.poll() is not None:
            break
        time.sleep(0.005)
    if status == "writing":
        wal_at_start = wal.stat().st_size if wal.exists() else 0
        # Kill inside the bulk write when we can see it, else at once (still mid-import).
        seen_by = time.monotonic() + 5
        while time.monotonic() < seen_by and not _writing_in_progress(store, wal, wal_at_start):
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    return status


def _count(store: Store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()
