"""Crash recovery of a batch, for real: the process running a 1,200-line batch is killed
(SIGKILL) partway; the next process on the same data finishes it, and every line ends exactly
once (one file and its boxes per line, nothing twice, nothing lost)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ingest_helpers import assert_each_line_its_own_file, batch_of_boxes
from sqlalchemy import func, select

from labelport.service import Service
from labelport.store import Store, tables
from media_factory import make_png, serve_directory

LINES, BOXES, IMAGES = 1200, 20, 8

CHILD = r"""
import sys, time
from pathlib import Path
from labelport.service import Service
data_dir, database_url, project_id, body_path = sys.argv[1:5]
service = Service.open(data_dir=data_dir, database_url=database_url or None,
                       allow_private_urls=True, workers=1)
batch = service.submit_batch(int(project_id), Path(body_path).read_bytes())
print(batch["id"], flush=True)
time.sleep(120)  # the parent kills us long before this
"""


@pytest.mark.slow
def test_killed_batch_is_finished_once_by_the_next_process(database, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database_url = database.url if database.dialect == "postgresql" else ""
    url_for_store = database_url or f"sqlite:///{(data_dir / 'labelport.db').resolve()}"
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    for i in range(IMAGES):
        make_png(media_dir / f"img{i}.png", 64 + i, 48)

    store = Store.open(url_for_store)
    try:
        project = store.create_project("crash", "Crash")
        store.create_labels(project.id, ["cat"])
        with serve_directory(media_dir) as server:
            body = tmp_path / "batch.ndjson"
            body.write_bytes(
                batch_of_boxes([server.url(f"img{i}.png") for i in range(IMAGES)], LINES, BOXES)
            )
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(data_dir), database_url, str(project.id),
                 str(body)],
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            try:
                batch_id = int(child.stdout.readline())
                done_at_kill = _kill_midway(store, child, batch_id)
            finally:
                if child.poll() is None:
                    child.kill()
                child.wait(timeout=10)
            assert child.returncode == -signal.SIGKILL
            assert 0 < done_at_kill < LINES, "the kill did not come partway through the batch"

            with Service.open(
                data_dir=data_dir,
                database_url=database_url or None,
                allow_private_urls=True,
                workers=1,
            ) as service:
                done = service.wait_batch(project.id, batch_id, timeout=120)
                lines = [
                    f
                    for page in (1, 2, 3)
                    for f in service.get_batch(project.id, batch_id, page=page, per_page=500)[
                        "files"
                    ]
                ]
        assert done["status"] == "success", done
        assert [f["line"] for f in lines] == list(range(LINES))
        assert all(f["status"] == "success" and not f["duplicate"] for f in lines)
        files = [f["file_id"] for f in lines]
        assert len(set(files)) == LINES
        assert_each_line_its_own_file(store, LINES, BOXES)
        assert store.count_imports(project.id) == LINES
        with store.engine.connect() as conn:
            attempts = conn.execute(select(func.max(tables.import_.c.attempts))).scalar_one()
        assert attempts <= 2
    finally:
        store.close()


def _kill_midway(store: Store, child: subprocess.Popen, batch_id: int) -> int:
    """Kill the child once some lines have ended and others have not; the lines ended then."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and child.poll() is None:
        counts = store.batch_state(batch_id)[1]
        if counts.get("success", 0) >= 250:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
            return counts.get("success", 0)
        time.sleep(0.005)
    return 0
