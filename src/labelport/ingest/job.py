"""Run one import: fetch → probe → media checks → one write transaction → status.

Everything that can fail on bad input ends as problems on the import (status `failed`), never as
an exception reaching a user. The final write both stores the instances and marks the import
`success`, so a crash anywhere before it leaves a rerunnable `queued`/running import and nothing
half-written.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

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
from labelport.media import MediaError
from labelport.media.blobs import BlobStore
from labelport.store import Store
from labelport.store.coltypes import utcnow

log = logging.getLogger(__name__)

TERMINAL = frozenset({"success", "failed"})


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
        row = self.store.get_import(import_id)
        if row.status in TERMINAL:
            return
        started = time.monotonic()
        try:
            self._run(row, started)
        except MediaError as exc:
            self._fail(import_id, [{"code": exc.code, "path": "media", "message": exc.message}])
        except Exception as exc:  # a bug or an outage: recorded, never shown as a traceback
            if self.store.get_import(import_id).status in TERMINAL:
                # Another run of this import (a retried job whose first worker lived on) wrote
                # it first and write_import refused to write it twice: keep that result.
                log.info("import %s was finished by another run", import_id)
                return
            log.exception("import %s failed unexpectedly", import_id)
            self._fail(import_id, [], error=f"internal error: {type(exc).__name__}")
        finally:
            self.handoff.pop(import_id, None)  # claimed before submit handed it over

    def _decode_stored(
        self, key: str
    ) -> tuple[fmt.Packet | None, fmt.Report, envelope.StagedMedia | None]:
        # Its own frame, so that the stored bytes are freed once decoded, not held by the job.
        with self.blobs.open(key) as f:
            packet_bytes, staged = envelope.unwrap(f.read())
        packet, report = fmt.decode_packet(packet_bytes)
        return packet, report, staged

    def _run(self, row: Any, started: float) -> None:
        import_id = row.id
        project_id = row.project_id
        self.store.update_import(import_id, status="fetching", percent=5)
        handed = self.handoff.pop(import_id, None)
        checked_with: ImportContext | None = None
        if handed is not None:
            packet, report, staged, checked_with = handed
        else:  # a rerun after a restart, or another process: decode what the caller sent
            packet, report, staged = self._decode_stored(row.packet_blob_key)
            if packet is None:  # checked at submit; only a damaged blob gets here
                self._fail(import_id, problem_dicts(report.problems), report=report)
                return

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
                    packet,
                    media.info,
                    clip=packet.clip_to_media,
                    strict=packet.strict,
                    report=report,
                )
            if report.problem_count and packet.on_error != "skip_instances":
                self._fail(import_id, problem_dicts(report.problems), report=report)
                return
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
