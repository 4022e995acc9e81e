"""`labelport import`: read a source with its converter and send one packet per media file,
many packets at a time as batches (one look-up, one request and one job per window of files).

- `reject` (default): a first pass converts everything and checks what can be checked without
  storing (the source's own problems, missing media, unknown labels); any problem stops the
  import before anything is stored. Checks that need the media still fail file by file.
- `skip_files`: files with a problem are skipped, the rest imported.
- `skip_instances`: bad instances are left out, the rest of each file imported.

Idempotent: each packet's key is the source's name for the file plus a digest of what is sent,
so running the same command again sends nothing new. When the digest differs from that of the
newest successful import of the same name (annotations fixed in the source since), the packet
updates the file that import wrote to (`update_with_existing`, no media sent) instead of
creating a second file of the same media.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from labelport.convert import FORMATS, detect_format, module
from labelport.convert.model import (
    ATTRIBUTES,
    MACHINE_MADE,
    AttributeSpec,
    Conversion,
    Item,
    find_media,
    mark_origin,
)
from labelport.convert.targets import NoBatches, Refused, Target, file_url
from labelport.format import Problem

if TYPE_CHECKING:
    from labelport.convert.read_ahead import Read, ReadAhead

ON_ERROR = ("reject", "skip_instances", "skip_files")
PROBLEMS_KEPT = 1000
# A `reject` import reads its source once to check it; a source of at most this many instances
# (and items) is kept from that read and sent from memory, a larger one is read again.
KEEP_INSTANCES = 100_000
BATCH_TERMINAL = frozenset({"success", "partial", "failed"})
BATCH_PAGE = 500
MEDIA_MODES = ("copy", "reference")
_encode = msgspec.json.Encoder(order="deterministic").encode


@dataclass
class ImportOptions:
    format: str = "auto"
    media_dir: Path | None = None
    media_url: str | None = None  # prefix: the media of item `a/b.jpg` is PREFIX + "a/b.jpg"
    create_labels: bool = False
    dry_run: bool = False
    on_error: str = "reject"
    media_mode: str = "copy"  # copy | reference: the target keeps a copy of the media, or its URL
    window: int = 32  # imports sent one by one in flight before waiting for the oldest
    batch_size: int = 500  # items per batch (one look-up and one request each)
    batch_bytes: int = 64 << 20  # ... or fewer, once their packets add up to this
    # Lines sent and not yet ended, at most (the next batch waits for the oldest ones to end).
    # In lines, not batches: the first batches are small, and two of them in flight left the
    # workers idle between them while the third waited.
    lines_in_flight: int = 1000
    wait_timeout: float = 600.0  # an import, or a batch that stopped moving
    # --machine-made / --human: every instance's `machine_made`; None: what each reader says
    machine_made: bool | None = None


@dataclass
class Outcome:
    format: str = ""
    files_ok: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    files_unchanged: int = 0
    files_updated: int = 0  # files imported before whose instances were replaced
    instances: int = 0
    # left out of files that were imported (--on-error skip_instances); their problems are in
    # `problems`, placed under the file's source
    instances_skipped: int = 0
    instances_per_label: Counter[str] = field(default_factory=Counter)
    losses: Counter[str] = field(default_factory=Counter)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    # what the imports stored with a change the caller should know of (a box clamped to its
    # media, ...): the files were imported; placed as problems are
    warnings: list[Problem] = field(default_factory=list)
    warning_count: int = 0
    stopped: bool = False  # reject: problems found before anything was stored

    @property
    def failed(self) -> bool:
        return (
            self.stopped
            or self.files_failed > 0
            or self.problem_count > 0
            or self.instances_skipped > 0
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "files_ok": self.files_ok,
            "files_unchanged": self.files_unchanged,
            "files_updated": self.files_updated,
            "files_failed": self.files_failed,
            "files_skipped": self.files_skipped,
            "instances": self.instances,
            "instances_skipped": self.instances_skipped,
            "instances_per_label": dict(self.instances_per_label),
            "losses": dict(self.losses),
            "source_files_skipped": [{"path": p, "why": w} for p, w in self.skipped_files],
            "problem_count": self.problem_count,
            "problems": [msgspec.structs.asdict(p) for p in self.problems],
            "warning_count": self.warning_count,
            "warnings": [msgspec.structs.asdict(p) for p in self.warnings],
            "stopped": self.stopped,
        }

    def problem(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(problem)

    def warned(self, item: Item, imported: dict[str, Any]) -> None:
        """The warnings of `item`'s import (an import, or a batch line's outcome: each says
        `warning_count` and lists the first `warnings`), placed in the source."""
        warnings = imported.get("warnings") or []
        self.warning_count += max(int(imported.get("warning_count") or 0), len(warnings))
        for warning in warnings[: max(PROBLEMS_KEPT - len(self.warnings), 0)]:
            self.warnings.append(_placed(item, Problem(**warning)))


class Progress:
    """What the CLI's progress bar is told; the default does nothing."""

    def total(self, files: int) -> None: ...

    def advance(self, files: int, instances: int) -> None: ...


def convert(path: Path, fmt: str, conv: Conversion) -> Iterator[Item]:
    """The items of a source, with the format detected when `fmt` is "auto"."""
    if fmt == "auto":
        found = detect_format(path)
        if found is None:
            conv.problem(
                "convert.format_unknown",
                str(path),
                f"cannot tell the format; pass --format ({', '.join(FORMATS)})",
            )
            return iter(())
        fmt = found
    return module(fmt).read(path, conv)


def run(
    path: Path,
    target: Target,
    options: ImportOptions,
    progress: Progress | None = None,
    ahead: ReadAhead | None = None,
) -> Outcome:
    """Import the source at `path` into `target`. `ahead`: the source being read by another
    process meanwhile (`read_ahead.start`); its records are used when it read them all."""
    progress = progress or Progress()
    outcome = Outcome(format=options.format)
    if options.format == "auto":
        outcome.format = detect_format(path) or "auto"
    told = 0  # the total the progress bar was given: every item, once known
    conv: Conversion | None = None
    kept: Iterator[Record] | None = None
    if options.on_error == "reject" and not options.dry_run:
        read = ahead.result() if ahead is not None else None
        if read is not None and _nothing_to_check(read, target, options):
            conv, told, kept = read.conv, read.count, read.records
            outcome.losses = conv.losses
            outcome.skipped_files = conv.skipped_files
        else:
            if read is None:
                conv = Conversion(media_dir=options.media_dir)
                records: Iterator[Record] = read_records(path, options, conv, outcome.format)
            else:
                conv, records = read.conv, read.records
            stop, told, held = _precheck(records, conv, target, options, outcome)
            if stop:
                outcome.stopped = True
                return outcome
            if held is None:
                conv = None  # a large source: read again, and its losses counted again
                outcome.losses.clear()
            else:
                kept = iter(held)
        progress.total(told)
    if conv is None:
        conv = Conversion(media_dir=options.media_dir)
    problems_before = len(conv.problems)
    items: Iterator[Record]
    if kept is not None:
        items = kept
    else:
        items = (Unprepared(item, None, None) for item in convert(path, outcome.format, conv))
    del kept
    importer = _Importer(target, options, outcome, conv, progress, _MediaArea(path, options, conv))
    for seen, record in enumerate(items, start=1):
        # Readers add each source file's items to total_files as they open it: the total grows
        # with a folder of several files, and never falls behind what was read.
        if max(conv.total_files or 0, seen) > told:
            told = max(conv.total_files or 0, seen)
            progress.total(told)
        if isinstance(record, Prepared):
            importer.enqueue(record)
        else:
            importer.send(record.item, record.media_path)
    importer.drain()
    for problem in conv.problems[problems_before:]:
        outcome.problem(problem)
    outcome.losses = conv.losses
    outcome.skipped_files = conv.skipped_files
    return outcome


def read_records(
    path: Path, options: ImportOptions, conv: Conversion, fmt: str
) -> Iterator[Record]:
    """The source's items as the importer takes them, made without the target: each one that
    can be sent as it is (no problem, its media found, no attributes to look up) `Prepared`,
    each other one with its media file, if found. A read-ahead process runs this too."""
    area = _MediaArea(path, options, conv)
    for item in convert(path, fmt, conv):
        media_path: Path | None = None
        refused: Problem | None = None
        if options.media_url is None:
            media_path, refused = _media(item, options, area)
        prepared = None
        if not item.problems and refused is None:
            media = _media_field(item, options, media_path)
            if media is not None:
                prepared = prepare(item, media, media_path, options, None)
        yield prepared if prepared is not None else Unprepared(item, media_path, refused)


def _nothing_to_check(read: Read, target: Target, options: ImportOptions) -> bool:
    """Whether what a read-ahead found leaves `_precheck` nothing to find: no problem while
    reading, every item prepared (its media found, nothing to look up), and every label known
    or to be created. Then its records are sent as they are taken, without a first pass."""
    if read.conv.problems or not read.all_prepared:
        return False
    return options.create_labels or read.label_names <= set(target.labels())


def _precheck(
    records: Iterator[Record],
    conv: Conversion,
    target: Target,
    options: ImportOptions,
    outcome: Outcome,
) -> tuple[bool, int, list[Record] | None]:
    """Whether the source has problems that stop a `reject` import, how many items it has,
    and, when they are few (`KEEP_INSTANCES`), their records, so that the import sends them
    without reading the source a second time."""
    known = set(target.labels())
    items = 0
    kept: list[Record] | None = []
    instances = 0
    for record in records:
        items += 1
        if isinstance(record, Prepared):
            item, labels, count = record.item, record.labels, record.count
        else:
            item = record.item
            labels = _label_names(item)
            count = len(labels)
            for problem in item.problems:
                outcome.problem(problem)
            if _media_field(item, options, record.media_path) is None:
                outcome.problem(record.refused or _missing(item))
        if kept is not None:
            instances += count
            kept.append(record)
            if instances > KEEP_INSTANCES or items > KEEP_INSTANCES:
                kept = None  # a large source: read again rather than held
        if not options.create_labels:
            for index, name in enumerate(labels):
                if name is not None and name not in known:
                    outcome.problem(
                        Problem(
                            "label.unknown",
                            _instance_place(item, index),
                            f"label {name!r} is not in the project (use --create-labels)",
                        )
                    )
    for problem in conv.problems:
        outcome.problem(problem)
    outcome.losses = conv.losses
    outcome.skipped_files = conv.skipped_files
    return outcome.problem_count > 0, items, kept


def media_roots(source: Path, media_dir: Path | None) -> list[Path]:
    """The folders an import reads media from: --media, and where the converters look for media
    beside the annotations (the source's folder and the one above it)."""
    folder = (source if source.is_dir() else source.parent).resolve()
    roots = [media_dir.resolve()] if media_dir is not None else []
    return [*roots, folder, folder.parent]


class _MediaArea:
    """Where an import may read media: `media_roots`, and the folders the reader wrote media
    into itself (LabelMe's embedded images). A file name in a source is data from elsewhere:
    `../../../home/me/.ssh/id_rsa` or `/etc/passwd` must not make the import read, store and
    show a file the user never pointed it at. Checked on the path as written (symlinks are the
    user's own: an embedded import's workers check real paths against the same roots)."""

    def __init__(self, source: Path, options: ImportOptions, conv: Conversion) -> None:
        roots = media_roots(source, options.media_dir)
        given = [options.media_dir] if options.media_dir is not None else []
        folder = source if source.is_dir() else source.parent
        written = [*given, folder, folder.parent]  # as named, when a folder is a symlink
        self.prefixes = tuple({_prefix(r) for r in [*roots, *written]})
        self.conv = conv

    def admits(self, path: Path) -> bool:
        text = os.path.abspath(path)
        made = tuple(_prefix(folder) for folder in self.conv.made_media)
        return text.startswith(self.prefixes) or text.startswith(made)


def _prefix(folder: Path) -> str:
    return os.path.abspath(folder).rstrip("/") + "/"


def _media(
    item: Item, options: ImportOptions, area: _MediaArea
) -> tuple[Path | None, Problem | None]:
    """The item's media file, or None; and the problem, when the file it names lies outside
    the folders the import reads media from."""
    found = item.media_path
    if options.media_dir is not None:
        if found is not None and _found_as(found, item.name, options.media_dir):
            return found, None  # the common case: a base name in the media folder
        found = find_media(item.name, options.media_dir) or found
    if found is None or area.admits(found):
        return found, None
    return None, Problem(
        "convert.media_outside",
        item.source,
        f"media file {item.name!r} is {os.path.normpath(found)!r}, outside the media folder "
        "(--media) and the annotations' folder and the one above it: not read (give its folder "
        "with --media)",
    )


def _found_as(path: Path, name: str, folder: Path) -> bool:
    """Whether `path` is `folder / name` for a base `name`. Then `find_media(name, folder)` has
    no other place to look: it answers `path` or None, and `_media` answers `path` either way.
    Readers look in the media folder first, so this spares most files a second look-up."""
    return os.path.basename(name) == name and os.fspath(path) == os.path.join(folder, name)


def _missing(item: Item) -> Problem:
    return Problem(
        "convert.media_missing",
        item.source,
        f"media file {item.name!r} not found (give its folder with --media, or --media-url)",
    )


FIRST_BATCH = 64  # items in the first batch (see _Importer.next_batch)


@dataclass
class Prepared:
    """An item converted into its packet, waiting for its window's look-up. Made without the
    target (`prepare`), so that a read-ahead process makes them too, and what follows needs of
    the item only its names and places: a read-ahead sends it `stripped`, without the instance
    dicts, which cost more to pass between processes than to convert again."""

    item: Item
    count: int
    labels: list[Any]  # each instance's label name (or None), in `all_instances()` order
    head: bytes  # the packet's instances as encoded (see _encoded)
    fields: dict[str, Any]  # the packet's other keys: media and original_filename
    media_path: Path | None
    digest: str
    stem: str
    key: str
    latest: dict[str, Any] | None = None  # the newest successful import of the same stem
    tries: int = 0  # look-ups of retried keys left (`KEY~id`)

    def stripped(self) -> Prepared:
        return dataclasses.replace(
            self, item=dataclasses.replace(self.item, instances=None, frames=None)
        )


class Unprepared(NamedTuple):
    """An item the importer decides on itself (a problem, media not found, attributes to look
    up in the project): with its media file, if found, or why a file found was refused."""

    item: Item
    media_path: Path | None
    refused: Problem | None


Record = Prepared | Unprepared


def prepare(
    item: Item,
    media: dict[str, Any],
    media_path: Path | None,
    options: ImportOptions,
    attributes: _Attributes | None,
) -> Prepared | None:
    """`item`'s packet, encoded, and its key; None when an instance has attributes and no
    `attributes` was given to resolve them with."""
    if item.frames is not None:
        frames = {
            str(frame): _instances(instances, item, options, attributes)
            for frame, instances in item.frames.items()
        }
        if any(instances is None for instances in frames.values()):
            return None
        body: tuple[str, Any] = ("frame_packet_map", frames)
    else:
        instances = _instances(item.instances or [], item, options, attributes)
        if instances is None:
            return None
        body = ("instance_list", instances)
    fields = {"media": media, "original_filename": _stored_name(item.name)}
    head, tail = _encoded({body[0]: body[1], **fields})
    # The version covers only what is stored: a run with other flags (--create-labels,
    # --on-error) that would store the same is the same version, so it says unchanged.
    digest = _digest(head + tail, media_path)
    stem = f"labelport-import:{item.key or item.name}"
    labels = _label_names(item)
    return Prepared(
        item, len(labels), labels, head, fields, media_path, digest, stem, f"{stem}#{digest}"
    )


def _label_names(item: Item) -> list[Any]:
    """Each instance's label name (None where it has none), in `all_instances()` order."""
    return [inst.get("name") for inst in item.all_instances()]


def _instances(
    instances: list[dict[str, Any]],
    item: Item,
    options: ImportOptions,
    attributes: _Attributes | None,
) -> list[dict[str, Any]] | None:
    """The instances as sent: attribute names resolved to the project's groups, and each
    one's origin set (`mark_origin`), both in place and only where there is something to
    do (a plain box of most sources has neither attributes nor an origin to change)."""
    override = options.machine_made
    for inst in instances:
        if ATTRIBUTES in inst:
            if attributes is None:
                return None
            attributes.resolve(inst, item)
        if override is not None or MACHINE_MADE not in inst:
            mark_origin(inst, override)
    return list(instances)


def _media_field(
    item: Item, options: ImportOptions, media_path: Path | None
) -> dict[str, Any] | None:
    """The packet's `media`: its type, and its URL unless it is read from `media_path`; None
    when there is neither."""
    media: dict[str, Any] = {"type": item.media_type}
    if options.media_url is not None:
        media["url"] = options.media_url + item.name
    elif media_path is None:
        if item.media_url is None:
            return None
        media["url"] = item.media_url
    return media


def _packet_of(head: bytes, fields: dict[str, Any]) -> dict[str, Any]:
    """A packet, to send alone, from its encoded instances and its other keys."""
    packet: dict[str, Any] = msgspec.json.decode(head + b"}")
    return packet | fields


@dataclass
class _Sent:
    item: Item
    count: int
    how: str  # "ok" or "updated" once it succeeds
    labels: list[Any] | None = None  # each instance's label name, when known (`Prepared`)


@dataclass
class _Line:
    """A packet going in a batch: its NDJSON line, and what it takes to send it alone, should
    the target not take batches."""

    sent: _Sent
    encoded: bytes
    head: bytes
    fields: dict[str, Any]
    media_path: Path | None


@dataclass
class _Batch:
    id: int
    sent: list[_Sent]
    files_shown: int = 0  # what the progress bar was told while the batch ran
    instances_shown: int = 0


class _Importer:
    """Gathers items in windows: one look-up decides every item of a window (unchanged, changed,
    new, retried, still running), and the window's packets go as one batch. At most
    `lines_in_flight` lines run while the next window is converted. Packets a batch cannot
    carry (dry runs, local media the target cannot read by path) go one by one, as before."""

    def __init__(
        self,
        target: Target,
        options: ImportOptions,
        outcome: Outcome,
        conv: Conversion,
        progress: Progress,
        media_area: _MediaArea,
    ) -> None:
        self.target = target
        self.options = options
        self.outcome = outcome
        self.conv = conv
        self.progress = progress
        self.media_area = media_area
        self.window: list[Prepared] = []
        self.window_bytes = 0
        self.batches: deque[_Batch] = deque()
        self.no_batches = False
        # imports sent one by one, or sent before and still running: (sent, import)
        self.pending: deque[tuple[_Sent, dict[str, Any]]] = deque()
        self.attributes = _Attributes(target, conv, create=options.create_labels)
        self.flags = self._flags(options)
        self.started = time.time()
        # The first batches are small, so that the target's workers start while the importer
        # is still converting; they double up to batch_size.
        self.next_batch = min(FIRST_BATCH, options.batch_size)

    def send(self, item: Item, found: Path | None = None) -> None:
        """Send `item` (in a window); `found`: its media file when the caller found it already
        (`_media`), else None to look it up here."""
        out, options = self.outcome, self.options
        count = item.instance_count()
        if item.problems and options.on_error != "skip_instances":
            for problem in item.problems:
                out.problem(problem)
            self._done(item, "skipped" if options.on_error == "skip_files" else "failed", count)
            return
        # skip_instances: the reader left out each instance it reported a problem for
        for problem in item.problems:
            out.problem(problem)
        out.instances_skipped += len(item.problems)
        media_path: Path | None = None
        refused: Problem | None = None  # a file found outside the media folders: not read
        if options.media_url is None:
            media_path = found
            if found is None:
                media_path, refused = _media(item, options, self.media_area)
        media = _media_field(item, options, media_path)
        if media is None:  # no file, and no URL of its own either
            out.problem(refused or _missing(item))
            skipped = options.on_error != "reject"
            self._done(item, "skipped" if skipped else "failed", count)
            return
        prepared = prepare(item, media, media_path, options, self.attributes)
        assert prepared is not None  # attributes are resolved here
        self.enqueue(prepared)

    def enqueue(self, prepared: Prepared) -> None:
        """Add an item ready to send to the window; send the window once it is full."""
        self.window.append(prepared)
        self.window_bytes += len(prepared.head)
        options = self.options
        if len(self.window) >= self.next_batch or self.window_bytes >= options.batch_bytes:
            self.next_batch = min(self.next_batch * 2, options.batch_size)
            self._flush()

    def _flush(self) -> None:
        """Decide every item of the window with one look-up, then send what is to be sent."""
        window, self.window, self.window_bytes = self.window, [], 0
        if not window:
            return
        found = self.target.find_many([p.key for p in window], list({p.stem: 0 for p in window}))
        undecided: list[Prepared] = []
        for p in window:
            newest = found["latest"].get(p.stem)
            latest = newest
            if newest is not None and newest["status"] != "success":
                latest = found["latest_success"].get(p.stem)
            if latest is not None and _version(latest, p.stem) == p.digest:
                self._done(p.item, "unchanged", p.count)
                continue
            p.latest, p.tries = latest, 20 if newest is not None else 0
            undecided.append(p)
        keys = found["keys"]
        ready: list[Prepared] = []
        while undecided:
            again: list[Prepared] = []
            for p in undecided:
                first = keys.get(p.key) if p.tries else None
                if first is None:
                    ready.append(p)
                    continue
                p.tries -= 1
                if first["status"] == "success":
                    if p.latest is None or first["id"] >= p.latest["id"]:  # finished meanwhile
                        self._done(p.item, "unchanged", p.count)
                        continue
                    # The source went back to an earlier version, whose key is taken: the file
                    # holds a later one, so send this again under a new key.
                elif first["status"] != "failed":  # queued by an earlier run and still running
                    how = "updated" if first.get("mode") == "update_with_existing" else "ok"
                    self._wait_for(_Sent(p.item, p.count, how), first)
                    continue
                p.key = f"{p.key}~{first['id']}"
                again.append(p)
            undecided = again
            asked = [p.key for p in undecided if p.tries]
            keys = self.target.find_many(asked, [])["keys"] if asked else {}
        batch: list[_Line] = []
        alone = self.no_batches or self.options.dry_run
        for p in ready:
            media_path, how = p.media_path, "ok"
            fields = dict(p.fields)
            file_id = self._earlier_file(p.latest, p.fields["media"], media_path)
            if file_id is not None:
                # The digest stays that of the full packet, so that a run with the same source
                # finds this import whichever way it was sent.
                fields = {"file_id": file_id, "mode": "update_with_existing"}
                media_path, how = None, "updated"
            fields.update(self.flags)
            fields["idempotency_key"] = p.key
            sent = _Sent(p.item, p.count, how, p.labels)
            url = None if alone or media_path is None else self.target.batch_url(media_path)
            if alone or (media_path is not None and url is None):
                self._submit_one(sent, _packet_of(p.head, fields), media_path)
                continue
            alone_fields = dict(fields)  # should the target not take the batch
            if url is not None:
                fields["media"] = {**p.fields["media"], "url": url}  # the target reads it there
            # The instances are not encoded again: the line is their encoding and the rest.
            encoded = p.head + b"," + _encode(fields)[1:]
            batch.append(_Line(sent, encoded, p.head, alone_fields, media_path))
        if batch:
            self._submit_batch(batch)

    def _submit_batch(self, lines: list[_Line]) -> None:
        limit = self.options.lines_in_flight
        while self.batches and sum(len(b.sent) for b in self.batches) + len(lines) > limit:
            self._finish_batch(self.batches.popleft())
        # skip_files never reaches the target: those files were not sent
        on_error = "skip_instances" if self.options.on_error == "skip_instances" else "reject"
        try:
            created = self.target.submit_batch(
                [line.encoded for line in lines],
                [line.sent.item.losses for line in lines],
                on_error=on_error,
                media=self.options.media_mode,
            )
        except NoBatches:
            self.no_batches = True
            for line in lines:
                self._submit_one(line.sent, _packet_of(line.head, line.fields), line.media_path)
            return
        self.batches.append(_Batch(created["id"], [line.sent for line in lines]))

    def _finish_batch(self, batch: _Batch) -> None:
        """Wait for a batch, telling the progress bar as its files finish, then take every
        file's outcome from its pages."""
        timeout = self.options.wait_timeout
        deadline = time.monotonic() + timeout
        delay = 0.005
        finished = -1
        data = self.target.get_batch(batch.id, page=1, per_page=0)
        while True:
            counts = data.get("counts") or {}
            # a duplicate line is counted under the status of the import it repeats
            now = sum(int(counts.get(s) or 0) for s in ("success", "failed", "rejected"))
            self._show(batch, now, int(data.get("instances") or 0))
            if data.get("status") in BATCH_TERMINAL:
                break
            if now > finished:  # the timeout is for a batch that stopped moving
                finished, deadline = now, time.monotonic() + timeout
            if time.monotonic() > deadline:
                break
            data = self.target.wait_batch(batch.id, delay)
            delay = min(delay * 1.5, 0.25)
        if self._all_landed(batch, data):
            # A target that counts its warned lines says when there are none to read
            if (data.get("counts") or {}).get("warned", 1):
                self._warnings_of(batch)
            return
        seen: set[int] = set()
        files, instances = 0, 0
        page = 1
        while True:
            data = self.target.get_batch(batch.id, page=page, per_page=BATCH_PAGE)
            rows = data.get("files") or []
            for row in rows:
                line = int(row["line"])
                if line in seen or not 0 <= line < len(batch.sent):
                    continue
                seen.add(line)
                ended, got = self._file_outcome(batch.sent[line], row)
                files, instances = files + ended, instances + got
            if not rows or len(seen) >= len(batch.sent):
                break
            page += 1
        for line, sent in enumerate(batch.sent):
            if line not in seen:  # the batch failed before it recorded this file
                reason = data.get("error") or f"batch {batch.id} has no outcome for this file"
                self.outcome.problem(Problem("convert.invalid", sent.item.source, reason))
                self._done(sent.item, "failed", sent.count, advance=False)
                files += 1
        self.progress.advance(
            max(files - batch.files_shown, 0), max(instances - batch.instances_shown, 0)
        )

    def _warnings_of(self, batch: _Batch) -> None:
        """The warnings of a batch whose every file landed: only the lines that have any are
        read (most have none), page by page."""
        page = 1
        while True:
            data = self.target.get_batch(batch.id, page=page, per_page=BATCH_PAGE, warned=True)
            rows = data.get("files") or []
            for row in rows:
                line = int(row["line"])
                if 0 <= line < len(batch.sent) and row.get("status") == "success":
                    self.outcome.warned(batch.sent[line].item, row)
            if len(rows) < BATCH_PAGE:
                return
            page += 1

    def _all_landed(self, batch: _Batch, data: dict[str, Any]) -> bool:
        """Count a batch whose every line succeeded without reading its pages: a file imports
        all or nothing (unless skip_instances), so each one's outcome is what was sent. Reading
        2,000 files' outcomes back cost ~10% of an import of small images."""
        counts = data.get("counts") or {}
        every = sum(int(n or 0) for key, n in counts.items() if key != "warned")
        if (
            self.options.on_error == "skip_instances"
            or data.get("status") != "success"
            or int(counts.get("success") or 0) != len(batch.sent)
            or every != len(batch.sent)
        ):
            return False
        for sent in batch.sent:
            self._done(sent.item, sent.how, sent.count, advance=False, labels=sent.labels)
        self.progress.advance(
            max(len(batch.sent) - batch.files_shown, 0),
            max(sum(s.count for s in batch.sent) - batch.instances_shown, 0),
        )
        return True

    def _show(self, batch: _Batch, files: int, instances: int) -> None:
        files = min(files, len(batch.sent))
        if files > batch.files_shown or instances > batch.instances_shown:
            self.progress.advance(
                max(files - batch.files_shown, 0), max(instances - batch.instances_shown, 0)
            )
            batch.files_shown = max(files, batch.files_shown)
            batch.instances_shown = max(instances, batch.instances_shown)

    def _file_outcome(self, sent: _Sent, row: dict[str, Any]) -> tuple[int, int]:
        """Count one file of a batch; (files, instances) it ended, for the progress bar."""
        status = row.get("status")
        if status == "success":
            counts = row.get("counts") or {}
            self.outcome.instances_per_label.update(counts.get("instances_per_label") or {})
            if counts.get("instances_skipped"):
                problems = row.get("problems") or []
                if int(row.get("problem_count") or 0) > len(problems) and row.get("import_id"):
                    problems = self.target.get(row["import_id"]).get("problems") or problems
                self._skipped(sent.item, counts, problems)
            instances = counts.get("instances", sent.count)
            self.outcome.warned(sent.item, row)
            self._done(sent.item, sent.how, instances, counted=True, advance=False)
            return 1, instances
        if status in ("failed", "rejected"):  # rejected: refused before any fetch
            problems = row.get("problems") or []
            if int(row.get("problem_count") or 0) > len(problems) and row.get("import_id"):
                problems = self.target.get(row["import_id"]).get("problems") or problems
            self._failed(sent, problems, row.get("error"))
            return 1, 0
        if row.get("import_id") is None:
            self._failed(sent, [], row.get("error"))
            return 1, 0
        # Still running: a duplicate of an import sent before, or a batch that stopped moving.
        self._wait_for(sent, {"id": row["import_id"], "status": status})
        return 0, 0

    def _skipped(self, item: Item, counts: dict[str, Any], problems: list[dict[str, Any]]) -> None:
        """An import that succeeded without some instances (skip_instances): count them, and
        list why, each problem placed under the file's source."""
        skipped = int(counts["instances_skipped"])
        self.outcome.instances_skipped += skipped
        for problem in problems:
            self.outcome.problem(_placed(item, Problem(**problem)))
        if not problems:
            self.outcome.problem(
                Problem(
                    "convert.invalid",
                    item.source,
                    f"{skipped} instances were left out; the target did not say why",
                )
            )

    def _failed(self, sent: _Sent, problems: list[dict[str, Any]], error: str | None) -> None:
        for problem in problems:
            self.outcome.problem(_placed(sent.item, Problem(**problem)))
        if not problems:
            self.outcome.problem(
                Problem("convert.invalid", sent.item.source, error or "import failed")
            )
        self._done(sent.item, "failed", sent.count, advance=False)

    def _submit_one(self, sent: _Sent, packet: dict[str, Any], media_path: Path | None) -> None:
        item, out = sent.item, self.outcome
        try:
            created = self.target.submit(packet, media_path, item.losses)
        except Refused as exc:
            for problem in exc.problems:
                out.problem(_placed(item, problem))
            self._done(item, "failed", sent.count)
            return
        if created.get("status") == "dry_run":
            for problem in created.get("problems") or []:
                out.problem(_placed(item, Problem(**problem)))
            how = "failed" if created.get("problem_count") else sent.how
            self._done(item, how, sent.count, labels=sent.labels)
            return
        self._wait_for(sent, created)

    def _wait_for(self, sent: _Sent, imp: dict[str, Any]) -> None:
        self.pending.append((sent, imp))
        while len(self.pending) >= self.options.window:
            self._wait_oldest()

    def _earlier_file(
        self, latest: dict[str, Any] | None, media: dict[str, Any], media_path: Path | None
    ) -> int | None:
        """The file an earlier import of this item wrote to, if it still holds the same media.
        Other media (replaced in the source since) cannot be swapped under a file's instances:
        then the item is imported as a new file."""
        if latest is None or latest.get("file_id") is None:
            return None
        earlier = self.target.file(latest["file_id"])
        if earlier is None or earlier.get("media_type") != media["type"]:
            return None
        if media_path is not None:
            size = media_path.stat().st_size
            if earlier.get("sha256"):
                same = earlier.get("size") == size and earlier["sha256"] == _sha256(media_path)
            else:  # kept by reference: no copy was hashed; its place and size tell
                same = earlier.get("size") == size and earlier.get("source_url") == file_url(
                    media_path
                )
        else:
            same = earlier.get("source_url") == media.get("url")
        return earlier["id"] if same else None

    @staticmethod
    def _flags(options: ImportOptions) -> dict[str, Any]:
        """The packet's keys that say how to import it, not what to store."""
        flags: dict[str, Any] = {}
        if options.on_error == "skip_instances":
            flags["on_error"] = "skip_instances"
        if options.create_labels:
            flags["auto_create_labels"] = True
        if options.dry_run:
            flags["dry_run"] = True
        return flags

    def _wait_oldest(self) -> None:
        sent, imp = self.pending.popleft()
        item, count, how = sent.item, sent.count, sent.how
        deadline = time.monotonic() + self.options.wait_timeout
        delay = 0.002
        while imp.get("status") not in ("success", "failed"):
            if time.monotonic() > deadline:
                self.outcome.problem(
                    Problem("convert.invalid", item.source, f"import {imp['id']} did not finish")
                )
                self._done(item, "failed", count)
                return
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
            imp = self.target.get(imp["id"])
        if imp["status"] == "failed":
            for problem in imp.get("problems") or []:
                self.outcome.problem(_placed(item, Problem(**problem)))
            if not imp.get("problems"):
                self.outcome.problem(
                    Problem("convert.invalid", item.source, imp.get("error") or "import failed")
                )
            self._done(item, "failed", count)
            return
        counts = imp.get("counts") or {}
        self.outcome.instances_per_label.update(counts.get("instances_per_label") or {})
        if counts.get("instances_skipped"):
            self._skipped(item, counts, imp.get("problems") or [])
        self.outcome.warned(item, imp)
        self._done(item, how, counts.get("instances", count), counted=True)

    def drain(self) -> None:
        self._flush()
        while self.batches:
            self._finish_batch(self.batches.popleft())
        while self.pending:
            self._wait_oldest()

    def _done(
        self,
        item: Item,
        how: str,
        instances: int,
        counted: bool = False,
        advance: bool = True,
        labels: list[Any] | None = None,
    ) -> None:
        """Count an item's outcome. A file sent and not `counted` by the target counts its
        instances' `labels` (each one's label name; read from the item when not given)."""
        out = self.outcome
        sent = how in ("ok", "updated")
        if sent:
            if how == "ok":
                out.files_ok += 1
            else:
                out.files_updated += 1
            out.instances += instances
            if not counted:
                if labels is None:
                    labels = _label_names(item)
                out.instances_per_label.update(str(name) for name in labels if name)
        elif how == "unchanged":
            out.files_unchanged += 1
        elif how == "skipped":
            out.files_skipped += 1
        else:
            out.files_failed += 1
        if advance:
            self.progress.advance(1, instances if sent else 0)


def _stored_name(name: str) -> str:
    """The file's name as stored: relative to the source with its folders (a split such as
    `train/1.jpg` stays apart from `val/1.jpg`, and exports keep it), else its base name."""
    if "/" not in name and "\\" not in name and name not in ("", ".", ".."):
        return name  # a base name already: what the path below would give, without building it
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return Path(name).name
    return str(path)


def _placed(item: Item, problem: Problem) -> Problem:
    # A problem of the packet's instance N is placed where the source had it, if it says so.
    head, _, index_rest = problem.path.partition("/")
    if head == "instance_list" and item.places:
        index, _, rest = index_rest.partition("/")
        if index.isdigit() and int(index) < len(item.places):
            where = item.places[int(index)]
            return Problem(problem.code, f"{where} > {rest}".rstrip(" >"), problem.message)
    return Problem(problem.code, f"{item.source} > {problem.path}".rstrip(" >"), problem.message)


def _instance_place(item: Item, index: int) -> str:
    if item.places and index < len(item.places):
        return item.places[index]
    return f"{item.source}:{index}"


def _version(imp: dict[str, Any], stem: str) -> str:
    """The digest in an import's key `STEM#DIGEST`, without the `~id`s of retries."""
    return str(imp.get("idempotency_key") or "")[len(stem) + 1 :].split("~", 1)[0]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _encoded(packet: dict[str, Any]) -> tuple[bytes, bytes]:
    """`_encode(packet)` cut after the instances: `{"instance_list":[...]` and
    `,"media":{...},"original_filename":"..."}`. The encoder writes keys sorted, and the
    instances' key sorts before the others, so a batch line can be the first part and keys of
    its own without encoding the instances a second time."""
    instances = "frame_packet_map" if "frame_packet_map" in packet else "instance_list"
    head = _encode({instances: packet[instances]})[:-1]
    rest = _encode({k: v for k, v in packet.items() if k != instances})
    return head, b"," + rest[1:]


def _digest(encoded: bytes, media_path: Path | None) -> str:
    """The version of an item: its packet (as encoded, without its key) and its media's size."""
    h = hashlib.blake2b(encoded, digest_size=10)
    if media_path is not None:
        h.update(str(media_path.stat().st_size).encode())
    return h.hexdigest()


class _Attributes:
    """Attribute names of the source -> the project's attribute groups and option ids."""

    def __init__(self, target: Target, conv: Conversion, *, create: bool) -> None:
        self.target = target
        self.conv = conv
        self.create = create
        self.groups: dict[str, dict[str, Any]] | None = None

    def resolve(self, inst: dict[str, Any], item: Item) -> dict[str, Any]:
        named = inst.pop(ATTRIBUTES, None)
        if not named:
            return inst
        if self.groups is None:
            self.groups = {g["name"]: g for g in self.target.attribute_groups()}
        values: dict[str, Any] = {}
        for name, value in named.items():
            group = self.groups.get(name)
            if group is None and self.create:
                group = self._create(name, value)
            if group is None:
                self.conv.lose(item, "attribute_without_group")
                continue
            mapped = self._value(group, value)
            if mapped is None:
                self.conv.lose(item, "attribute_value_unmapped")
                continue
            values[str(group["id"])] = mapped
        if values:
            inst["attribute_groups"] = values
        return inst

    def _create(self, name: str, value: Any) -> dict[str, Any] | None:
        spec = self.conv.attribute_specs.get(name) or _inferred(name, value)
        group = self.target.create_attribute_group(
            name=name,
            kind=spec.kind,
            options=list(spec.options),
            min_value=spec.min_value,
            max_value=spec.max_value,
        )
        self.groups = self.groups if self.groups is not None else {}
        self.groups[name] = group
        return group

    def _value(self, group: dict[str, Any], value: Any) -> Any:
        kind = group["kind"]
        if kind in ("select", "radio"):
            return self._option(group, value)
        if kind == "multiple_select":
            values = value if isinstance(value, list) else [value]
            ids = [self._option(group, v) for v in values]
            return None if None in ids else ids
        if kind == "text":
            return value if isinstance(value, str) else _text(value)
        if kind == "slider":
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    return None
            return value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if kind in ("date", "time"):
            return value if isinstance(value, str) else None
        if kind == "tree":
            return value if isinstance(value, dict) else None
        return None

    def _option(self, group: dict[str, Any], value: Any) -> int | None:
        name = _text(value)
        for option in group["options"]:
            if option["name"] == name:
                return option["id"]
        if not self.create:
            return None
        option = self.target.add_attribute_option(group["id"], name)
        group["options"].append(option)
        return option["id"]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else _encode(value).decode()


def _inferred(name: str, value: Any) -> AttributeSpec:
    if isinstance(value, bool):
        return AttributeSpec(name, "select", ["false", "true"])
    if isinstance(value, int | float):
        return AttributeSpec(name, "slider")
    if isinstance(value, list):
        return AttributeSpec(name, "multiple_select")
    return AttributeSpec(name, "text")
