"""Writers of one SQLite file take turns through a lock file beside it (store/database.py,
`WriterTurns`): a write waits for the writer before it, in another process or thread, and a
writer that dies leaves no turn behind."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from labelport.store.database import make_engine, transaction


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with transaction(engine, write=True) as conn:
        conn.exec_driver_sql("CREATE TABLE event (what TEXT, at REAL)")
    return engine


def _events(engine: Engine) -> dict[str, float]:
    with transaction(engine, write=False) as conn:
        return {what: at for what, at in conn.exec_driver_sql("SELECT what, at FROM event")}


def test_the_lock_file_lies_beside_the_database(engine: Engine, tmp_path: Path) -> None:
    assert (tmp_path / "db.sqlite-writer.lock").is_file()


def test_a_write_in_another_process_waits_for_the_turn(engine: Engine, tmp_path: Path) -> None:
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()  # before any transaction: SQLite's lock state must not cross a fork
    if pid == 0:  # the child: its write must come after the parent's transaction ended
        code = 1
        try:
            child = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
            os.read(go_r, 1)
            os.write(ready_w, b"r")
            with transaction(child, write=True) as own:
                own.exec_driver_sql("INSERT INTO event VALUES ('child', ?)", (time.time(),))
            code = 0
        finally:
            os._exit(code)
    with transaction(engine, write=True) as conn:
        os.write(go_w, b"g")
        os.read(ready_r, 1)
        time.sleep(0.3)  # the child is waiting for its turn by now
        conn.exec_driver_sql("INSERT INTO event VALUES ('parent', ?)", (time.time(),))
        released = time.time()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    events = _events(engine)
    assert events["child"] >= released > events["parent"]


def test_threads_of_one_process_take_turns(engine: Engine) -> None:
    inside: list[int] = []
    most = [0]
    lock = threading.Lock()

    def write(n: int) -> None:
        with transaction(engine, write=True) as conn:
            with lock:
                inside.append(n)
                most[0] = max(most[0], len(inside))
            time.sleep(0.02)
            conn.exec_driver_sql("INSERT INTO event VALUES (?, ?)", (f"t{n}", time.time()))
            with lock:
                inside.remove(n)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
    assert len(_events(engine)) == 4


def test_a_killed_writer_leaves_no_turn_behind(engine: Engine, tmp_path: Path) -> None:
    holding_r, holding_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # holds a write transaction until killed
        try:
            child = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
            with transaction(child, write=True) as conn:
                conn.exec_driver_sql("INSERT INTO event VALUES ('lost', 0)")
                os.write(holding_w, b"h")
                time.sleep(60)
        finally:
            os._exit(1)
    os.read(holding_r, 1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    started = time.monotonic()
    with transaction(engine, write=True) as conn:
        conn.exec_driver_sql("INSERT INTO event VALUES ('after', 1)")
    assert time.monotonic() - started < 5
    assert set(_events(engine)) == {"after"}  # the killed writer's insert was never committed


def test_without_a_lock_file_sqlite_orders_the_writers(tmp_path: Path) -> None:
    """Where no lock file can be opened (here a folder holds its name), writes go on under
    SQLite's own lock, as before."""
    path = tmp_path / "db.sqlite"
    (tmp_path / "db.sqlite-writer.lock").mkdir()
    engine = make_engine(f"sqlite:///{path}")
    with transaction(engine, write=True) as conn:
        conn.exec_driver_sql("CREATE TABLE event (what TEXT, at REAL)")
    with transaction(engine, write=True) as conn:
        conn.exec_driver_sql("INSERT INTO event VALUES ('x', 0)")
    assert set(_events(engine)) == {"x"}
