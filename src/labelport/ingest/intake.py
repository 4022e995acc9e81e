"""Intake: what every way into labelport does with a packet before its write.

One packet sent alone (`Service.submit_packet`), a rerun of it after a crash (`ImportJob`), and
the lines of a batch (`BatchJob`) all check a packet against its project the same way
(`check_against_project`) and turn its media into a probed file (`MediaResolver`), so the three
cannot drift apart.
"""

from __future__ import annotations

import io
import mimetypes
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelport import format as fmt
from labelport.ingest import envelope
from labelport.ingest.context import ImportContext, shallow
from labelport.ingest.plan import plan_import
from labelport.ingest.rows import KeptInstances
from labelport.media import FetchConfig, Fetcher, probe_file, sources
from labelport.media.blobs import BlobStore, content_key, put_content_addressed
from labelport.media.errors import URL_REFUSED, FetchError
from labelport.media.fetch import _parse_url as parse_http_url
from labelport.media.fetch import _scheme as fetch_scheme
from labelport.media.guard import resolve_checked
from labelport.media.image import probe_complete_image
from labelport.media.probe_types import ProbeLimits
from labelport.shapes import problem_dicts as problem_dicts  # one function, for job.py and batch.py
from labelport.store import NotFound, Store, WritePlan

MEDIA_MODES = ("copy", "reference")
_LIMITS = ProbeLimits()
# A local file up to this size is read into memory once (hash, probe and copy from the bytes).
_KEEP_BYTES = 32 << 20
# A fetched body kept in memory: up to `fetch_concurrency` of them at once per process.
_KEEP_FETCHED = 8 << 20


@dataclass(frozen=True)
class Settings:
    allow_private_urls: bool = False
    max_media_bytes: int = 2 * 1024**3
    problems_cap: int = 1000
    # Local folders whose files may be sent as media.url = "file:///..." (none by default).
    media_roots: tuple[Path, ...] = ()
    # S3 buckets whose objects may be sent as media.url = "s3://bucket/key" (none by default).
    media_buckets: frozenset[str] = frozenset()
    # Media fetched at once by one batch chunk; one slow URL holds one of these, not the chunk.
    fetch_concurrency: int = 8
    # Lines of a batch one worker claims and writes in one transaction. 256: the importer's
    # batches grow 64, 128, 256, then 500 lines, so each of its chunks is whole (500 is 256 + 244,
    # where 200 made 200 + 200 + 100); fewer, fuller chunks took ~10% off a 2,000-image import
    # (its write transactions and two `syncfs` a chunk) against 200, as 500 did.
    batch_chunk: int = 256
    # How long a chunk's ready files wait for slower fetches before they are written anyway.
    straggler_seconds: float = 5.0
    # Bounds of one media fetch (docs/deploy.md, "Slow media"): its wall clock, all retries and
    # redirects included, and the rate (bytes/s) its body must average after the grace period.
    fetch_timeout: float = 60.0
    fetch_min_rate: int = 10 * 1024
    fetch_rate_grace: float = 10.0


@dataclass
class Media:
    """The media of one import once probed: what the checks need and what the file row stores."""

    info: fmt.MediaInfo
    file_fields: dict[str, Any]  # columns of a new file row; empty for an existing file
    existing_file_id: int | None = None


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
    # a blank name is the checks' label.missing, never a label
    return sorted(n for n in names if n is not None and n.strip() and n not in known)


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


def check_against_project(
    packet: fmt.Packet,
    context: ImportContext,
    report: fmt.Report,
    *,
    media_type: str | None,
    media: fmt.MediaInfo | None = None,
) -> None:
    """Every check of `packet` against its project (labels, attributes, ids it names) and, when
    the media is known already (`media`), against the media."""
    fmt.check_packet(
        packet,
        labels=context.label_index,
        attributes=context.attribute_schema,
        media_type=media_type,
        strict=packet.strict,
        report=report,
        stored_ids=context.stored_external_ids,
    )
    context.check_references(packet, report)
    if media is not None:
        fmt.check_media(
            packet, media, clip=packet.clip_to_media, strict=packet.strict, report=report
        )


def target_problems(
    store: Store,
    project_id: int,
    packet: Any,
    report: fmt.Report,
    directories: set[int] | None = None,
    *,
    uploaded: bool = False,
) -> dict[str, Any] | None:
    """Where the packet goes: the existing file it names (as a dict), or None for a new file.
    A packet needs exactly one media source, and the file, parent file and directory it names
    must be the project's (`directories`: the project's directory ids, when the caller has them)."""
    sources = [
        name
        for name, present in (
            ("media", packet.media is not None and packet.media.url is not None),
            ("file_id", packet.file_id is not None),
            ("text_data", packet.text_data is not None),
            ("upload", uploaded),
        )
        if present
    ]
    if len(sources) != 1:
        what = " and ".join(sources) if sources else "none"
        report.problem(
            "packet.media_source",
            "media" if not sources else sources[1],
            "a packet needs exactly one of media.url, file_id, text_data or an uploaded"
            f" file; it has {what}",
        )
    if packet.directory_id is not None:
        if directories is None:
            directories = {d.id for d in store.list_directories(project_id)}
        if packet.directory_id not in directories:
            report.problem(
                "directory.not_found",
                "directory_id",
                f"directory {packet.directory_id} is not in this project",
            )
    parent = getattr(packet, "parent_file_id", None)
    if parent is not None:
        try:
            store.get_file(parent, project_id)
        except NotFound:
            report.problem(
                "file.not_found", "parent_file_id", f"file {parent} is not in this project"
            )
    if len(sources) != 1 or packet.file_id is None:
        return None
    try:
        return shallow(store.get_file(packet.file_id, project_id))
    except NotFound:
        report.problem("file.not_found", "file_id", f"file {packet.file_id} is not in this project")
        return None


def _loopback_names_only(host: str, _port: int) -> list[str]:
    # No DNS before a packet is accepted (a slow resolver would hold the request): only names
    # that are loopback by definition resolve here. Any other name passes; the job resolves it
    # and checks every address it gets, and every redirect, before it connects.
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return ["127.0.0.1"]
    return []


def url_refused(
    packet: Any,
    config: FetchConfig,
    report: fmt.Report,
    *,
    local_paths: dict[str, Path] | None = None,
) -> bool:
    """Refuse now, with the job's own guards, a media URL the job would refuse without a fetch:
    a file:// URL outside the local media roots, an s3:// one not allowed, another scheme, or
    an http(s) URL whose host is a private or loopback address literal (or `localhost`) while
    private URLs are not allowed. Adds ``media.url_refused`` at ``media/url``; True if refused.

    Anything this cannot decide without the network (a name's addresses, where a redirect
    leads) or that is not a refusal (a missing file, a malformed URL) is left to the job.
    The real path of a file:// URL, found on the way, is kept in `local_paths` if given, for
    the fetch (`MediaResolver.resolve`)."""
    url = packet.media.url if packet.media is not None else None
    if not isinstance(url, str):
        return False
    try:
        scheme = fetch_scheme(url)
        if scheme == "file":
            real = sources.resolve_local(url, config)
            if local_paths is not None:
                local_paths[url] = real
        elif scheme == "s3":
            sources._s3_allowed(config, url)
        else:
            parsed = parse_http_url(url)
            resolve_checked(
                parsed.host,
                parsed.port or (443 if parsed.scheme == "https" else 80),
                allow_private=config.allow_private,
                trusted_hosts=config.trusted_hosts,
                resolver=_loopback_names_only,
            )
    except FetchError as exc:
        if exc.code != URL_REFUSED:
            return False
        report.problem(URL_REFUSED, "media/url", exc.message)
        return True
    return False


def add_missing_labels(store: Store, project_id: int, packets: list[Any], context: Any) -> None:
    """Create the labels that packets with auto_create_labels name and the project lacks, once
    for all of them, and make them known to `context`."""
    missing = sorted(
        {
            name
            for packet in packets
            if packet.auto_create_labels
            for name in missing_label_names(packet, context.label_ids)
        }
    )
    if missing:
        created = store.get_or_create_labels(project_id, missing)
        context.add_labels([shallow(label) for label in created])


class MediaResolver:
    """Fetch or find a packet's media, probe it, and keep its bytes (`copy`) or only where it is
    (`reference`). Thread-safe: a batch resolves many at once."""

    def __init__(self, store: Store, blobs: BlobStore, settings: Settings) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self._fetcher: Fetcher | None = None
        self._fetch_config: tuple[Settings, FetchConfig] | None = None
        self._lock = threading.Lock()

    @property
    def fetch_config(self) -> FetchConfig:
        """What may be fetched, and how: the settings as the fetcher and `url_refused` see them
        (made once per `Settings` object: a batch asks for it per file)."""
        made = self._fetch_config
        if made is None or made[0] is not self.settings:
            made = self._fetch_config = (self.settings, self._make_fetch_config())
        return made[1]

    def _make_fetch_config(self) -> FetchConfig:
        return FetchConfig(
            allow_private=self.settings.allow_private_urls,
            max_bytes=self.settings.max_media_bytes,
            total_timeout=self.settings.fetch_timeout,
            min_rate=self.settings.fetch_min_rate,
            rate_grace=self.settings.fetch_rate_grace,
            local_roots=self.settings.media_roots,
            allow_s3=bool(self.settings.media_buckets),
            s3_buckets=self.settings.media_buckets,
            s3_endpoint_url=os.environ.get("LABELPORT_S3_ENDPOINT_URL"),
        )

    @property
    def fetcher(self) -> Fetcher:
        """One for every import: a new HTTP client per import cost ~50 ms (its TLS context)."""
        with self._lock:
            if self._fetcher is None:
                self._fetcher = Fetcher(self.fetch_config)
            return self._fetcher

    def close(self) -> None:
        with self._lock:
            if self._fetcher is not None:
                self._fetcher.close()
                self._fetcher = None

    def resolve(
        self,
        project_id: int,
        packet: Any,
        staged: envelope.StagedMedia | None,
        tmp: Path,
        *,
        media_mode: str = "copy",
        durable: bool = True,
        local_path: Path | None = None,
    ) -> Media:
        """The probed media of `packet`. `durable=False` leaves the blob written but not synced:
        the caller makes a whole chunk durable at once (`BlobStore.sync`) before its write.
        `local_path`: the real path of a file:// media URL, if `url_refused` found it."""
        if packet.file_id is not None:
            file_row = shallow(self.store.get_file(packet.file_id, project_id))
            return Media(
                info=media_info_of_row(file_row), file_fields={}, existing_file_id=file_row["id"]
            )
        declared = packet.media.type if packet.media is not None else None
        if staged is None and packet.text_data is not None:
            staged = self.stage_text(packet)
        if staged is not None:
            local = self.blobs.local_path(staged.blob_key)
            if local is None:
                fd, name = tempfile.mkstemp(dir=tmp, prefix="staged-")
                local = Path(name)
                with self.blobs.open(staged.blob_key) as src, open(fd, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            media_type = declared or ("text" if packet.text_data is not None else None)
            probed = probe_file(local, media_type, filename=staged.filename)
            return Media(
                info=probed.media_info(),
                file_fields=file_fields(
                    probed,
                    staged.blob_key,
                    staged.sha256,
                    staged.size,
                    staged.filename,
                    None,
                    packet,
                ),
            )
        url = packet.media.url
        if media_mode == "reference":
            # Only what the probe needs is read (an image's header); nothing is kept.
            source = self.fetcher.probe(url, declared)
            return Media(
                info=source.probe.media_info(),
                file_fields=file_fields(
                    source.probe, None, source.sha256, source.size, source.filename, url, packet
                ),
            )
        if fetch_scheme(url) == "file":
            # Read in place once: a small file's bytes are hashed, probed and copied from memory.
            fetched = sources.fetch_file(
                self.fetch_config, url, keep_bytes=_KEEP_BYTES, real=local_path
            )
        else:  # a small body stays in memory: no temp file made, written and removed per file
            fetched = self.fetcher.fetch(url, keep_bytes=_KEEP_FETCHED)
        with fetched:  # removes a fetched body's temp file after
            data = fetched.data
            probe = None
            if declared in (None, "image"):  # most media is a JPEG or PNG: its header suffices
                probe = probe_complete_image(
                    fetched.local_file() if data is None else data, _LIMITS
                )
            if probe is None:
                probe = probe_file(fetched.local_file(), declared, filename=fetched.filename)
            extension = Path(fetched.filename or "").suffix or (
                mimetypes.guess_extension(fetched.content_type or "") or ""
            )
            key = content_key(fetched.sha256, extension)
            if self.blobs.exists(key):
                pass
            elif data is not None:
                self.blobs.put_bytes(key, data, durable=durable, sha256=fetched.sha256)
            else:
                self.blobs.put_file(key, fetched.local_file(), durable=durable)
        return Media(
            info=probe.media_info(),
            file_fields=file_fields(
                probe, key, fetched.sha256, fetched.size, fetched.filename, url, packet
            ),
        )

    def stage_text(self, packet: Any) -> envelope.StagedMedia:
        """A packet's `text_data` as a blob, like an uploaded file."""
        filename = packet.original_filename or "text.txt"
        blob = put_content_addressed(
            self.blobs, io.BytesIO(packet.text_data.encode()), Path(filename).suffix or ".txt"
        )
        return envelope.StagedMedia(
            blob_key=blob.key, filename=filename, sha256=blob.sha256, size=blob.size
        )


def file_fields(
    probe: Any,
    blob_key: str | None,
    sha256: str | None,
    size: int,
    filename: str | None,
    source_url: str | None,
    packet: Any,
) -> dict[str, Any]:
    """Columns of the file row. Without a blob key the media stays where `source_url` says."""
    info = probe.media_info()
    return {
        "media_type": info.media_type,
        "original_filename": packet.original_filename
        or filename
        or os.path.basename(blob_key or source_url or ""),
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


def plan_write(
    packet: Any,
    report: fmt.Report,
    context: ImportContext,
    media: Media,
    *,
    import_id: int,
    directory_id: int | None,
    started: float,
) -> WritePlan:
    """The write of a checked packet: its kept instances (all, or under skip_instances those
    without problems), the new file row unless it targets an existing file, and its counts."""
    existing = media.existing_file_id
    plan = plan_import(
        KeptInstances(packet, report.rejected),
        context.plan_context,
        import_id=import_id,
        file_id=existing,
        mode="create" if existing is None else (packet.mode or "update"),
        warnings=problem_dicts(report.warnings),
    )
    if existing is None:
        plan.new_file = {"directory_id": directory_id, **media.file_fields}
    plan.counts["seconds_before_write"] = round(time.monotonic() - started, 3)
    if "clamped" in report.counts:  # the warnings list is capped; this count is not
        plan.counts["clamped"] = report.counts["clamped"]
    if report.problem_count:
        plan.counts["instances_skipped"] = len(report.rejected)
        plan.counts["problem_counts_by_code"] = dict(report.problem_counts_by_code)
    plan.problems = problem_dicts(report.problems)
    plan.problem_count = report.problem_count
    return plan
