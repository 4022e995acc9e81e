"""Run a chunk of a batch: many lines (packets) checked, fetched and written together.

The same steps as `ImportJob` for one packet (intake.py), done once per chunk where they can be:
the project's labels and attributes are loaded once, missing labels created once, media fetched
concurrently (bounded; a slow URL holds one fetch slot, not the chunk), blobs written without a
per-file fsync and made durable once before the write, and every good file of the chunk written
in one transaction with one bulk insert.

Few write transactions: on SQLite the workers and the importer share one write lock, and each
transaction that finds it taken waits. A chunk of local files takes it once, at its end: its lines
started, those refused before any fetch ended, files written, failures recorded, the batch's
status brought up to date and its worker's next chunk claimed (`run(then_claim=)`), all in one
transaction; a worker's first chunk takes it once more, for its own claim. A chunk that fetches
takes it to start its lines before the fetches, so that they show as under way meanwhile.

All or nothing stays per file: a line that fails its checks or its media fails alone. If the
chunk's transaction fails (e.g. a file's external ids clash), the good files are written one by
one, so that the one at fault fails alone too. A crash anywhere leaves the chunk's lines
unfinished and they run again (their imports end exactly once: the write refuses a finished one).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelport import format as fmt
from labelport._gc import paused
from labelport.ingest.context import ImportContext, load_context
from labelport.ingest.intake import (
    Media,
    MediaResolver,
    Settings,
    add_missing_labels,
    check_against_project,
    import_counts,
    media_info_of_row,
    plan_write,
    problem_dicts,
    target_problems,
    url_refused,
)
from labelport.media import MediaError
from labelport.media.blobs import BlobStore
from labelport.store import Store, WritePlan
from labelport.store.errors import StoreError
from labelport.store.records import Batch, Import

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Line:
    """One line of the chunk on its way: its import, its packet and what became of it."""

    row: Import
    packet: Any = None
    report: fmt.Report = field(default_factory=fmt.Report)
    context: ImportContext | None = None
    existing: dict[str, Any] | None = None  # the file the packet updates, if it names one
    media_type: str | None = None
    media: Media | None = None
    plan: WritePlan | None = None
    failure: dict[str, Any] | None = None

    def fail(self, *, error: str | None = None) -> None:
        report = self.report
        self.failure = {
            "id": self.row.id,
            "problems": problem_dicts(report.problems),
            "problem_count": report.problem_count,
            "warnings": problem_dicts(report.warnings),
            "counts": import_counts(report.counts),
            "error": error,
            "media_type": self.media_type
            or (self.packet.media_type if self.packet is not None else None),
        }


@dataclass
class _Start:
    """A chunk's lines that go on to their media, and those that ended before, not yet written
    (`start_and_fail_imports`)."""

    started: list[dict[str, Any]]
    failures: list[dict[str, Any]]


# A chunk's packets are decoded, checked and written together, so they are in memory at once
# (3-4x their JSON as instances). Lines of many boxes or frames (video tracks: tens of MB a line)
# run in groups of at most this many bytes of JSON, one big line alone: without it, a chunk of
# 40 lines of 100,000 boxes (360 MB) peaked at 1.5 GB, and 256 of them would need ~40 GB.
_GROUP_BYTES = 32 << 20


def _by_size(rows: list[Import], budget: int) -> list[list[Import]]:
    """`rows` in runs of consecutive lines of at most `budget` bytes of packet (a larger line
    alone)."""
    groups: list[list[Import]] = []
    size = 0
    for row in rows:
        length = row.packet_length or 0
        if not groups or size + length > budget:
            groups.append([])
            size = 0
        groups[-1].append(row)
        size += length
    return groups


def _done() -> None:
    return None


def _is_local(packet: Any) -> bool:
    """Media read from this machine's disk: a file:// URL, uploaded or inline text."""
    url = packet.media.url if packet.media is not None else None
    return url is None or url.startswith("file:")


class BatchJob:
    def __init__(
        self, store: Store, blobs: BlobStore, settings: Settings, media: MediaResolver
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self.media = media
        self._pool_of: ThreadPoolExecutor | None = None
        self._syncer_of: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        # Batches whose chunks this process ran: what a chunk reads of its batch (project,
        # options, body) is set when the batch is made and never changes.
        self._batches: dict[int, Batch] = {}

    @property
    def _pool(self) -> ThreadPoolExecutor:
        """Fetch threads shared by the chunks this process runs (made on first use)."""
        with self._pool_lock:
            if self._pool_of is None:
                self._pool_of = ThreadPoolExecutor(
                    self.settings.fetch_concurrency, thread_name_prefix="labelport-fetch"
                )
            return self._pool_of

    def _durable(self) -> Callable[[], object]:
        """Make the blobs put so far durable (`BlobStore.sync`); returns what waits for it and
        raises what it raised. Where writers overlap, in a thread, while the caller sends the
        rows (the flushes wait on the disk: ~25 ms a chunk on PostgreSQL, a third of its
        write); else at once, before the caller takes the write lock."""
        if not self.store.writers_overlap:
            self.blobs.sync()
            return _done
        with self._pool_lock:
            if self._syncer_of is None:
                self._syncer_of = ThreadPoolExecutor(1, thread_name_prefix="labelport-sync")
            syncer = self._syncer_of
        return syncer.submit(self.blobs.sync).result

    def close(self) -> None:
        with self._pool_lock:
            for pool in (self._pool_of, self._syncer_of):
                if pool is not None:
                    pool.shutdown(wait=True)
            self._pool_of = self._syncer_of = None

    def run(self, rows: list[Import], *, then_claim: str | None = None) -> list[Import]:
        """Run these lines (claimed, unfinished, of one batch) to their end.

        With `then_claim`, a worker id: a chunk of local files also claims that worker's next
        work (`claim_next_imports`) in the transaction that ends it, and returns it (on SQLite
        one turn of the write lock for both, where a claim of its own waited for the other
        writers again). Claimed, it is the caller's to run. Otherwise nothing is claimed."""
        if not rows:
            return []
        batch = self._batch_of(rows[0])
        settled = False
        claimed: list[Import] = []
        try:
            with paused():
                groups = _by_size(rows, _GROUP_BYTES)
                for n, group in enumerate(groups, 1):
                    last = n == len(groups)
                    settled, claimed = self._run(batch, group, then_claim if last else None)
        except Exception as exc:  # a bug or an outage: recorded, never shown as a traceback
            log.exception("batch %s: a chunk of %d lines failed unexpectedly", batch.id, len(rows))
            self.store.fail_imports(
                [{"id": r.id, "error": f"internal error: {type(exc).__name__}"} for r in rows]
            )
        finally:
            if not settled:  # the chunk's last write did not bring the batch's status up to date
                self.store.finish_batch_if_done(batch.id)
        return claimed

    def _batch_of(self, row: Import) -> Batch:
        """The batch of a line: read once per process, not once per chunk (a transaction of
        its own, three round trips on PostgreSQL). The line's body key says the batch held is
        its own: SQLite may give a deleted batch's id to the next one."""
        batch = self._batches.get(row.batch_id or 0)
        if batch is None or batch.body_blob_key != row.packet_blob_key:
            batch = self.store.get_batch(row.batch_id or 0)
            if len(self._batches) >= 100:  # a long-lived server's: only the recent ones
                self._batches.clear()
            self._batches[batch.id] = batch
        return batch

    def _run(
        self, batch: Batch, rows: list[Import], then_claim: str | None
    ) -> tuple[bool, list[Import]]:
        """Whether the chunk's last write brought the batch's status up to date, and the work
        it claimed for `then_claim`."""
        started = time.monotonic()
        lines = [_Line(row) for row in rows]
        self._decode(batch, lines)
        local_paths: dict[str, Path] = {}  # file:// URL -> its real path, found by the check
        directory = self._check(batch, lines, local_paths)
        for line in lines:  # refused before any fetch: as a packet's 422 (docs/imports.md)
            if line.failure is not None:
                line.failure["rejected"] = True
        start = _Start(
            [
                {
                    "id": line.row.id,
                    "mode": line.packet.mode or ("update" if line.existing else "create"),
                    "media_type": line.media_type,
                    "directory_id": line.packet.directory_id or directory,
                }
                for line in lines
                if line.failure is None
            ],
            [line.failure for line in lines if line.failure is not None],
        )
        if not all(_is_local(line.packet) for line in lines if line.failure is None):
            # Fetches can take a while: their lines say they are under way meanwhile. A chunk
            # of local files is read in a moment: its lines start in the transaction that ends
            # them, one write (on SQLite, one turn of the write lock) fewer a chunk. It ends in
            # one group, so that transaction is its last, and may claim the next work too.
            self.store.start_and_fail_imports(start.started, start.failures)
            start = _Start([], [])
            then_claim = None
        settled = False
        claimed: list[Import] = []
        with tempfile.TemporaryDirectory(prefix="labelport-batch-") as tmp:
            for group in self._resolve_media(batch, lines, Path(tmp), local_paths):
                # One durable point for the blobs of the group, before any import says success.
                ready = self._durable()
                for line in group:
                    if line.failure is None:
                        self._plan(line, started)
                settled, claimed = self._end(batch, group, start, then_claim, ready)
                start = _Start([], [])
        if start.started or start.failures:  # no line went on to its media
            self.store.start_and_fail_imports(start.started, start.failures)
        return settled, claimed

    def _decode(self, batch: Batch, lines: list[_Line]) -> None:
        for line, data in zip(lines, self._read_lines(batch, lines), strict=True):
            packet, report = fmt.decode_packet(data)
            line.report = report
            if packet is None:
                line.fail()
                continue
            line.packet = packet
            if batch.on_error == "skip_instances":
                packet.on_error = "skip_instances"
            if packet.dry_run:
                report.problem(
                    "packet.invalid_value",
                    "dry_run",
                    "a batch's lines are imported; check a packet alone to dry-run it",
                )
                line.fail()
            elif fmt.key_unusable(report):
                # Kept without its key by submit_batch (too long, or not text): imported
                # keyless, a resent batch would import this line again.
                line.fail()

    def _read_lines(self, batch: Batch, lines: list[_Line]) -> list[bytes]:
        key = batch.body_blob_key or ""
        spans = [(line.row.packet_offset or 0, line.row.packet_length or 0) for line in lines]
        local = self.blobs.local_path(key)
        if local is not None:
            start = min(offset for offset, _ in spans)
            end = max(offset + length for offset, length in spans)
            with open(local, "rb") as f:
                if end - start <= 2 * sum(length for _, length in spans) + (1 << 20):
                    # A chunk's lines are mostly next to each other: one read covers them.
                    f.seek(start)
                    view = memoryview(f.read(end - start))
                    return [bytes(view[at - start : at - start + n]) for at, n in spans]
                out = []  # lines far apart (a rerun of a few): each read alone
                for offset, length in spans:
                    f.seek(offset)
                    out.append(f.read(length))
                return out
        # An object store: one pass over the stream from the chunk's first line.
        out_by_offset: dict[int, bytes] = {}
        wanted = sorted(set(spans))
        with self.blobs.open(key) as f:
            at = 0
            for offset, length in wanted:
                while at < offset:
                    skipped = f.read(min(offset - at, 1 << 20))
                    if not skipped:
                        break
                    at += len(skipped)
                data = f.read(length)
                at += len(data)
                out_by_offset[offset] = data
        return [out_by_offset[offset] for offset, _ in spans]

    def _check(self, batch: Batch, lines: list[_Line], local_paths: dict[str, Path]) -> int:
        """Check the lines against the project (failing those with problems); the id of the
        project's default directory."""
        project_id = batch.project_id
        live = [line for line in lines if line.failure is None]
        # A URL the fetch would refuse unfetched fails its line alone, before any fetch is tried
        # and before a label is made for it.
        fetch_config = self.media.fetch_config
        for line in live:
            if url_refused(line.packet, fetch_config, line.report, local_paths=local_paths):
                line.fail()
        live = [line for line in live if line.failure is None]
        with self.store.reading():  # what the chunk needs of its project, read at once
            shared = load_context(self.store, project_id, None)
            directories = {d.id for d in self.store.list_directories(project_id)}
            default = self.store.default_directory(project_id).id
        if not live:
            return default
        add_missing_labels(self.store, project_id, [line.packet for line in live], shared)
        for line in live:
            packet, report = line.packet, line.report
            existing = target_problems(self.store, project_id, packet, report, directories)
            context = shared
            if existing is not None:  # an update of a file: its own tracks are needed
                context = load_context(self.store, project_id, existing["id"])
                context.add_labels([x for x in shared.labels if x["id"] not in context.label_ids])
            line.context, line.existing = context, existing
            line.media_type = packet.media_type or (existing or {}).get("media_type")
            check_against_project(
                packet,
                context,
                report,
                media_type=line.media_type,
                media=media_info_of_row(existing) if existing is not None else None,
            )
            if report.problem_count and packet.on_error != "skip_instances":
                line.fail()
        return default

    def _resolve_media(
        self, batch: Batch, lines: list[_Line], tmp: Path, local_paths: dict[str, Path]
    ) -> Iterator[list[_Line]]:
        """Fetch and probe the media of the good lines, at most `fetch_concurrency` at once, and
        yield them in groups as they are ready: the lines ready by the time the first fetches
        are done plus a grace period go on to be written while slow sources are still coming,
        so one slow URL never holds the rest of the chunk."""
        todo = [line for line in lines if line.failure is None]
        if not todo:
            return

        def resolve(line: _Line) -> None:
            try:
                url = line.packet.media.url if line.packet.media is not None else None
                line.media = self.media.resolve(
                    batch.project_id,
                    line.packet,
                    None,
                    tmp,
                    media_mode=batch.media,
                    durable=False,
                    local_path=local_paths.get(url) if url else None,
                )
            except MediaError as exc:
                line.report.problem(exc.code, "media", exc.message)
                line.fail()
            except Exception as exc:
                log.exception("batch %s line %s: media failed", batch.id, line.row.batch_line)
                line.fail(error=f"internal error: {type(exc).__name__}")

        # Local files are read here: fetch threads only help where a source makes us wait.
        local: list[_Line] = []
        remote: list[_Line] = []
        for line in todo:
            (local if _is_local(line.packet) else remote).append(line)
        pending = {self._pool.submit(resolve, line): line for line in remote}
        for line in local:
            resolve(line)
        if local:
            yield local
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                more, _ = wait(pending, timeout=self.settings.straggler_seconds)
                yield [pending.pop(future) for future in done | more]
        finally:  # given up on (an error while writing): the fetches still running end first
            wait(pending)

    def _plan(self, line: _Line, started: float) -> None:
        packet, report, media = line.packet, line.report, line.media
        assert media is not None and line.context is not None
        if media.existing_file_id is None:
            fmt.check_media(
                packet, media.info, clip=packet.clip_to_media, strict=packet.strict, report=report
            )
        if report.problem_count and packet.on_error != "skip_instances":
            line.fail()
            return
        line.plan = plan_write(
            packet,
            report,
            line.context,
            media,
            import_id=line.row.id,
            directory_id=packet.directory_id,
            started=started,
        )

    def _end(
        self,
        batch: Batch,
        group: list[_Line],
        start: _Start,
        then_claim: str | None,
        ready: Callable[[], object],
    ) -> tuple[bool, list[Import]]:
        """End the group's lines (and first, `start` the chunk's): its files written and its
        failures recorded in one transaction, which also brings the batch's status up to date
        (True) and claims `then_claim`'s next work; when that transaction is refused, the
        failures alone and the files one by one (False, nothing claimed). Nothing commits
        before `ready` has returned: the group's blobs are durable."""
        writing = [line for line in group if line.plan is not None]
        plans = [line.plan for line in writing if line.plan is not None]
        failures = [line.failure for line in group if line.failure is not None]
        ending: dict[str, Any] = {
            "started": start.started,
            "failed": start.failures,
            "ready": ready,
        }
        try:
            if then_claim is None:
                self.store.end_batch_imports(batch.id, plans, failures, **ending)
                return True, []
            claimed = self.store.end_batch_imports_and_claim(
                batch.id,
                plans,
                failures,
                **ending,
                worker_id=then_claim,
                limit=self.settings.batch_chunk,
            )
            return True, claimed
        except Exception as exc:
            ready()  # blobs that could not be made durable fail the chunk, written or not
            if not plans:
                raise
            self.store.start_and_fail_imports(start.started, [*start.failures, *failures])
            if len(plans) == 1:
                self._write_failed(writing[0], exc)
                return False, []
            log.info("a chunk of %d files did not write as one (%s); one by one", len(plans), exc)
        for line in writing:
            assert line.plan is not None
            try:
                self.store.write_import(line.plan)
            except Exception as exc:
                self._write_failed(line, exc)
        return False, []

    def _write_failed(self, line: _Line, exc: Exception) -> None:
        if self.store.get_import(line.row.id).status in ("success", "failed"):
            return  # another run wrote or ended it first
        if isinstance(exc, StoreError):
            line.report.problem("import.write_refused", "", str(exc))
            line.fail()
        else:
            log.error("batch line %s: write failed", line.row.batch_line, exc_info=exc)
            line.fail(error=f"internal error: {type(exc).__name__}")
        self.store.fail_imports([line.failure] if line.failure else [])
