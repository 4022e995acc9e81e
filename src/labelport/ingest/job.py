"""Run one import: fetch → probe → media checks → one write transaction → status.

Everything that can fail on bad input ends as problems on the import (status `failed`), never as
an exception reaching a user. The final write both stores the instances and marks the import
`success`, so a crash anywhere before it leaves a rerunnable `queued`/running import and nothing
half-written.

`ImportJob.start` runs the job in two parts for the `ThreadRunner` (ingest/dispatch.py): the
packet is decoded on the import thread, and when its media comes by a remote URL the rest
(fetch, probe, checks, write) is returned for a fetch thread, so that waiting on a slow source
does not hold an import thread. `ImportJob.run` runs both parts in a row (other runners).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from labelport import format as fmt
from labelport.ingest import envelope
from labelport.ingest.context import ImportContext, load_context
from labelport.ingest.intake import (
    MediaResolver,
    Settings,
    add_missing_labels,
    check_against_project,
    import_counts,
    plan_write,
    problem_dicts,
)
from labelport.ingest.rows import compact_frames, media_view
from labelport.media import MediaError
from labelport.media.blobs import BlobStore
from labelport.store import Store
from labelport.store.coltypes import utcnow

log = logging.getLogger(__name__)

TERMINAL = frozenset({"success", "failed"})

_T = TypeVar("_T")
# A decoded packet: (packet, report, staged media, the context it was checked against at submit).
_Decoded = tuple[Any, fmt.Report, envelope.StagedMedia | None, ImportContext | None]


def _remote_media(packet: Any, staged: envelope.StagedMedia | None) -> bool:
    """Whether resolving the packet's media waits on a remote source (http(s), s3)."""
    if packet.file_id is not None or staged is not None or packet.media is None:
        return False
    url = packet.media.url
    return bool(url) and not url.startswith("file:")


class ImportJob:
    def __init__(self, store: Store, blobs: BlobStore, settings: Settings) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        # Packets decoded and checked at submit, handed to the job in this process so that a
        # million-instance packet is decoded once; a rerun elsewhere decodes from the blob.
        # With the context the packet was checked against (saves reloading it: a third of a
        # small image's import).
        self.handoff: dict[
            int, tuple[Any, fmt.Report, envelope.StagedMedia | None, ImportContext]
        ] = {}
        self.media = MediaResolver(store, blobs, settings)

    def close(self) -> None:
        self.media.close()

    # -- the job ---------------------------------------------------------------------------

    def run(self, import_id: int) -> None:
        rest = self.start(import_id)
        if rest is not None:
            rest()

    def start(self, import_id: int) -> Callable[[], None] | None:
        """Decode the import's packet; then, when its media comes by a remote URL, return the
        rest of the job (fetch to write) for the caller to run where waiting is cheap, else run
        the rest here and return None."""
        row = self.store.get_import(import_id)
        if row.status in TERMINAL:
            return None
        started = time.monotonic()
        decoded = self._guarded(import_id, lambda: self._decode(row))
        if decoded is None:
            return None

        def rest() -> None:
            self._guarded(import_id, lambda: self._finish(row, started, *decoded))

        if _remote_media(decoded[0], decoded[2]):
            return rest
        rest()
        return None

    def _guarded(self, import_id: int, step: Callable[[], _T]) -> _T | None:
        """``step``'s result; None when it failed, the failure recorded on the import."""
        try:
            return step()
        except MediaError as exc:
            self._fail(import_id, [{"code": exc.code, "path": "media", "message": exc.message}])
        except Exception as exc:  # a bug or an outage: recorded, never shown as a traceback
            if self.store.get_import(import_id).status in TERMINAL:
                # Another run of this import (a retried job whose first worker lived on) wrote
                # it first and write_import refused to write it twice: keep that result.
                log.info("import %s was finished by another run", import_id)
                return None
            log.exception("import %s failed unexpectedly", import_id)
            self._fail(import_id, [], error=f"internal error: {type(exc).__name__}")
        finally:
            self.handoff.pop(import_id, None)  # claimed before submit handed it over
        return None

    def _decode_stored(
        self, key: str
    ) -> tuple[fmt.Packet | None, fmt.Report, envelope.StagedMedia | None]:
        # Its own frame, so that the stored bytes are freed once decoded, not held by the job.
        with self.blobs.open(key) as f:
            packet_bytes, staged = envelope.unwrap(f.read())
        packet, report = fmt.decode_packet(packet_bytes)
        return packet, report, staged

    def _decode(self, row: Any) -> _Decoded | None:
        """The packet (from submit's hand-off, else from its blob); None when it failed."""
        self.store.update_import(row.id, status="fetching", percent=5)
        handed = self.handoff.pop(row.id, None)
        if handed is not None:
            packet, report = handed[0], handed[1]
            if not report.problem_count:
                # Before the media is fetched and probed: the structs need not be held meanwhile.
                compact_frames(packet)
            return handed
        # A rerun after a restart, or another process: decode what the caller sent.
        packet, report, staged = self._decode_stored(row.packet_blob_key)
        if packet is None:  # checked at submit; only a damaged blob gets here
            self._fail(row.id, problem_dicts(report.problems), report=report)
            return None
        return packet, report, staged, None

    def _finish(
        self,
        row: Any,
        started: float,
        packet: Any,
        report: fmt.Report,
        staged: envelope.StagedMedia | None,
        checked_with: ImportContext | None,
    ) -> None:
        import_id = row.id
        project_id = row.project_id
        with tempfile.TemporaryDirectory(prefix="labelport-") as tmp:
            media = self.media.resolve(project_id, packet, staged, Path(tmp))
            self.store.update_import(import_id, status="processing", percent=30)
            if checked_with is not None:
                context = checked_with
            else:
                context = load_context(self.store, project_id, media.existing_file_id)
                add_missing_labels(self.store, project_id, [packet], context)
                check_against_project(
                    packet, context, report, media_type=media.info.media_type, media=media.info
                )
            if checked_with is not None:
                fmt.check_media(
                    media_view(packet, media.info),
                    media.info,
                    clip=packet.clip_to_media,
                    strict=packet.strict,
                    report=report,
                )
            if report.problem_count and packet.on_error != "skip_instances":
                self._fail(import_id, problem_dicts(report.problems), report=report)
                return
            if not report.problem_count:
                compact_frames(packet)  # a rerun's: its structs are freed as its rows are made
            self.store.update_import(import_id, status="writing", percent=60)
            plan = plan_write(
                packet,
                report,
                context,
                media,
                import_id=import_id,
                directory_id=row.directory_id,
                started=started,
            )
            self.store.write_import(plan)

    def _fail(
        self,
        import_id: int,
        problems: list[dict[str, str]],
        *,
        report: Any = None,
        error: str | None = None,
    ) -> None:
        self.store.update_import(
            import_id,
            status="failed",
            problems=problems,
            problem_count=report.problem_count if report is not None else len(problems),
            warnings=problem_dicts(report.warnings) if report is not None else [],
            counts=import_counts(report.counts) if report is not None else {},
            error=error,
            finished_at=utcnow(),
        )
