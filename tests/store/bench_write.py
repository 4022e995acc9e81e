"""Time write_import for N instance rows on SQLite and PostgreSQL (not part of the test run).

    .venv/bin/python tests/store/bench_write.py [N] [postgresql-url]

Rows are generated lazily, as ingest does; peak RSS shows that nothing materialises them all.
"""

from __future__ import annotations

import hashlib
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

from store_helpers import add_file

from labelport.store import Resolved, SequencePlan, Store, WritePlan


def bench(store: Store, n: int, mode: str = "create") -> None:
    project = store.create_project(f"bench-{uuid.uuid4().hex[:8]}")
    labels = [lab.id for lab in store.create_labels(project.id, ["a", "b", "c", "d"])]
    video = add_file(store, project.id, "video", frame_count=n // 10 + 1)
    tracks = [(lab, num) for lab in labels for num in range(1, 6)]

    def rows(resolved: Resolved):
        run = resolved.model_run_ids[("model", "run")]
        model = resolved.model_ids["model"]
        for i in range(n):
            lab, num = tracks[i % len(tracks)]
            x = float(i % 600)
            digest = hashlib.blake2b(f"{i}".encode(), digest_size=16).hexdigest()
            seq = resolved.sequence_ids[(lab, num)]
            frame = i // len(tracks)
            yield (frame, lab, seq, "box", True, model, run, 0.9,
                   x, 10.0, x + 20.0, 40.0, None, None, f"e{i}", digest)  # fmt: skip

    def write(mode: str) -> float:
        imp, _ = store.create_import(project.id, media_type="video", mode=mode)
        plan = WritePlan(
            project_id=project.id,
            import_id=imp.id,
            file_id=video.id,
            mode=mode,  # type: ignore[arg-type]
            sequences=[SequencePlan(lab, num, ()) for lab, num in tracks],
            model_refs=["model"],
            model_run_refs=[("model", "run")],
            rows=rows,
            instance_count=n,
        )
        start = time.perf_counter()
        result = store.write_import(plan)
        elapsed = time.perf_counter() - start
        print(f"  {mode:<22} {elapsed:6.2f} s   {result}")
        return elapsed

    write("create")
    write("update")  # every row unchanged: the merge path
    write("update_with_existing")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    pg = sys.argv[2] if len(sys.argv) > 2 else "postgresql://root@127.0.0.1:5432/test"
    with tempfile.TemporaryDirectory() as tmp:
        print(f"sqlite, {n} rows")
        with Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}") as store:
            bench(store, n)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    print(f"postgresql, {n} rows")
    with Store.open(pg, schema=schema) as store:
        try:
            bench(store, n)
        finally:
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
