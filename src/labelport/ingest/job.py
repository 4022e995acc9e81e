"""Run one import: fetch → probe → media checks → one write transaction → status.

Everything that can fail on bad input ends as problems on the import (status `failed`), never as
an exception reaching a user. The final write both stores the instances and marks the import
`success`, so a crash anywhere before it leaves a rerunnable `queued`/running import and nothing
half-written.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelport import format as fmt
from labelport.ingest import envelope
from labelport.ingest.context import ImportContext, load_context, shallow
from labelport.ingest.plan import plan_import
from labelport.media import FetchConfig, Fetcher, MediaError, probe_file
from labelport.media.blobs import BlobStore, content_key
from labelport.store import Store
from labelport.store.coltypes import utcnow

log = logging.getLogger(__name__)

TERMINAL = frozenset({"success", "failed"})


@dataclass(frozen=True)
class Settings:
    allow_private_urls: bool = False
    max_media_bytes: int = 2 * 1024**3
    problems_cap: int = 1000


@dataclass
class Media:
    """The media of one import once probed: what the checks need and what the file row stores."""

    info: fmt.MediaInfo
    file_fields: dict[str, Any]  # columns of a new file row; empty for an existing file
    existing_file_id: int | None = None


def problem_dicts(problems: list[Any]) -> list[dict[str, str]]:
    return [{"code": p.code, "path": p.path, "message": p.message} for p in problems]


# The checks' count names -> the import's (plan_import's), so that a failed or dry-run import
# reports its counts under the same keys as a successful one.
_COUNT_NAMES = {
    "per_label": "instances_per_label",
    "per_type": "instances_per_type",
    "frames": "frames_with_instances",
    "sequences": "sequences_expected",
    "sequences_per_label": "sequences_expected_per_label",
}


def import_counts(check_counts: dict[str, Any]) -> dict[str, Any]:
    return {_COUNT_NAMES.get(key, key): value for key, value in check_counts.items()}


def label_name(instance: Any) -> str | None:
    name = instance.name
    if isinstance(name, list):  # the walkthrough's mock passes name=["cat"]
        return name[0] if len(name) == 1 else None
    return name


def missing_label_names(packet: Any, known: dict[str, int]) -> list[str]:
    """Names of instances without label_file_id that are not labels yet (auto_create_labels)."""
    names = {
        label_name(inst)
        for _f, _i, inst in fmt.iter_instances(packet)
        if inst.label_file_id is None
    }
    names.discard(None)
    return sorted(n for n in names if n not in known)


class KeptInstances:
    """The packet's instances less the rejected ones, as often as asked (planning, then rows),
    without holding a list of a million tuples."""

    def __init__(self, packet: Any, rejected: set[tuple[int | None, int]]) -> None:
        self.packet = packet
        self.rejected = rejected

    def __iter__(self) -> Iterator[tuple[int | None, int, Any]]:
        if not self.rejected:
            return fmt.iter_instances(self.packet)
        rejected = self.rejected
        return (loc for loc in fmt.iter_instances(self.packet) if loc[:2] not in rejected)


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
        self._fetcher: Fetcher | None = None
        self._fetcher_lock = threading.Lock()

    @property
    def fetcher(self) -> Fetcher:
        """One for every import: a new HTTP client per import cost ~50 ms (its TLS context)."""
        with self._fetcher_lock:
            if self._fetcher is None:
                self._fetcher = Fetcher(
                    FetchConfig(
                        allow_private=self.settings.allow_private_urls,
                        max_bytes=self.settings.max_media_bytes,
                    )
                )
            return self._fetcher

    def close(self) -> None:
        with self._fetcher_lock:
            if self._fetcher is not None:
                self._fetcher.close()
                self._fetcher = None

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
            media = self.resolve_media(project_id, packet, staged, Path(tmp))
            self.store.update_import(import_id, status="processing", percent=30)
            if checked_with is not None:
                context = checked_with
            else:
                context = load_context(self.store, project_id, media.existing_file_id)
                if packet.auto_create_labels:
                    created = self.store.get_or_create_labels(
                        project_id, missing_label_names(packet, context.label_ids)
                    )
                    context.add_labels([shallow(label) for label in created])
                fmt.check_packet(
                    packet,
                    labels=context.label_index,
                    attributes=context.attribute_schema,
                    media_type=media.info.media_type,
                    strict=packet.strict,
                    report=report,
                )
                context.check_references(packet, report)
            fmt.check_media(
                packet, media.info, clip=packet.clip_to_media, strict=packet.strict, report=report
            )
            skipping = packet.on_error == "skip_instances"
            if report.problem_count and not skipping:
                self._fail(import_id, problem_dicts(report.problems), report=report)
                return
            instances = KeptInstances(packet, report.rejected)
            self.store.update_import(import_id, status="writing", percent=60)
            existing = media.existing_file_id
            plan = plan_import(
                instances,
                context.plan_context,
                import_id=import_id,
                file_id=existing,
                mode="create" if existing is None else (packet.mode or "update"),
                warnings=problem_dicts(report.warnings),
            )
            if existing is None:
                plan.new_file = {"directory_id": row.directory_id, **media.file_fields}
            plan.counts["seconds_before_write"] = round(time.monotonic() - started, 3)
            if report.problem_count:
                plan.counts["instances_skipped"] = len(report.rejected)
            plan.problems = problem_dicts(report.problems)
            plan.problem_count = report.problem_count
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

    # -- media -----------------------------------------------------------------------------

    def resolve_media(
        self, project_id: int, packet: Any, staged: envelope.StagedMedia | None, tmp: Path
    ) -> Media:
        """Fetch or find the media, probe it, and keep its bytes in the blob store."""
        if packet.file_id is not None:
            file_row = shallow(self.store.get_file(packet.file_id, project_id))
            return Media(
                info=media_info_of_row(file_row), file_fields={}, existing_file_id=file_row["id"]
            )
        declared = packet.media.type if packet.media is not None else None
        if staged is not None:
            local = self.blobs.local_path(staged.blob_key)
            if local is None:
                local = tmp / "staged"
                with self.blobs.open(staged.blob_key) as src, open(local, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            media_type = declared or ("text" if packet.text_data is not None else None)
            probe = probe_file(local, media_type, filename=staged.filename)
            return Media(
                info=probe.media_info(),
                file_fields=file_fields(
                    probe,
                    staged.blob_key,
                    staged.sha256,
                    staged.size,
                    staged.filename,
                    None,
                    packet,
                ),
            )
        with self.fetcher.fetch(packet.media.url) as fetched:  # removes the body file after
            probe = probe_file(fetched.path, declared, filename=fetched.filename)
            extension = Path(fetched.filename or "").suffix or (
                mimetypes.guess_extension(fetched.content_type or "") or ""
            )
            key = content_key(fetched.sha256, extension)
            if not self.blobs.exists(key):
                self.blobs.put_file(key, fetched.path)
        return Media(
            info=probe.media_info(),
            file_fields=file_fields(
                probe, key, fetched.sha256, fetched.size, fetched.filename, packet.media.url, packet
            ),
        )


def file_fields(
    probe: Any,
    blob_key: str,
    sha256: str,
    size: int,
    filename: str | None,
    source_url: str | None,
    packet: Any,
) -> dict[str, Any]:
    info = probe.media_info()
    return {
        "media_type": info.media_type,
        "original_filename": packet.original_filename or filename or os.path.basename(blob_key),
        "blob_key": blob_key,
        "sha256": sha256,
        "size": size,
        "width": info.width,
        "height": info.height,
        "frame_count": info.frame_count,
        "fps": info.fps,
        "duration": info.duration,
        "token_count": info.token_count,
        "tokens": getattr(probe, "tokens", None),
        "point_count": getattr(probe, "point_count", None),
        "bounds": getattr(probe, "bounds", None),
        "source_url": source_url,
        "parent_file_id": packet.parent_file_id,
        "ordinal": packet.ordinal,
    }


def media_info_of_row(row: dict[str, Any]) -> fmt.MediaInfo:
    return fmt.MediaInfo(
        media_type=row["media_type"],
        width=row.get("width"),
        height=row.get("height"),
        frame_count=row.get("frame_count"),
        fps=row.get("fps"),
        duration=row.get("duration"),
        token_count=row.get("token_count"),
    )
