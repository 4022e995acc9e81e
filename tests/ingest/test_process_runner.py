"""Import jobs in forked worker processes (`queue="processes"`, what `labelport import` uses).

Each case runs in a fresh Python process (a test process may have threads running, and a process
with threads does not fork its workers: it falls back to threads, which would prove nothing):
the batch's lines run in the children, each ends exactly once, and a child killed with SIGKILL
partway loses nothing: its lines go back to the queue and the others (or, with none left, the
parent) finish them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ingest_helpers import assert_each_line_its_own_file, batch_of_boxes
from sqlalchemy import select

from labelport.store import Store, tables
from media_factory import make_png

LINES, BOXES, IMAGES = 400, 5, 4

SCRIPT = r"""
import json, os, signal, sys, time
from pathlib import Path
from labelport.ingest.process_runner import ProcessRunner
from labelport.service import Service

data_dir, database_url, media_dir, body_path, kill = sys.argv[1:6]
# Chunks of 20 lines, so that a kill after the first chunk ended always leaves most of the batch
# to the survivors (with 200-line chunks, the other worker's chunk could end before the kill).
import dataclasses, labelport.service
settings = labelport.service.Settings
labelport.service.Settings = lambda **kw: dataclasses.replace(settings(**kw), batch_chunk=20)
service = Service.open(data_dir=data_dir, database_url=database_url or None,
                       media_roots=[media_dir], workers=2, queue="processes")
runner = service.dispatcher
children = sorted(runner._children) if isinstance(runner, ProcessRunner) else []
project = service.create_project("Forked")
service.create_labels(project["id"], ["cat"])
batch = service.submit_batch(project["id"], Path(body_path).read_bytes())
killed, ended_before = [], 0
if kill != "none":
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = service.store.batch_state(batch["id"])[1]
        if counts.get("success", 0) >= 20:
            break
        time.sleep(0.002)
    for pid in children[: 1 if kill == "one" else 2]:
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
    ended_before = service.store.batch_state(batch["id"])[1].get("success", 0)
done = service.wait_batch(project["id"], batch["id"], timeout=120)
lines = service.get_batch(project["id"], batch["id"], per_page=1000)["files"]
print(json.dumps({
    "runner": type(runner).__name__, "parent": os.getpid(), "children": children,
    "killed": killed, "ended_before": ended_before, "status": done["status"],
    "project_id": project["id"],
    "lines": [[f["line"], f["status"], f["duplicate"], f["file_id"]] for f in lines],
}))
service.close()
"""


def _run(database, tmp_path: Path, kill: str) -> tuple[dict, set[int]]:
    """Import the batch in a fresh process, killing `kill` ("none", "one", "all") of its workers
    partway; check that every line ended once, as its own file with its own boxes. Returns what
    the script printed and the pids that claimed the lines."""
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    for i in range(IMAGES):
        make_png(media_dir / f"img{i}.png", 64 + i, 48)
    body = tmp_path / "batch.ndjson"
    urls = [(media_dir / f"img{i}.png").as_uri() for i in range(IMAGES)]
    body.write_bytes(batch_of_boxes(urls, LINES, BOXES))
    data_dir = tmp_path / "data"
    database_url = database.url if database.dialect == "postgresql" else ""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(data_dir), database_url, str(media_dir), str(body),
         kill],
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    if kill != "none":
        assert result["ended_before"] < LINES, "the workers ended every line before the kill"
    store = Store.open(database_url or f"sqlite:///{(data_dir / 'labelport.db').resolve()}")
    try:
        claimed = {_pid(w) for w in _assert_each_line_once(result, store)}
    finally:
        store.close()
    return result, claimed


def _assert_each_line_once(result: dict, store: Store) -> list[str]:
    """Every line succeeded, as its own file with its own boxes; the workers that ran them."""
    assert result["status"] == "success"
    assert [line[0] for line in result["lines"]] == list(range(LINES))
    assert all(status == "success" and not dup for _, status, dup, _ in result["lines"])
    assert len({file_id for *_, file_id in result["lines"]}) == LINES
    assert_each_line_its_own_file(store, LINES, BOXES)
    with store.engine.connect() as conn:
        return list(conn.execute(select(tables.import_.c.claimed_by)).scalars())


def _pid(worker_id: str | None) -> int:
    assert worker_id is not None
    return int(worker_id.split(":")[-2])


def test_a_batch_runs_in_the_worker_processes(database, tmp_path: Path) -> None:
    result, claimed = _run(database, tmp_path, "none")
    assert result["runner"] == "ProcessRunner"
    assert len(result["children"]) == 2
    assert claimed <= set(result["children"]), "a line ran outside the worker processes"
    assert result["parent"] not in claimed


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(database, tmp_path: Path) -> None:
    result, claimed = _run(database, tmp_path, "one")
    assert len(result["killed"]) == 1
    [survivor] = set(result["children"]) - set(result["killed"])
    # Lines finished before the kill keep the dead worker's id; those left are the survivor's.
    assert survivor in claimed
    assert claimed <= set(result["children"])


@pytest.mark.slow
def test_with_every_worker_killed_the_parent_finishes(database, tmp_path: Path) -> None:
    result, claimed = _run(database, tmp_path, "all")
    assert len(result["killed"]) == 2
    assert result["parent"] in claimed, "the parent's fallback threads ran nothing"
