"""Writer turns bench: how long after one process ends its SQLite write transaction another,
waiting to write, gets in — with labelport's writer turns (store/database.py `WriterTurns`) and
with SQLite's own busy handler alone.

Run: python bench/writer_turns_bench.py [--hand-overs 20]

The parent holds a write transaction for 5 ms, 9 ms, ... (4 ms more each time) while a forked
child waits to insert a row stamped with the time it got in; the parent notes when it let go.
The figure is the child's stamp minus that moment, per hand-over: the time the lock sat free.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from labelport.store import database


def hand_overs(path: Path, count: int, turns: bool) -> list[float]:
    engine = database.make_engine(f"sqlite:///{path}")
    with database.transaction(engine, write=True) as conn:
        conn.exec_driver_sql("CREATE TABLE got_in (at REAL)")
    go_r, go_w = os.pipe()
    pid = os.fork()  # before any transaction: SQLite's lock state must not cross a fork
    if pid == 0:
        child = database.make_engine(f"sqlite:///{path}")
        if not turns:
            database._WRITER_TURNS.pop(child, None)
        for _ in range(count):
            os.read(go_r, 1)
            with database.transaction(child, write=True) as conn:
                conn.exec_driver_sql("INSERT INTO got_in VALUES (?)", (time.time(),))
        os._exit(0)
    if not turns:
        database._WRITER_TURNS.pop(engine, None)
    late: list[float] = []
    for n in range(count):
        with database.transaction(engine, write=True) as conn:
            conn.exec_driver_sql("SELECT 1")
            os.write(go_w, b"g")
            time.sleep(0.005 + 0.004 * n)
            released = time.time()
        time.sleep(0.2)  # the child has got in by now
        with database.transaction(engine, write=False) as conn:
            got_in = conn.exec_driver_sql("SELECT max(at) FROM got_in").scalar()
        late.append((got_in - released) * 1000)
    os.waitpid(pid, 0)
    engine.dispose()
    return late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hand-overs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labelport-turns-") as tmp:
        for turns in (False, True):
            late = hand_overs(Path(tmp) / f"turns-{turns}.db", args.hand_overs, turns)
            how = "writer turns" if turns else "SQLite's busy handler alone"
            print(
                f"{how:<28} the lock sat free {statistics.mean(late):5.1f} ms on average, "
                f"{max(late):5.1f} ms at most ({args.hand_overs} hand-overs)"
            )


if __name__ == "__main__":
    main()
