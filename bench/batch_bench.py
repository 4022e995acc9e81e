"""Batch bench (W2): thousands of small images from a COCO file, against the least work it needs.

Workload: N (default 2,000) 640x480 JPEGs (generated once with Pillow, each different, cached
under the work dir and reused) x 20 boxes each, 50 labels, as one COCO instances file.

- baseline a: one plain loop, one transaction: load the COCO file; per image read the file,
  sha256 it, write it to a blob folder (no fsync), read its header with Pillow; then ONE
  sqlite3 executemany (or psycopg COPY) of all the minimal instance rows, commit.
- baseline b: the same, each image first GET'ed with a pooled httpx.Client from a threaded
  HTTP server (a subprocess) serving the image folder.
- a: `labelport import COCO --format coco --media FOLDER --create-labels` embedded, end to end.
- b: `labelport serve --workers 2 --allow-private-urls` (a subprocess) +
  `labelport import --server URL --key ... --media-url http://127.0.0.1:PORT/`.
- c: as b with `--media-mode reference` (skipped while the flag does not exist).

Each measurement is its own child process: peak RSS is the child's ru_maxrss (os.wait4), and
for b/c also the server's (psutil, with its children, sampled every 50 ms). PostgreSQL runs get a
fresh database (`lp_bench_<pid>_<n>`, dropped after); baselines a fresh schema in `test`.
Goals: a <= 2.0x baseline a; b (and c) <= 3.0x baseline b; on SQLite and PostgreSQL.
Before each measurement the disk is flushed (`os.sync`, outside the clock) so that no step pays
for writing back the blobs of the step before it. One untimed baseline run comes first: on this
disk (ext4 with online discard) the first step of a bench ran on a disk no step had yet written
and deleted ~100 MB on, and was up to 2.5x faster than the same step later (baseline a 0.83 s,
then 2.1-2.25 s four times), so that whichever workload came first got the best time.
No step's files are deleted before the run ends (2,000 images: ~100 MB a step; 20,000: ~1 GB):
on this machine's ext4 (no journal), creating a file or a folder within about a minute of
deleting many scans past every inode deleted in that time (`recently_deleted` in the kernel's
inode allocator, 20-40% of the import's CPU in `perf`), so a step run after the previous step's
deletion paid ~1.5 s for it, whichever side it was. Deletes before the bench (another run's,
anyone's) do the same to the whole round: each repeat first prints what creating a file costs
(`create_cost`), and a round whose figure is far above ~40 us says more about the disk than
about labelport.

    .venv/bin/python bench/batch_bench.py --images 200                  # check the script
    .venv/bin/python bench/batch_bench.py                               # 2,000 images, all
    .venv/bin/python bench/batch_bench.py --images 20000 --only baseline,a   # flat cost/image
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# The project's bench plumbing: a free port, the installed CLI, psutil RSS sampling, polling.
from api_bench import RssSampler, free_port, labelport_cmd, poll  # noqa: E402
from ingest_bench import run_child  # noqa: E402

WIDTH, HEIGHT = 640, 480
PER_IMAGE = 20
LABELS = [f"label_{i:02d}" for i in range(50)]
POSTGRES = os.environ.get("LABELPORT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
ADMIN_DB = "test"
FIXED = "a, 1 image"  # the embedded CLI's fixed cost: interpreter, imports, migrations, labels
GOALS = {"a": 2.0, "b": 3.0, "c": 3.0}
WORKLOADS = ("baseline", "a", "b", "c")
DIALECTS = ("sqlite", "postgres")

# A threaded server for the image folder; HTTP/1.1 so that pooled clients keep connections,
# and no Nagle: the handler sends headers and body in separate writes, which on a kept-alive
# connection otherwise waits for the client's delayed ACK (~40 ms per image).
MEDIA_SERVER = r"""
import functools, sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *args):
        pass
handler = functools.partial(Handler, directory=sys.argv[1])
httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
httpd.daemon_threads = True
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
"""

BASELINE_CHILD = r"""
import hashlib, io, json, resource, sys, time
from pathlib import Path
from PIL import Image
# source: "a" reads the folder, "b" GETs each image
source, dialect, target, coco_path, media, blobs = sys.argv[1:7]
blobs = Path(blobs)
blobs.mkdir(parents=True)
names = "file_id, label_id, type, x_min, y_min, x_max, y_max, machine_made"
if dialect == "sqlite":
    import sqlite3
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE instance (id INTEGER PRIMARY KEY, file_id INTEGER, label_id "
                 "INTEGER, type TEXT, x_min REAL, y_min REAL, x_max REAL, y_max REAL, "
                 "machine_made BOOLEAN)")
else:
    import psycopg
    conn = psycopg.connect(target)
    conn.execute(f'CREATE SCHEMA "{sys.argv[7]}"')
    conn.execute(f'SET search_path TO "{sys.argv[7]}"')
    conn.execute("CREATE TABLE instance (id bigserial PRIMARY KEY, file_id bigint, label_id "
                 "bigint, type text, x_min double precision, y_min double precision, x_max "
                 "double precision, y_max double precision, machine_made boolean)")
    conn.commit()
if source == "b":
    import httpx
    client = httpx.Client()  # keep-alive pool: one connection reused for every image
start = time.perf_counter()
coco = json.loads(Path(coco_path).read_bytes())
labels = {c["id"]: n + 1 for n, c in enumerate(coco["categories"])}
boxes = {}
for a in coco["annotations"]:
    boxes.setdefault(a["image_id"], []).append(a)
rows = []
sizes = 0
for file_id, image in enumerate(coco["images"], 1):
    name = image["file_name"]
    if source == "b":
        answer = client.get(media + name)
        answer.raise_for_status()
        data = answer.content
    else:
        with open(Path(media) / name, "rb") as f:
            data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    with open(blobs / digest, "wb") as f:
        f.write(data)
    with Image.open(io.BytesIO(data) if source == "b" else Path(media) / name) as im:
        sizes += im.size[0]
    for a in boxes.get(image["id"], ()):
        x, y, w, h = a["bbox"]
        rows.append((file_id, labels[a["category_id"]], "box", x, y, x + w, y + h, False))
if dialect == "sqlite":
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO instance ({names}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
else:
    with conn.cursor() as cur, cur.copy(f"COPY instance ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.commit()
seconds = time.perf_counter() - start
count = conn.execute("SELECT count(*) FROM instance").fetchone()[0]
if dialect != "sqlite":
    conn.execute(f'DROP SCHEMA "{sys.argv[7]}" CASCADE')
    conn.commit()
conn.close()
print(json.dumps({"seconds": seconds, "images": len(coco["images"]), "rows": count,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


# --- workload ---------------------------------------------------------------------------------


def image_name(n: int) -> str:
    return f"img-{n:06d}.jpg"


def prepare(cache: Path, images: int) -> None:
    """Make the missing JPEGs (a bigger N reuses a smaller one's) and the COCO file for N."""
    from PIL import Image, ImageDraw

    folder = cache / "images"
    folder.mkdir(parents=True, exist_ok=True)
    made = 0
    for n in range(images):
        path = folder / image_name(n)
        if path.exists():
            continue
        rng = random.Random(n)
        # Smooth noise scaled up plus a few shapes: every file differs and compresses like a
        # photo (~30-60 KB), not like a flat colour (~5 KB).
        small = Image.frombytes("RGB", (32, 24), rng.randbytes(32 * 24 * 3))
        im = small.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(im)
        for _ in range(6):
            x, y = rng.randrange(WIDTH - 60), rng.randrange(HEIGHT - 60)
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            draw.rectangle((x, y, x + rng.randrange(10, 60), y + rng.randrange(10, 60)), colour)
        partial = path.with_suffix(".part")
        im.save(partial, "JPEG", quality=85)
        partial.rename(path)
        made += 1
    # coco-1: a one-image import, whose time is the CLI's fixed cost (start, migrations, labels).
    for count in (images, 1):
        write_coco(cache / f"coco-{count}.json", count)
    print(f"workload: {made:,} JPEGs made, {images - made:,} reused from {folder}")


def write_coco(coco_path: Path, images: int) -> None:
    if not coco_path.exists():
        rng = random.Random(images)
        annotations = []
        for n in range(images):
            for _ in range(PER_IMAGE):
                x, y = round(rng.uniform(0, WIDTH - 20), 2), round(rng.uniform(0, HEIGHT - 20), 2)
                w = round(rng.uniform(5, WIDTH - x - 1), 2)
                h = round(rng.uniform(5, HEIGHT - y - 1), 2)
                annotations.append({
                    "id": len(annotations) + 1, "image_id": n + 1,
                    "category_id": rng.randrange(len(LABELS)) + 1, "bbox": [x, y, w, h],
                    "area": round(w * h, 2), "iscrowd": 0, "segmentation": [],
                })  # fmt: skip
        coco = {
            "images": [
                {"id": n + 1, "file_name": image_name(n), "width": WIDTH, "height": HEIGHT}
                for n in range(images)
            ],
            "categories": [{"id": n + 1, "name": name} for n, name in enumerate(LABELS)],
            "annotations": annotations,
        }
        partial = coco_path.with_suffix(".part")
        partial.write_text(json.dumps(coco))
        partial.rename(coco_path)


# --- plumbing ---------------------------------------------------------------------------------


@contextmanager
def media_server(root: Path) -> Iterator[str]:
    """`root` served by a ThreadingHTTPServer in a subprocess; yields the URL prefix."""
    proc = subprocess.Popen(
        [sys.executable, "-c", MEDIA_SERVER, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Databases:
    """PostgreSQL databases made for one run each and dropped after."""

    def __init__(self) -> None:
        self.count = 0

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(f"{POSTGRES}/{ADMIN_DB}", autocommit=True, connect_timeout=5)

    def reachable(self) -> bool:
        try:
            with self.admin():
                return True
        except Exception:
            return False

    @contextmanager
    def fresh(self, dialect: str) -> Iterator[list[str]]:
        """The CLI options for a fresh database: none for SQLite (in the data dir)."""
        if dialect == "sqlite":
            yield []
            return
        self.count += 1
        name = f"lp_bench_{os.getpid()}_{self.count}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield ["--database-url", f"{POSTGRES}/{name}"]
        finally:
            with self.admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(command: list[str], out: Path) -> tuple[float, int, int, str]:
    """Run `command`: seconds, exit code, its own peak RSS (bytes), its stdout."""
    with open(out, "w") as stdout, open(out.with_suffix(".err"), "w") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, proc.returncode, usage.ru_maxrss * 1024, out.read_text()


def cli(*args: str) -> str:
    done = subprocess.run([*labelport_cmd(), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"labelport {' '.join(args[:2])} failed:\n{done.stderr}")
    return done.stdout


def has_media_mode() -> bool:
    return "--media-mode" in cli("import", "--help")


@dataclass
class Result:
    workload: str
    dialect: str
    images: int
    seconds: float
    peak_rss: int
    server_rss: int = 0
    load: float = field(default_factory=lambda: os.getloadavg()[0])
    error: str = ""


# --- measurements -----------------------------------------------------------------------------


def settle() -> None:
    """Start each measurement from a clean disk: the previous step's blobs (~100 MB written
    without fsync) are otherwise still being written back while the next step creates its
    files, and whichever step comes after a heavy one pays for it (baseline a moved 0.87 s ->
    2.16 s between runs). Flushing is outside the clock; neither side's own work changes."""
    os.sync()
    time.sleep(0.5)


SETTLED_US = 40  # create_cost on a settled disk: 17-35 us here


def create_cost(run_dir: Path) -> float:
    """Microseconds to create an empty file here now, over 500 (outside the clock; they stay
    until the run ends). Both sides create a file an image, and this cost moves with the
    disk's state: ~20-40 us on a settled disk, 250+ us within a minute or so of deleting many
    files (ext4 skips recently freed inodes one by one), when the baseline, which creates its
    files one after another, slows more than (a), whose two workers create theirs side by side.
    A round's ratios are read with it."""
    folder = run_dir / f"probe-{time.monotonic_ns()}"
    folder.mkdir()
    started = time.perf_counter()
    for n in range(500):
        os.close(os.open(folder / str(n), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    return (time.perf_counter() - started) / 500 * 1e6


def baseline(
    source: str, dialect: str, run_dir: Path, coco: Path, media: str, images: int
) -> Result:
    blobs = run_dir / f"blobs-{source}-{dialect}-{time.monotonic_ns()}"
    schema = f"bench_batch_{os.getpid()}_{time.monotonic_ns()}"
    target = str(blobs) + ".db" if dialect == "sqlite" else f"{POSTGRES}/{ADMIN_DB}"
    got = run_child(BASELINE_CHILD, source, dialect, target, str(coco), media, str(blobs), schema)
    error = "" if got["rows"] == images * PER_IMAGE else f"{got['rows']} rows"
    return Result(f"baseline {source}", dialect, got["images"], got["seconds"], got["peak_rss"],
                  error=error)  # fmt: skip


def check_summary(code: int, text: str, images: int, log: Path) -> str:
    """'' when every image and box landed; otherwise what went wrong."""
    try:
        summary = json.loads(text)
    except ValueError:
        return f"exit {code}, no summary: {log.with_suffix('.err').read_text()[-600:]}"
    ok = summary["files_ok"] + summary.get("files_updated", 0)
    if code == 0 and ok == images and summary["instances"] == images * PER_IMAGE:
        return ""
    problems = [p["code"] for p in summary["problems"][:3]]
    return (f"exit {code}: {ok}/{images} files ok, {summary['instances']} instances, "
            f"{summary['files_failed']} failed {problems}")  # fmt: skip


def embedded(
    databases: Databases,
    dialect: str,
    run_dir: Path,
    coco: Path,
    media: Path,
    images: int,
    workload: str = "a",
) -> Result:
    data_dir = run_dir / f"a-{dialect}-{time.monotonic_ns()}"
    with databases.fresh(dialect) as db:
        cli("project", "create", "bench", "--data-dir", str(data_dir), *db)
        command = [
            *labelport_cmd(), "import", str(coco), "--format", "coco", "--project", "bench",
            "--media", str(media), "--create-labels", "--data-dir", str(data_dir), *db, "--json",
        ]  # fmt: skip
        log = data_dir / "import.out"
        seconds, code, rss, out = timed(command, log)
        error = check_summary(code, out, images, log)
    return Result(workload, dialect, images, seconds, rss, error=error)


def over_http(
    databases: Databases,
    workload: str,
    dialect: str,
    run_dir: Path,
    coco: Path,
    media_url: str,
    images: int,
) -> Result:
    data_dir = run_dir / f"{workload}-{dialect}-{time.monotonic_ns()}"
    with databases.fresh(dialect) as db:
        cli("project", "create", "bench", "--data-dir", str(data_dir), *db)
        key = json.loads(cli("key", "create", "-p", "bench", "--data-dir", str(data_dir), *db,
                             "--json"))  # fmt: skip
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_log = data_dir / "server.err"
        with open(server_log, "w") as errors:
            server = subprocess.Popen(
                [*labelport_cmd(), "serve", "--port", str(port), "--data-dir", str(data_dir),
                 *db, "--workers", "2", "--allow-private-urls"],
                stdout=subprocess.DEVNULL, stderr=errors,
            )  # fmt: skip
        sampler = RssSampler(server.pid)
        sampler.start()
        try:
            poll(lambda: server_up(base, server, server_log), timeout=60, interval=0.05)
            command = [
                *labelport_cmd(), "import", str(coco), "--format", "coco", "--project", "bench",
                "--server", base, "--key", f"{key['client_id']}:{key['client_secret']}",
                "--media-url", media_url, "--create-labels", "--json",
                *(["--media-mode", "reference"] if workload == "c" else []),
            ]  # fmt: skip
            log = data_dir / "import.out"
            seconds, code, rss, out = timed(command, log)
            error = check_summary(code, out, images, log)
        finally:
            server_rss = sampler.stop()
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return Result(workload, dialect, images, seconds, rss, server_rss, error=error)


def server_up(base: str, server: subprocess.Popen, log: Path) -> bool:
    import httpx

    if server.poll() is not None:
        raise RuntimeError(f"labelport serve exited: {log.read_text()[-2000:]}")
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


# --- report -----------------------------------------------------------------------------------


def mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def report(results: list[Result], parent_rss: int) -> None:
    best: dict[tuple[str, str], Result] = {}
    for r in results:  # the fastest successful run of each; a failed one only if all failed
        key = (r.workload, r.dialect)
        held = best.get(key)
        if (
            held is None
            or (held.error and not r.error)
            or (not r.error and r.seconds < held.seconds)
        ):
            best[key] = r
    header = ("workload", "db", "images", "seconds", "images/s", "ms/image", "ratio", "goal",
              "peak RSS", "load")  # fmt: skip
    rows = []
    for r in best.values():
        base = best.get(("baseline " + ("a" if r.workload == "a" else "b"), r.dialect))
        ratio = goal = ""
        if r.workload in GOALS and base and not base.error:
            ratio = f"{r.seconds / base.seconds:.2f}x"
            goal = f"<= {GOALS[r.workload]:.1f}x"
        rss = (
            mb(r.peak_rss)
            if not r.server_rss
            else f"server {mb(r.server_rss)}, client " + mb(r.peak_rss)
        )
        rows.append((
            r.workload, r.dialect, f"{r.images:,}", f"{r.seconds:.2f}",
            f"{r.images / r.seconds:,.1f}", f"{1000 * r.seconds / r.images:.2f}",
            ratio if not r.error else "FAILED", goal, rss, f"{r.load:.2f}",
        ))  # fmt: skip
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    for r in best.values():
        if r.error:
            print(f"FAILED {r.workload} on {r.dialect}: {r.error}")
    print(
        f"(bench process peak RSS {mb(parent_rss)}: a floor under every child's figure, which "
        "starts from its parent's at spawn; load = 1-minute load average after the run)"
    )


def net(results: list[Result]) -> None:
    """(a) less its fixed cost, against baseline a: what the per-image path costs."""
    for dialect in DIALECTS:
        runs: dict[str, Result] = {}
        for r in results:
            if r.dialect != dialect or r.error:
                continue
            if r.workload not in runs or r.seconds < runs[r.workload].seconds:
                runs[r.workload] = r
        if {"a", FIXED, "baseline a"} <= runs.keys():
            fixed, per_image = runs[FIXED].seconds, runs["a"].seconds - runs[FIXED].seconds
            print(
                f"a on {dialect} net of its fixed cost ({fixed:.2f} s, a 1-image import): "
                f"{per_image:.2f} s, {per_image / runs['baseline a'].seconds:.2f}x baseline a"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2_000)
    parser.add_argument("--only", default="baseline,a,b,c", help="of: baseline,a,b,c")
    parser.add_argument("--databases", default="sqlite,postgres", help="of: sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    parser.add_argument("--keep", action="store_true", help="keep this run's work dir")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "labelport-batch-bench",
        help="work dir; the generated images stay in WORK/cache between runs",
    )
    parser.add_argument(
        "--src",
        type=Path,
        help="run labelport from this source tree (its parent of `labelport/`, put first on "
        "PYTHONPATH), e.g. `git archive COMMIT src | tar -x -C DIR` for figures of a commit "
        "while the working tree is being edited",
    )
    parser.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.src:
        os.environ["PYTHONPATH"] = str(args.src.resolve())
    # An installed labelport has its bytecode (pip compiles a wheel's modules at install), as
    # the baseline's libraries do; a source tree run with PYTHONDONTWRITEBYTECODE=1 would
    # compile ~75 modules on every CLI start instead (~0.2 s of CPU, counted against labelport).
    compileall.compile_dir(str(args.src or HERE.parent / "src"), quiet=1)
    cache = args.work / "cache"
    if args.prepare:
        prepare(cache, args.prepare)
        return
    only = set(args.only.split(","))
    dialects = [d for d in DIALECTS if d in args.databases.split(",")]
    if only - set(WORKLOADS) or set(args.databases.split(",")) - set(DIALECTS):
        parser.error(f"--only takes {','.join(WORKLOADS)}; --databases {','.join(DIALECTS)}")
    databases = Databases()
    if "postgres" in dialects and not databases.reachable():
        print(f"PostgreSQL at {POSTGRES} is unreachable: SQLite only")
        dialects.remove("postgres")

    started = time.perf_counter()
    # In a child: the parent's peak RSS is a floor under every child's, so it builds nothing.
    subprocess.run([sys.executable, __file__, "--work", str(args.work), "--prepare",
                    str(args.images)], check=True)  # fmt: skip
    print(f"  ready in {time.perf_counter() - started:.1f} s")
    coco, media = cache / f"coco-{args.images}.json", cache / "images"
    sample = [media / image_name(n) for n in range(min(args.images, 50))]
    average = sum(p.stat().st_size for p in sample) / len(sample)
    print(f"W2: {args.images:,} JPEGs {WIDTH}x{HEIGHT} (~{average / 1e3:.0f} KB each) x "
          f"{PER_IMAGE} boxes, {len(LABELS)} labels, COCO {coco.stat().st_size / 1e6:.1f} MB; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")  # fmt: skip
    where = subprocess.run(
        [sys.executable, "-c", "import labelport; print(labelport.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(f"labelport from {where}")
    media_mode = has_media_mode()
    if "c" in only and not media_mode:
        print("c: skipped: --media-mode not available")
        only.discard("c")

    run_dir = args.work / f"run-{os.getpid()}"
    run_dir.mkdir(parents=True)
    results: list[Result] = []
    costs: list[float] = []
    try:
        with media_server(media) as media_url:
            settle()
            warm = baseline("a", dialects[0], run_dir, coco, str(media), args.images)
            print(f"  (warm-up: baseline a {dialects[0]} {warm.seconds:.2f} s, not counted)")
            for dialect in dialects:
                for _ in range(args.repeat):
                    settle()
                    costs.append(create_cost(run_dir))
                    print(f"  disk: creating a file takes {costs[-1]:.0f} us")
                    steps: list[tuple[str, Any]] = [
                        ("baseline", lambda d=dialect: baseline(
                            "a", d, run_dir, coco, str(media), args.images)),
                        ("a", lambda d=dialect: embedded(
                            databases, d, run_dir, coco, media, args.images)),
                        ("a", lambda d=dialect: embedded(
                            databases, d, run_dir, cache / "coco-1.json", media, 1, FIXED)),
                        ("baseline", lambda d=dialect: baseline(
                            "b", d, run_dir, coco, media_url, args.images)),
                        ("b", lambda d=dialect: over_http(
                            databases, "b", d, run_dir, coco, media_url, args.images)),
                        ("c", lambda d=dialect: over_http(
                            databases, "c", d, run_dir, coco, media_url, args.images)),
                    ]  # fmt: skip
                    for workload, measure in steps:
                        if workload in only:
                            settle()
                            result = measure()
                            results.append(result)
                            status = f"FAILED: {result.error}" if result.error else "ok"
                            print(f"  {result.workload:<10} {dialect:<8} {result.seconds:8.2f} s"
                                  f"  load {result.load:.2f}  {status}", flush=True)  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            print(f"kept {run_dir}")
    print()
    import resource

    report(results, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    net(results)
    print("goals: a <= 2.0x baseline a; b, c <= 3.0x baseline b (baseline b also GETs each image)")
    if costs and max(costs) > SETTLED_US:
        print(f"disk NOT settled: creating a file took up to {max(costs):.0f} us (settled: <= "
              f"{SETTLED_US} us). Files made soon after many were deleted nearby are slow; the "
              "baselines, which do little else, slow the most, so this round's ratios favour "
              "labelport. Run again with --work on a folder nothing is deleted from.")  # fmt: skip
    if any(r.error for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
