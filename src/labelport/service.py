"""`Service`: the one application object. The HTTP app, the CLI and the demo call only this.

Every method that touches a project's data takes the caller's `project_id` and answers `NotFound`
for an id of another project, exactly as for a missing one: callers cannot probe other projects.
Return values are plain JSON-ready dicts, of the shapes declared in `labelport.shapes`.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import mmap
import os
import re
import stat
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

import msgspec

from labelport import auth, palette, shapes
from labelport import format as fmt
from labelport.errors import Invalid, NotFound, Rejected
from labelport.format import problem_groups
from labelport.format.decode import BOM
from labelport.format.instances import TEXT_MAX
from labelport.format.media_info import guess_media_type
from labelport.format.problems import is_text
from labelport.ingest import envelope
from labelport.ingest.batch import BatchJob
from labelport.ingest.context import load_context
from labelport.ingest.dispatch import Dispatcher, NoDispatch, ThreadRunner
from labelport.ingest.intake import (
    MEDIA_MODES,
    Settings,
    check_against_project,
    import_counts,
    media_info_of_row,
    missing_label_names,
    target_problems,
    url_refused,
)
from labelport.ingest.job import TERMINAL, ImportJob
from labelport.ingest.process_runner import ProcessRunner, can_fork
from labelport.media import MediaError, served
from labelport.media.blobs import BlobStore, LocalBlobStore, put_content_addressed
from labelport.media.image import load_image_decoders
from labelport.media.served import ServedMedia
from labelport.running import DEFAULT_DATA_DIR
from labelport.shapes import problem_dicts, problems_out, record_keys
from labelport.store import Store
from labelport.store.batches import BatchLine
from labelport.store.records import AttributeGroup, Batch, File, Import, Instance, Label
from labelport.store.tables import (
    BATCH_TERMINAL_STATUSES,
    ON_ERROR,
    SOURCE_CHARS,
    TERMINAL_STATUSES,
)

log = logging.getLogger(__name__)
_Shape = TypeVar("_Shape")

MEDIA_ROOTS_ENV = "LABELPORT_MEDIA_ROOTS"
MEDIA_BUCKETS_ENV = "LABELPORT_MEDIA_BUCKETS"
_STRING_ID = re.compile(r"[^a-z0-9]+")


def _blob_store(storage_url: str | None, root: Path) -> BlobStore:
    if storage_url is None:
        return LocalBlobStore(root / "blobs")
    from labelport.media.s3 import open_blob_store

    store: BlobStore = open_blob_store(storage_url)  # media/s3.py answers Any
    return store


def _packet_data(packet: bytes | dict[str, Any] | BinaryIO) -> bytes | mmap.mmap:
    if isinstance(packet, bytes):
        return packet
    if not hasattr(packet, "read"):  # a dict, or whatever JSON value a client sent
        return msgspec.json.encode(packet)
    stream = cast(BinaryIO, packet)
    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, OSError, io.UnsupportedOperation):  # an in-memory file
        info = None
    if info is not None and stat.S_ISREG(info.st_mode) and info.st_size > 0:
        # Mapped, not read: decoding hands the pages back as it goes (see format.decode).
        return mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    if stream.seekable():
        stream.seek(0)
    return stream.read()  # in memory already, a pipe, or empty


def string_id_for(name: str) -> str:
    slug = _STRING_ID.sub("-", name.lower()).strip("-")
    return slug or "project"


class Service:
    """Projects, labels, media and imports over one store, one blob store and one dispatcher."""

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        *,
        settings: Settings | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings or Settings()
        self.job = ImportJob(store, blobs, self.settings)
        self.batch_job = BatchJob(store, blobs, self.settings, self.job.media)
        self.dispatcher: Dispatcher = dispatcher or NoDispatch()
        # worker id -> the work its last chunk claimed for it (BatchJob.run(then_claim=))
        self._claimed_ahead: dict[str, list[Import]] = {}
        self._claimed_ahead_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        *,
        data_dir: str | Path | None = None,
        database_url: str | None = None,
        allow_private_urls: bool = False,
        media_roots: Sequence[str | Path] | None = None,
        media_buckets: Sequence[str] | None = None,
        workers: int = 2,
        storage_url: str | None = None,
        queue: str = "threads",
        fetch_timeout: float | None = None,
        fetch_min_rate: int | None = None,
    ) -> Service:
        """The embedded default: SQLite and blobs under `data_dir`, `workers` import threads.

        `media_roots` / `media_buckets`: where packets may point at media by file:// and s3://
        URLs (default: $LABELPORT_MEDIA_ROOTS, os.pathsep-separated, and
        $LABELPORT_MEDIA_BUCKETS, comma-separated; none when unset).
        Scaled out (docs/deploy.md): `database_url` PostgreSQL, `storage_url` s3://bucket/prefix,
        `queue="procrastinate"` with `workers=0`: imports are deferred to `labelport worker`s.
        `queue="processes"`: `workers` forked processes instead of threads, so that jobs use
        every core (ingest/process_runner.py); threads where this process cannot fork safely
        (no `os.fork`, or threads already running).
        `fetch_timeout`: seconds one media fetch may take in all (default: `Settings`').
        `fetch_min_rate`: bytes a second a media body must average after its first seconds
        (0: no minimum; default: `Settings`').
        """
        if queue not in ("threads", "processes", "procrastinate"):
            raise ValueError(f"queue {queue!r}: threads, processes or procrastinate")
        if queue == "procrastinate" and workers > 0:
            raise ValueError("with queue='procrastinate' imports run in `labelport worker`s")
        root = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
        if database_url is None or storage_url is None or workers > 0:
            root.mkdir(parents=True, exist_ok=True)
        url = database_url or f"sqlite:///{(root / 'labelport.db').resolve()}"
        store = Store.open(url)
        try:
            blobs = _blob_store(storage_url, root)
        except BaseException:
            store.close()
            raise
        if media_roots is None:  # API servers and workers share these through the environment
            media_roots = [r for r in os.environ.get(MEDIA_ROOTS_ENV, "").split(os.pathsep) if r]
        if media_buckets is None:
            media_buckets = [b for b in os.environ.get(MEDIA_BUCKETS_ENV, "").split(",") if b]
        settings = Settings(
            allow_private_urls=allow_private_urls,
            media_roots=tuple(Path(r).resolve() for r in media_roots),
            media_buckets=frozenset(media_buckets),
        )
        if fetch_timeout is not None:
            settings = dataclasses.replace(settings, fetch_timeout=fetch_timeout)
        if fetch_min_rate is not None:
            settings = dataclasses.replace(settings, fetch_min_rate=fetch_min_rate)
        service = cls(store, blobs, settings=settings)
        if queue == "procrastinate":
            from labelport.ingest.procrastinate_queue import ProcrastinateDispatcher

            service.dispatcher = ProcrastinateDispatcher(database_url or "")
            service.dispatcher.start()
        elif workers > 0 and queue == "processes" and can_fork():

            def open_worker() -> Service:  # in a forked child: its own connections
                worker = cls(Store.open(url), _blob_store(storage_url, root), settings=settings)
                load_image_decoders()  # while the parent sends the first lines
                return worker

            service.dispatcher = ProcessRunner(
                open_worker=open_worker,
                claim=service._claim,
                run=service._run_claimed,
                requeue_orphans=store.requeue_running_imports,
                requeue_worker=store.requeue_worker_imports,
                lock_path=root / "jobs.lock",
                processes=workers,
            )
            service.dispatcher.start()
        elif workers > 0:
            service.dispatcher = ThreadRunner(
                claim=service._claim,
                run=service._run_claimed,
                requeue_orphans=store.requeue_running_imports,
                lock_path=root / "jobs.lock",
                workers=workers,
                fetch_workers=settings.fetch_concurrency,
            )
            service.dispatcher.start()
        return service

    def _claim(self, worker_id: str) -> list[Import] | None:
        """The next work: one import, or a run of a batch's lines (see store/batches.py); the
        work the worker's last chunk claimed for it, if any."""
        with self._claimed_ahead_lock:
            ahead = self._claimed_ahead.pop(worker_id, None)
        if ahead:
            return ahead
        return self.store.claim_next_imports(worker_id, self.settings.batch_chunk) or None

    def _run_claimed(self, claimed: list[Import]) -> Callable[[], None] | None:
        """Run claimed work; an import waiting on remote media returns its rest for the
        runner's fetch threads (ingest/dispatch.py)."""
        if len(claimed) == 1 and claimed[0].batch_id is None:
            return self.job.start(claimed[0].id)
        worker_id = claimed[0].claimed_by
        ahead = self.batch_job.run(claimed, then_claim=worker_id)
        if ahead and worker_id is not None:
            with self._claimed_ahead_lock:
                self._claimed_ahead[worker_id] = ahead
        return None

    def run_import_job(self, import_id: int) -> None:
        """Run a queued import for an out-of-process worker. A batch's line brings the rest of
        its chunk: the unfinished lines from it to the end of its chunk of `batch_chunk`."""
        row = self.store.get_import(import_id)
        if row.batch_id is None or row.batch_line is None:
            self.job.run(import_id)
            return
        size = self.settings.batch_chunk
        last = (row.batch_line // size + 1) * size - 1
        lines = self.store.batch_imports(row.batch_id, row.batch_line, last)
        self.batch_job.run([r for r in lines if r.status not in TERMINAL])

    def close(self) -> None:
        self.dispatcher.stop()
        # Work claimed ahead by a worker thread that stopped before running it: queued again
        # now, rather than when the next runner finds it orphaned.
        with self._claimed_ahead_lock:
            left, self._claimed_ahead = list(self._claimed_ahead), {}
        for worker_id in left:
            self.store.requeue_worker_imports(worker_id)
        self.batch_job.close()
        self.job.close()
        self.store.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- projects and keys -----------------------------------------------------------------

    def create_project(self, name: str, string_id: str | None = None) -> shapes.ProjectOut:
        if not name.strip():
            raise Invalid("a project needs a name")
        _storable("a project name", name)
        created = self.store.create_project(string_id or string_id_for(name), name)
        return _public(created, shapes.ProjectOut)

    def get_project(self, string_id: str) -> shapes.ProjectOut:
        return _public(self.store.get_project_by_string_id(string_id), shapes.ProjectOut)

    def create_api_key(self, project_id: int, role: str = "admin") -> shapes.KeyOut:
        if role not in auth.ROLES:
            raise Invalid(f"role must be one of {', '.join(auth.ROLES)}, not {role!r}")
        self.store.get_project(project_id)
        client_id, secret = auth.new_client_id(), auth.new_client_secret()
        self.store.create_api_key(
            project_id=project_id,
            client_id=client_id,
            secret_hash=auth.hash_secret(secret),
            role=role,
        )
        return {
            "client_id": client_id,
            "client_secret": secret,
            "role": role,
            "project_id": project_id,
        }

    def authenticate(self, client_id: str, client_secret: str) -> shapes.KeyHolder | None:
        key = self.store.get_api_key(client_id)
        # An unknown id is checked against a dummy hash: the same scrypt as a wrong secret.
        if not auth.verify_secret(client_secret, key.secret_hash if key else None) or not key:
            return None
        project = self.store.get_project(key.project_id)
        return {
            "client_id": client_id,
            "role": key.role,
            "project_id": project.id,
            "project_string_id": project.string_id,
        }

    # -- labels, attributes, directories ---------------------------------------------------

    def list_label_schemas(self, project_id: int) -> list[shapes.SchemaOut]:
        return [_public(r, shapes.SchemaOut) for r in self.store.list_label_schemas(project_id)]

    def create_label_schema(self, project_id: int, name: str) -> shapes.SchemaOut:
        return _public(self.store.create_label_schema(project_id, name), shapes.SchemaOut)

    def create_labels(
        self,
        project_id: int,
        names: list[str],
        *,
        schema_id: int | None = None,
        colour: str | None = None,
    ) -> list[shapes.LabelOut]:
        cleaned = [n for n in (name.strip() for name in names) if n]
        if len(cleaned) != len(names):
            raise Invalid("label names must not be empty")
        report = fmt.Report()
        fmt.check_label_names(cleaned, report)
        if report.problem_count:
            refused = Rejected(report)
            refused.message = "label names: " + "; ".join(p.message for p in report.problems)
            raise refused
        if schema_id is not None:
            self._schema_in(project_id, schema_id)
        # No colour given: none stored, the label takes its place's colour in the default palette.
        colour = None if colour is None else _checked_colour(colour)
        created = self.store.create_labels(
            project_id, [{"name": n, "colour": colour} for n in cleaned], schema_id
        )
        ids = {r.id for r in created}
        return [lab for lab in self.list_labels(project_id) if lab["id"] in ids]

    def list_labels(self, project_id: int) -> list[shapes.LabelOut]:
        """Every label by id; `colour` is the one set for it or its default (by its place)."""
        return [_label(r, i) for i, r in enumerate(self.store.list_labels(project_id))]

    def get_label(self, project_id: int, label_id: int) -> shapes.LabelOut:
        label = self.store.get_label(label_id)
        if label.project_id != project_id:
            raise NotFound(f"label {label_id} not found")
        return _label(label, self.store.label_index(project_id, label_id))

    def set_label_colour(
        self, project_id: int, label_id: int, colour: str | None
    ) -> shapes.LabelOut:
        """Sets a label's colour (`#rrggbb`), or with None gives it back its default colour."""
        checked = None if colour is None else _checked_colour(colour)
        label = self.store.set_label_colour(project_id, label_id, checked)
        return _label(label, self.store.label_index(project_id, label_id))

    def create_attribute_group(
        self,
        project_id: int,
        *,
        name: str,
        kind: str,
        prompt: str = "",
        label_ids: list[int] | tuple[int, ...] = (),
        options: list[Any] | tuple[Any, ...] = (),
        min_value: float | None = None,
        max_value: float | None = None,
        is_root: bool = True,
    ) -> shapes.AttributeGroupOut:
        _storable("an attribute group's name", name)
        _storable("an attribute group's prompt", prompt, limit=None)
        for option in options:  # a name, or {"name", "display_name"}
            for text in [option] if isinstance(option, str) else option.values():
                if isinstance(text, str):
                    _storable("an option's name", text)
        try:
            group = self.store.create_attribute_group(
                project_id,
                name,
                kind,
                label_ids=label_ids,
                options=options,
                prompt=prompt,
                min_value=min_value,
                max_value=max_value,
                is_root=is_root,
            )
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        return public_group(group)

    def update_attribute_group(
        self, project_id: int, group_id: int, **fields: Any
    ) -> shapes.AttributeGroupOut:
        try:
            return public_group(self.store.update_attribute_group(project_id, group_id, **fields))
        except ValueError as exc:
            raise Invalid(str(exc)) from None

    def add_attribute_option(
        self, project_id: int, group_id: int, name: str, display_name: str | None = None
    ) -> shapes.OptionOut:
        _storable("an option's name", name)
        if display_name is not None:
            _storable("an option's display name", display_name)
        option = self.store.add_attribute_option(project_id, group_id, name, display_name)
        return _public(option, shapes.OptionOut)

    def list_attribute_groups(self, project_id: int) -> list[shapes.AttributeGroupOut]:
        return [public_group(g) for g in self.store.list_attribute_groups(project_id)]

    def create_directory(self, project_id: int, nickname: str) -> shapes.DirectoryOut:
        if not nickname.strip():
            raise Invalid("a directory needs a name")
        _storable("a directory's name", nickname)
        return _public(self.store.create_directory(project_id, nickname), shapes.DirectoryOut)

    def list_directories(self, project_id: int) -> list[shapes.DirectoryOut]:
        return [_public(d, shapes.DirectoryOut) for d in self.store.list_directories(project_id)]

    def get_directory(
        self, project_id: int, directory_id: int | None = None, nickname: str | None = None
    ) -> shapes.DirectoryOut:
        if directory_id is not None:
            found = self.store.get_directory(directory_id, project_id)
        elif nickname is not None:
            matches = [d for d in self.store.list_directories(project_id) if d.nickname == nickname]
            if not matches:
                raise NotFound(f"directory {nickname!r} not found")
            found = matches[0]
        else:
            found = self.store.default_directory(project_id)
        return _public(found, shapes.DirectoryOut)

    def _schema_in(self, project_id: int, schema_id: int) -> None:
        if schema_id not in {s.id for s in self.store.list_label_schemas(project_id)}:
            raise NotFound(f"label schema {schema_id} not found")

    # -- files -----------------------------------------------------------------------------

    def get_file(self, project_id: int, file_id: int) -> shapes.FileOut:
        return public_file(self.store.get_file(file_id, project_id))

    def list_files(
        self,
        project_id: int,
        *,
        directory_id: int | None = None,
        page: int = 1,
        per_page: int = 100,
    ) -> tuple[list[shapes.FileOut], int]:
        if directory_id is not None:
            self.store.get_directory(directory_id, project_id)
        page, per_page = max(page, 1), min(max(per_page, 1), 1000)
        rows = self.store.list_files(
            project_id, directory_id, limit=per_page, offset=(page - 1) * per_page
        )
        total = self.store.count_files(project_id, directory_id)
        return [public_file(r) for r in rows], total

    def files_exist(self, project_id: int, file_ids: list[int]) -> list[int]:
        present = self.store.existing_file_ids(project_id, file_ids)
        return [i for i in file_ids if i not in present]

    def open_file_media(self, project_id: int, file_id: int) -> tuple[BinaryIO, str]:
        """The file's media bytes and the type to serve them as (see `serve_file_media`)."""
        media = self.serve_file_media(project_id, file_id)
        return media.stream, media.content_type

    def serve_file_media(self, project_id: int, file_id: int) -> ServedMedia:
        """The file's media bytes, the content type and the headers to serve them with: from
        the blob store, or for media kept by reference, streamed from where it is (with the
        same guards as fetching it).

        The type comes from the file row's probed media type and the format its first bytes
        show, never from its name or a remote server's word (`labelport.media.served`): stored
        bytes named x.html are never served as a page."""
        row = self.store.get_file(file_id, project_id)
        if row.blob_key is not None:
            stream = self.blobs.open(row.blob_key)
        elif row.source_url is None:
            raise NotFound(f"file {file_id} has no stored media")
        else:
            try:
                stream = self.job.media.fetcher.open(row.source_url).stream
            except MediaError as exc:
                raise NotFound(
                    f"file {file_id}: its media cannot be read ({exc.message})"
                ) from None
        try:
            head = served.read_head(stream)
            seekable = getattr(stream, "seekable", None)
            if seekable is not None and seekable():
                stream.seek(0)
            else:
                stream = served.PrefixedStream(head, stream)  # type: ignore[assignment]
        except BaseException:
            stream.close()
            raise
        content_type = served.served_type(row.media_type, head)
        headers = served.safety_headers(content_type, row.original_filename)
        return ServedMedia(stream, content_type, headers)

    def get_tokens(self, project_id: int, file_id: int) -> list[shapes.TokenOut]:
        row = self.store.get_file(file_id, project_id)
        if row.media_type != "text":
            raise NotFound(f"file {file_id} is not a text file")
        return row.tokens or []

    # -- imports ---------------------------------------------------------------------------

    def submit_packet(
        self,
        project_id: int,
        packet: bytes | dict[str, Any] | BinaryIO,
        *,
        source: str = "api",
        upload: tuple[str, BinaryIO] | None = None,
        dry_run: bool = False,
        import_counts: dict[str, Any] | None = None,
    ) -> shapes.ImportOut | shapes.DryRunOut:
        """Check everything that needs no media now; queue the rest. Raises `Rejected`.

        `packet` is JSON bytes, a dict, or a binary file of JSON (read from its start); a large
        packet is best sent as a file, which is decoded without holding all of its bytes.
        `import_counts` (e.g. a converter's `{"losses": {...}}`) is stored in the import's
        counts, beside what the job counts."""
        data = _packet_data(packet)
        parsed, report = fmt.decode_packet(data)
        if parsed is None:
            rejection = Rejected(report)
            if not dry_run:
                self._record_rejected(project_id, rejection, _envelope_of(data), source, upload)
            raise rejection
        dry_run = dry_run or parsed.dry_run
        if parsed.idempotency_key and not dry_run:
            first = self.store.find_import_by_key(project_id, parsed.idempotency_key)
            if first is not None:
                return public_import(first)

        existing_file = target_problems(
            self.store, project_id, parsed, report, uploaded=upload is not None
        )
        # A URL the job would refuse unfetched is refused now, not left as a failed import;
        # before any label is made for the packet. The job still checks after DNS and redirects.
        if url_refused(parsed, self.job.media.fetch_config, report) and not dry_run:
            raise self._record_rejected(
                project_id, Rejected(report), parsed, source, upload, existing_file
            )
        directory_id = parsed.directory_id
        if directory_id is None:
            directory_id = self.store.default_directory(project_id).id
        media_type = parsed.media_type or (existing_file or {}).get("media_type")
        if upload is not None and media_type is None:
            media_type = guess_media_type(upload[0])
        context = load_context(
            self.store, project_id, existing_file["id"] if existing_file else None
        )
        refused = bool(report.problem_count) and (
            parsed.on_error != "skip_instances" or fmt.key_unusable(report)
        )
        if parsed.auto_create_labels:
            # A packet refused already only pretends: its labels must not outlive it.
            context.add_labels(
                self._create_missing_labels(project_id, parsed, context, dry_run=dry_run or refused)
            )
        check_against_project(
            parsed,
            context,
            report,
            media_type=media_type,
            media=media_info_of_row(existing_file) if existing_file is not None else None,
        )
        if dry_run:
            return self._dry_run(project_id, parsed, report, upload, existing_file)
        if report.problem_count and (
            parsed.on_error != "skip_instances" or fmt.key_unusable(report)
        ):
            raise self._record_rejected(
                project_id, Rejected(report), parsed, source, upload, existing_file
            )

        staged = self._stage_media(parsed, upload)
        packet_key = f"packets/{uuid.uuid4().hex}.json"
        # a dict packet was encoded into `data`: otherwise `packet` is the bytes or the stream
        source_bytes = data if isinstance(data, bytes) else cast(BinaryIO, packet)
        self.blobs.put_stream(packet_key, envelope.wrapped_stream(source_bytes, staged))
        media_name, media_url = _media_named(parsed, upload, existing_file)
        row, created = self.store.create_import(
            project_id,
            media_name=media_name,
            media_url=media_url,
            directory_id=directory_id,
            file_id=existing_file["id"] if existing_file else None,
            source=source,
            media_type=media_type,
            mode=parsed.mode or ("update" if existing_file else "create"),
            idempotency_key=parsed.idempotency_key,
            packet_blob_key=packet_key,
        )
        if not created:  # lost an idempotency race: the first import is the answer
            self.blobs.delete(packet_key)
        else:
            if import_counts:  # before the job runs: its write merges into these counts
                row = self.store.update_import(row.id, counts=import_counts)
            if self.dispatcher.runs_jobs:
                self.job.handoff[row.id] = (parsed, report, staged, context)
                # A worker polling at that moment may have run it from the blob already: then
                # nobody would ever take the packet back out.
                if self.store.get_import(row.id).status in TERMINAL:
                    self.job.handoff.pop(row.id, None)
            self.dispatcher.enqueue(row.id)
        return public_import(row)

    def _record_rejected(
        self,
        project_id: int,
        refused: Rejected,
        parsed: Any,
        source: str,
        upload: tuple[str, BinaryIO] | None,
        existing_file: dict[str, Any] | None = None,
    ) -> Rejected:
        """Leave a record of a refused packet (status `rejected`, its problems capped: see
        `Store.create_rejected_import`); its id goes on `refused.import_id` for the answer.
        Recording is best effort: the caller's 422 never becomes a 500 because of it."""
        report = refused.report
        media_name, media_url = _media_named(parsed, upload, existing_file)
        by_code = report.summary().get("problem_counts_by_code")
        try:
            row = self.store.create_rejected_import(
                project_id,
                problems=problem_dicts(report.problems[:200]),
                problem_count=report.problem_count,
                problem_counts_by_code=by_code,
                warnings=problem_dicts(report.warnings[:20]),
                warning_count=report.warning_count,
                source=source,
                media_type=_text_or_none(getattr(parsed, "media_type", None)),
                mode=(_text_or_none(getattr(parsed, "mode", None)) or "create"),
                file_id=existing_file["id"] if existing_file else None,
                idempotency_key=_text_or_none(getattr(parsed, "idempotency_key", None)),
                media_name=media_name,
                media_url=media_url,
                problem_groups=_grouped(report.problems, by_code),
            )
        except Exception:  # an outage: the answer stays the 422 it is
            log.exception("could not record a rejected packet of project %s", project_id)
            return refused
        refused.import_id = row.id  # type: ignore[attr-defined]
        return refused

    def _create_missing_labels(
        self, project_id: int, parsed: Any, context: Any, *, dry_run: bool
    ) -> list[dict[str, Any]]:
        missing = missing_label_names(parsed, context.label_ids)
        if not missing:
            return []
        if dry_run:  # would be created: stand-in ids keep the checks honest without writing
            return [{"id": -(n + 1), "name": name} for n, name in enumerate(missing)]
        return [_dict(r) for r in self.store.get_or_create_labels(project_id, missing)]

    def _stage_media(
        self, parsed: Any, upload: tuple[str, BinaryIO] | None
    ) -> envelope.StagedMedia | None:
        if upload is not None:
            filename, stream = upload
            blob = put_content_addressed(self.blobs, stream, Path(filename).suffix)
            return envelope.StagedMedia(
                blob_key=blob.key, filename=filename, sha256=blob.sha256, size=blob.size
            )
        if parsed.text_data is not None:
            return self.job.media.stage_text(parsed)
        return None

    def _dry_run(
        self,
        project_id: int,
        parsed: Any,
        report: Any,
        upload: tuple[str, BinaryIO] | None,
        existing_file: dict[str, Any] | None,
    ) -> shapes.DryRunOut:
        """Check against the media too when it can be had, then store nothing. The media is
        fetched even when the packet has other problems, so that one dry run reports them all
        (a media URL refused already is not tried)."""
        media_refused = any(p.path.startswith("media") for p in report.problems)
        if existing_file is None and not media_refused:
            with tempfile.TemporaryDirectory(prefix="labelport-dry-") as tmp:
                try:
                    staged = None
                    if upload is not None or parsed.text_data is not None:
                        staged = self._stage_media(parsed, upload)
                    media = self.job.media.resolve(project_id, parsed, staged, Path(tmp))
                    fmt.check_media(
                        parsed,
                        media.info,
                        clip=parsed.clip_to_media,
                        strict=parsed.strict,
                        report=report,
                    )
                except MediaError as exc:
                    report.problem(exc.code, "media", exc.message)
        return {
            "status": "dry_run",
            "problem_count": report.problem_count,
            "problems": problems_out(report.problems),
            "problem_groups": _grouped(report.problems, dict(report.problem_counts_by_code)),
            "warning_count": report.warning_count,
            "warnings": problems_out(report.warnings),
            "problems_listed_at_most": report.limit,
            "problems_not_listed": report.problems_not_listed,
            "problem_counts_by_code": dict(report.problem_counts_by_code),
            "warnings_not_listed": report.warnings_not_listed,
            "warning_counts_by_code": dict(report.warning_counts_by_code),
            "counts": {
                k: v
                for k, v in import_counts(report.counts).items()
                if k != "problem_counts_by_code"  # given above
            },
        }

    def get_import(
        self,
        project_id: int,
        import_id: int,
        *,
        problems_page: int = 1,
        problems_per_page: int = 100,
    ) -> shapes.ImportOut:
        row = self.store.get_import(import_id, project_id)
        return public_import(row, problems_page=problems_page, problems_per_page=problems_per_page)

    def find_import(
        self,
        project_id: int,
        *,
        idempotency_key: str | None = None,
        key_stem: str | None = None,
        status: str | None = None,
    ) -> shapes.ImportOut | None:
        """The import sent with `idempotency_key`, or the newest whose key is `key_stem` + "#" +
        a version (`Store.find_latest_import_by_key_stem`); of `status` if given; else None.
        The import's problems are not included (`get_import` pages them)."""
        if (idempotency_key is None) == (key_stem is None):
            raise Invalid("give exactly one of idempotency_key and key_stem")
        if key_stem is not None:
            row = self.store.find_latest_import_by_key_stem(project_id, key_stem, status=status)
        else:
            row = self.store.find_import_by_key(project_id, idempotency_key or "")
            if row is not None and status is not None and row.status != status:
                row = None
        return None if row is None else public_import(row, problems_per_page=0)

    def list_imports(
        self,
        project_id: int,
        *,
        status: str | None = None,
        media_type: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> tuple[list[shapes.ImportOut], int]:
        page, per_page = max(page, 1), min(max(per_page, 1), 500)
        rows = self.store.list_imports(
            project_id,
            status=status,
            media_type=media_type,
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        total = self.store.count_imports(project_id, status=status, media_type=media_type)
        return [public_import(r, problems_per_page=0) for r in rows], total

    def wait_import(
        self, project_id: int, import_id: int, timeout: float = 60.0
    ) -> shapes.ImportOut:
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            ended = self.dispatcher.jobs_ended  # read first: an end after it cuts the wait short
            found = self.get_import(project_id, import_id)
            if found["status"] in TERMINAL_STATUSES or time.monotonic() >= deadline:
                return found
            self.dispatcher.wait_for_jobs(ended, min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 1.5, 0.5)

    # -- batches ---------------------------------------------------------------------------

    def submit_batch(
        self,
        project_id: int,
        packets: bytes | BinaryIO | Iterable[bytes | dict[str, Any]],
        *,
        on_error: str = "reject",
        media: str = "copy",
        source: str = "api",
        import_counts: Mapping[int, dict[str, Any]] | None = None,
    ) -> shapes.BatchOut:
        """Queue many packets as one batch: NDJSON (bytes or a binary file, one packet a line;
        blank lines are ignored) or an iterable of packets. Each line becomes an import of its
        own, checked and written on its own: a bad line fails alone, never the batch, so this
        raises only for bad options. `import_counts`: line -> counts stored on its import."""
        if on_error not in ON_ERROR:
            raise Invalid(f"on_error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
        if media not in MEDIA_MODES:
            raise Invalid(f"media must be one of {', '.join(MEDIA_MODES)}, not {media!r}")
        _storable("a batch's source", source, limit=SOURCE_CHARS)
        self.store.get_project(project_id)
        key = f"batches/{uuid.uuid4().hex}.ndjson"
        if isinstance(packets, bytes):
            lines = _lines_in(packets)
            self.blobs.put_bytes(key, packets)
        elif hasattr(packets, "read"):
            with tempfile.TemporaryDirectory(prefix="labelport-batch-") as tmp:
                path = _spooled(cast(BinaryIO, packets), Path(tmp) / "body.ndjson")
                lines = batch_lines(path)
                self.blobs.put_file(key, path)
        else:
            # Written once, straight into the blob store, each line placed as it is written.
            body = _NdjsonBody(packets)
            self.blobs.put_stream(key, cast(BinaryIO, body))
            lines = body.lines
        try:
            batch = self.store.create_batch(
                project_id, lines, on_error=on_error, media=media, source=source, body_blob_key=key
            )
        except BaseException:  # no batch holds the body: it is not kept either
            self.blobs.delete(key)
            raise
        if import_counts:
            self.store.set_batch_import_counts(batch.id, dict(import_counts))
        self._enqueue_batch(batch)
        return self.get_batch(project_id, batch.id, per_page=0)

    def _enqueue_batch(self, batch: Batch) -> None:
        """One job per chunk of lines, for a dispatcher that needs them; workers that claim by
        themselves are merely woken."""
        if batch.status in BATCH_TERMINAL_STATUSES:
            return
        if self.dispatcher.claims_queued:
            self.dispatcher.notify()
            return
        for import_id in self.store.batch_chunk_heads(batch.id, self.settings.batch_chunk):
            self.dispatcher.enqueue(import_id)

    def get_batch(
        self,
        project_id: int,
        batch_id: int,
        *,
        page: int = 1,
        per_page: int = 100,
        warned: bool = False,
    ) -> shapes.BatchOut:
        """The batch, its lines per status, and one page of per-line outcomes (by line). With
        `warned`, the page is of the lines whose import has warnings (a shape clamped to the
        media, say) and no others: what a client that saw every line succeed reads to tell
        them; a page shorter than `per_page` is the last."""
        batch, counts = self.store.batch_state(batch_id, project_id)
        page, per_page = max(page, 1), min(max(per_page, 0), 1000)
        first = (page - 1) * per_page
        last = min(first + per_page, batch.file_count) - 1
        files: list[shapes.BatchLineOut] = []
        if warned:
            rows = self.store.warned_batch_imports(batch.id, per_page, first) if per_page else []
            files = [_line_outcome(r.batch_line or 0, r, duplicate=False) for r in rows]
        elif last >= first:
            own = {r.batch_line: r for r in self.store.batch_imports(batch.id, first, last)}
            dups = {
                int(line): import_id
                for line, import_id in (batch.duplicates or {}).items()
                if first <= int(line) <= last
            }
            firsts = self.store.get_imports(dups.values())
            for line in range(first, last + 1):
                if line in own:
                    files.append(_line_outcome(line, own[line], duplicate=False))
                elif line in dups and dups[line] in firsts:
                    files.append(_line_outcome(line, firsts[dups[line]], duplicate=True))
        done = sum(n for status, n in counts.items() if status in TERMINAL)
        return {
            **_public(batch, shapes.BatchRow),
            "counts": counts,
            "percent": round(100.0 * done / batch.file_count, 1) if batch.file_count else 100.0,
            "files": files,
            "files_total": batch.file_count,
        }

    def list_batches(
        self, project_id: int, *, page: int = 1, per_page: int = 50
    ) -> tuple[list[shapes.BatchOut], int]:
        page, per_page = max(page, 1), min(max(per_page, 1), 500)
        rows = self.store.list_batches(project_id, limit=per_page, offset=(page - 1) * per_page)
        shown = [self.get_batch(project_id, b.id, per_page=0) for b in rows]
        for b in shown:
            b["files"] = []  # one batch's lines are read from the batch
        return shown, self.store.count_batches(project_id)

    def wait_batch(self, project_id: int, batch_id: int, timeout: float = 600.0) -> shapes.BatchOut:
        """The batch once it has ended (or when `timeout` runs out), without its lines."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            ended = self.dispatcher.jobs_ended
            found = self.get_batch(project_id, batch_id, per_page=0)
            if found["status"] in BATCH_TERMINAL_STATUSES or time.monotonic() >= deadline:
                return found
            self.dispatcher.wait_for_jobs(ended, min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 1.5, 0.5)

    def find_imports(
        self, project_id: int, *, keys: Sequence[str] = (), stems: Sequence[str] = ()
    ) -> shapes.ImportsFound:
        """Many `find_import`s in one call: {"keys": {key: import}, "latest": {stem: import},
        "latest_success": {stem: import}}, each holding only what was found."""
        with self.store.reading():  # one read transaction, and both of one moment
            found = self.store.find_imports_by_keys(project_id, list(keys))
            newest, succeeded = self.store.find_latest_imports_by_key_stems(project_id, list(stems))
        latest = {s: public_import(r, problems_per_page=0) for s, r in newest.items()}
        latest_success = {s: public_import(r, problems_per_page=0) for s, r in succeeded.items()}
        return {
            "keys": {k: public_import(r, problems_per_page=0) for k, r in found.items()},
            "latest": latest,
            "latest_success": latest_success,
        }

    # -- instances and sequences -----------------------------------------------------------

    def list_instances(
        self,
        project_id: int,
        file_id: int,
        *,
        frame_start: int | None = None,
        frame_end: int | None = None,
        page: int = 1,
        per_page: int = 1000,
    ) -> tuple[list[shapes.InstanceOut], int]:
        self.store.get_file(file_id, project_id)
        page, per_page = max(page, 1), min(max(per_page, 1), 10_000)
        rows = self.store.list_instances(
            file_id,
            frame_min=frame_start,
            frame_max=frame_end,
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        total = self.store.count_instances(file_id, frame_min=frame_start, frame_max=frame_end)
        labels = self._label_names(project_id)
        numbers = {s.id: s.number for s in self.store.list_sequences(file_id)}
        return [public_instance(r, labels, numbers) for r in rows], total

    def list_sequences(
        self, project_id: int, file_id: int, *, label_id: int | None = None
    ) -> list[shapes.SequenceOut]:
        self.store.get_file(file_id, project_id)
        labels = self._label_names(project_id)
        return [
            {
                **_public(s, shapes.SequenceRow),
                "keyframes": s.keyframes or [],
                "label_name": labels.get(s.label_id),
            }
            for s in self.store.list_sequences(file_id, label_id)
        ]

    def _label_names(self, project_id: int) -> dict[int, str]:
        return {label.id: label.name for label in self.store.list_labels(project_id)}

    # -- evaluations (labelport.evaluate) ------------------------------------------------------

    def evaluate(
        self, project_id: int, run: str | int, *, reference: str | int = "human", **params: Any
    ) -> shapes.EvaluationOut:
        """Evaluate a model run against the people's instances (or another run) and store it:
        iou, score_min, iou_type, max_dets, scope as `labelport.evaluate.run.Params`."""
        from labelport.evaluate.run import evaluate

        return evaluate(self.store, project_id, run, reference, **params)

    def get_evaluation(self, project_id: int, evaluation_id: int) -> shapes.EvaluationOut:
        from labelport.evaluate.run import get_public

        return get_public(self.store, project_id, evaluation_id)


# -- shapes shown to callers ---------------------------------------------------------------

# A fixed palette, assigned by name so a label keeps its colour across projects and runs.
_PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
    "#469990", "#9a6324", "#800000", "#808000", "#000075", "#ffe119", "#dcbeff", "#aaffc3",
)  # fmt: skip


def colour_for(name: str) -> str:
    return _PALETTE[zlib.crc32(name.encode()) % len(_PALETTE)]


def _checked_colour(colour: str) -> str:
    try:
        return palette.normalise(colour)
    except ValueError as exc:
        raise Invalid(str(exc), code="label.colour_invalid") from None


def _label(record: Label, index: int) -> shapes.LabelOut:
    """A label as callers see it: its colour is never empty (`colour_is_default` says whether
    it is the palette's)."""
    return {
        **_public(record, shapes.LabelRow),
        "colour": palette.colour_of(record.colour, index),
        "colour_is_default": not palette.is_colour(record.colour),
    }


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _dict(record: Any) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in dataclasses.asdict(record).items()}


def _public(record: object, shape: type[_Shape]) -> _Shape:
    """The shape's keys (`record_keys`) copied from a store record of the same field names.
    The cast is what mypy cannot follow: keys taken from the shape itself; their values are
    the record's (test_response_shapes.py validates them against the shapes)."""
    return cast(_Shape, {k: _jsonable(getattr(record, k)) for k in record_keys(shape)})


def public_group(group: AttributeGroup) -> shapes.AttributeGroupOut:
    return {
        "id": group.id,
        "name": group.name,
        "kind": group.kind,
        "prompt": group.prompt,
        "min_value": group.min_value,
        "max_value": group.max_value,
        "is_root": group.is_root,
        "label_ids": list(group.label_ids),
        "options": [_public(o, shapes.OptionOut) for o in group.options],
    }


def public_file(record: File) -> shapes.FileOut:
    return _public(record, shapes.FileOut)


def public_import(
    record: Import, *, problems_page: int = 1, problems_per_page: int = 100
) -> shapes.ImportOut:
    shown = _public(record, shapes.ImportRow)
    if shown["idempotency_key"] is None:  # a rejected packet's key: shown, not reserved
        shown["idempotency_key"] = record.rejected_key
    problems = record.problems or []
    start = max(problems_page - 1, 0) * problems_per_page
    counts = dict(record.counts or {})
    # Stored with the counts; every problem's code counted, the list holds the first 1,000.
    by_code: dict[str, int] = counts.pop("problem_counts_by_code", None) or dict(
        Counter(p["code"] for p in problems)
    )
    # By code and message, with counts and example paths (format/problem_groups.py): a rejected
    # import's were grouped from its whole list when refused; others' from the stored list.
    stored_groups: list[shapes.ProblemGroupOut] | None = counts.pop("problem_groups", None)
    warnings = record.warnings or []
    out: shapes.ImportOut = {
        **shown,
        "counts": counts,
        "problem_count": record.problem_count or len(problems),
        "problem_counts_by_code": by_code,
        "problems": problems_out(problems[start : start + problems_per_page]),
        "problem_groups": (stored_groups or _grouped(problems, by_code))
        if problems_per_page > 0
        else [],
        "warning_count": counts.get("warning_count", len(warnings)),
        "warnings": problems_out(warnings[:problems_per_page]),
    }
    if problems_per_page == 0:  # imports listed or found: fetch the import for its groups
        del out["problem_groups"]
    return out


def _grouped(problems: list[Any], by_code: dict[str, int] | None) -> list[shapes.ProblemGroupOut]:
    """The problems grouped by code and message, the 50 largest groups."""
    return [
        g.to_dict()
        for g in problem_groups.capped(problem_groups.group_problems(problems, by_code), 50)
    ]


def _line_outcome(line: int, row: Import, *, duplicate: bool) -> shapes.BatchLineOut:
    """What became of one line of a batch (for a duplicate: of the import it repeated)."""
    problems = row.problems or []
    counts = row.counts or {}
    return {
        "line": line,
        "import_id": row.id,
        "duplicate": duplicate,
        "status": row.status,
        "file_id": row.file_id,
        "media_type": row.media_type,
        "idempotency_key": row.idempotency_key or row.rejected_key,
        "media_name": row.media_name,
        "media_url": row.media_url,
        "counts": counts,
        "problem_count": row.problem_count or len(problems),
        "problems": problems_out(problems[:20]),
        "warning_count": counts.get("warning_count", len(row.warnings or [])),
        "warnings": problems_out((row.warnings or [])[:20]),
        "error": row.error,
    }


class _MediaOnly(msgspec.Struct):
    url: Any = None
    type: Any = None


class _KeyOnly(msgspec.Struct):
    idempotency_key: str | None = None
    media: _MediaOnly | None = None
    original_filename: Any = None


_key_of_line = msgspec.json.Decoder(_KeyOnly).decode


def _storable(what: str, value: str, limit: int | None = TEXT_MAX) -> None:
    """Refuse, as Invalid, a name no database can store: one with a NUL or a lone surrogate,
    or longer than its column (PostgreSQL answered both with an internal DataError)."""
    if not is_text(value):
        raise Invalid(f"{what} cannot hold a NUL character or a lone UTF-16 surrogate")
    if limit is not None and len(value) > limit:
        raise Invalid(f"{what} is at most {limit} characters, not {len(value)}")


def batch_lines(path: Path) -> list[BatchLine]:
    """The lines of an NDJSON file: where each is, and its idempotency key when it has a usable
    one (the line's own checks say what is wrong with the others). Blank lines are skipped."""
    if path.stat().st_size == 0:
        return []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _lines_in(data)


def _lines_in(data: bytes | mmap.mmap) -> list[BatchLine]:
    """`batch_lines` of a body in memory (or mapped)."""
    lines: list[BatchLine] = []
    size = len(data)
    # A byte order mark (Notepad, PowerShell) is not part of the first line: its key and
    # media are read, and its packet decoded, from after it.
    start = len(BOM) if data[: len(BOM)] == BOM else 0
    # Pages of a mapped body already looked at are handed back as it goes: a scan of 700 MB
    # of video packets otherwise left all of it resident (as the process's RSS) at once.
    kept = 0
    while start < size:
        end = data.find(b"\n", start)
        if end < 0:
            end = size
        line = _batch_line(data[start:end], start)
        if line is not None:
            lines.append(line)
        start = end + 1
        if isinstance(data, mmap.mmap) and start - kept >= _SCANNED_PAGES:
            done = min(start, size) // mmap.PAGESIZE * mmap.PAGESIZE
            data.madvise(mmap.MADV_DONTNEED, kept, done - kept)
            kept = done
    return lines


_SCANNED_PAGES = 8 << 20


def _batch_line(chunk: bytes, start: int) -> BatchLine | None:
    """The line `chunk` of a body, found at `start`; None when it is blank."""
    stripped = chunk.strip()
    if not stripped:
        return None
    lead = len(chunk) - len(chunk.lstrip())
    try:
        head = _key_of_line(stripped)
    except (msgspec.DecodeError, msgspec.ValidationError):
        head = None
    key = head.idempotency_key if head is not None else None
    if key is not None and not _storable_key(key):
        key = None
    name, url = _media_named(head, None, None) if head is not None else (None, None)
    return BatchLine(start + lead, len(stripped), key, name, url)


def _storable_key(key: str) -> bool:
    """A line's key the import table can hold (its own checks say what is wrong with another:
    too long, a lone surrogate, a NUL, which PostgreSQL refused for the whole batch)."""
    return len(key) <= 255 and is_text(key)


class _Envelope(msgspec.Struct):
    """What a packet that cannot be decoded may still say about itself, for its record."""

    idempotency_key: Any = None
    media: _MediaOnly | None = None
    original_filename: Any = None
    file_id: Any = None
    mode: Any = None

    @property
    def media_type(self) -> str | None:
        return self.media.type if self.media is not None else None


# A packet that did not decode is read again for its record's name and key only when small: a
# huge broken packet is not parsed twice (its record then names nothing).
_ENVELOPE_MAX_BYTES = 4 << 20


def _envelope_of(data: bytes | mmap.mmap) -> _Envelope | None:
    if len(data) > _ENVELOPE_MAX_BYTES:
        return None
    try:
        return msgspec.json.decode(data, type=_Envelope)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _media_named(
    parsed: Any, upload: tuple[str, BinaryIO] | None, existing_file: dict[str, Any] | None
) -> tuple[str | None, str | None]:
    """(name, URL) of a packet's media, as far as the packet (or the file it updates) says."""
    media = getattr(parsed, "media", None)
    url = _text_or_none(getattr(media, "url", None)) if media is not None else None
    name = _text_or_none(getattr(parsed, "original_filename", None))
    if upload is not None:
        name = name or _text_or_none(upload[0])
    if existing_file is not None:
        name = name or existing_file.get("original_filename")
        url = url or existing_file.get("source_url")
    if name is None and url is not None:
        name = url_file_name(url)
    return name, url


def url_file_name(url: str) -> str | None:
    """The last segment of a URL's path, unquoted ("a%20b.jpg" -> "a b.jpg"), or None."""
    from urllib.parse import unquote, urlsplit

    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    last = unquote(path.rstrip("/").rpartition("/")[2])
    return last or None


def _spooled(stream: BinaryIO, path: Path) -> Path:
    """The batch as an NDJSON file on local disk (a caller's regular file is used in place)."""
    if stream.seekable():
        stream.seek(0)  # read from its start, as submit_packet does
    name = getattr(stream, "name", None)
    if isinstance(name, str) and Path(name).is_file():
        return Path(name)
    with open(path, "wb") as out:
        while chunk := stream.read(1 << 20):
            out.write(chunk)
    return path


_NO_PACKET = object()


class _NdjsonBody:
    """Packets (dicts, or JSON bytes each) read as an NDJSON stream, one line a packet, each
    line's place noted as it is read (`lines`, as `batch_lines` would find them)."""

    def __init__(self, packets: Iterable[bytes | dict[str, Any]]) -> None:
        self._packets = iter(packets)
        self._pending = bytearray()
        self._size = 0  # of the body so far
        self.lines: list[BatchLine] = []

    def read(self, size: int = -1) -> bytes:
        pending = self._pending
        while size < 0 or len(pending) < size:
            packet = next(self._packets, _NO_PACKET)
            if packet is _NO_PACKET:
                break
            data = packet if isinstance(packet, bytes) else msgspec.json.encode(packet)
            if b"\n" in data:
                data = data.replace(b"\n", b" ")
            line = _batch_line(data, self._size)
            if line is not None:
                self.lines.append(line)
            pending += data
            pending += b"\n"
            self._size += len(data) + 1
        if 0 <= size < len(pending):
            chunk = bytes(pending[:size])
            del pending[:size]
            return chunk
        chunk = bytes(pending)
        pending.clear()
        return chunk


def public_instance(
    record: Instance, label_names: dict[int, str], numbers: dict[int, int]
) -> shapes.InstanceOut:
    shown: shapes.InstanceOut = {
        **_public(record, shapes.InstanceRow),
        "label_name": None if record.label_id is None else label_names.get(record.label_id),
        "number": None if record.sequence_id is None else numbers.get(record.sequence_id),
        "attribute_groups": record.attributes or {},
    }
    # The type's geometry keys, which InstanceOut takes undeclared (hence the cast), go before
    # attribute_groups, as the answer always listed them.
    geometry: dict[str, Any] = {}
    if record.type == "box":
        geometry.update(
            x_min=record.x_min, y_min=record.y_min, x_max=record.x_max, y_max=record.y_max
        )
    if record.geometry:
        geometry.update(record.geometry)
    if not geometry:
        return shown
    out = {k: v for k, v in shown.items() if k != "attribute_groups"}
    return cast(
        shapes.InstanceOut, {**out, **geometry, "attribute_groups": shown["attribute_groups"]}
    )
