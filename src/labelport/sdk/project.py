"""`Project`: labelport's Python client, shaped like the `diffgram` SDK's so that code moves over.

    project = Project("my-project", client_id, client_secret)
    imp = project.file.from_url(url, media_type="image", instance_list=[...]).wait()
    imp.status, imp.counts, imp.problems

Every import call returns an `Import` at once (the server queues the work); `.wait()` polls it.
A packet with problems raises `PacketRejected` carrying every problem; nothing is stored then.

Many files at once go as one batch (one request, one job on the server):

    batch = project.import_batch(packets).wait()    # packets: an iterable of packet dicts
    batch.status, batch.counts, [f.problems for f in batch.failed()]

A bad line of a batch does not raise: it fails alone, with its problems in its `BatchFile`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx
import msgspec

from labelport.format.problem_groups import ProblemGroup, from_dicts, group_problems
from labelport.sdk.client import DEFAULT_HOST, Client
from labelport.sdk.errors import LabelportHTTPError, Problem, describe, short_groups
from labelport.shapes import (
    AttributeGroupOut,
    EvaluationOut,
    ImportOut,
    ImportPage,
    KeyOut,
    LabelOut,
    OptionOut,
    ProjectOut,
    SchemaOut,
    SequenceOut,
    TokenOut,
)

FINISHED = frozenset({"success", "failed", "dry_run"})
BATCH_FINISHED = frozenset({"success", "partial", "failed"})
_encode = msgspec.json.Encoder().encode


class Import:
    """One import (Diffgram's "input"): its status, counts and problems as last fetched."""

    def __init__(self, project: Project, data: dict[str, Any]) -> None:
        self._project = project
        self._set(data)

    def _set(self, data: dict[str, Any]) -> None:
        self.data = data
        self.id: int | None = data.get("id")
        self.file_id: int | None = data.get("file_id")
        self.status: str = data.get("status", "")
        self.percent: float | None = data.get("percent")
        self.counts: dict[str, Any] = data.get("counts") or {}
        self.problems = [Problem.from_dict(p) for p in data.get("problems") or []]
        self.problem_count: int = int(data.get("problem_count") or len(self.problems))
        self.warnings = [Problem.from_dict(p) for p in data.get("warnings") or []]
        self.warning_count: int = int(data.get("warning_count") or len(self.warnings))
        self.error: str | None = data.get("error")
        self.media_name: str | None = data.get("media_name")
        self.media_url: str | None = data.get("media_url")
        self.idempotency_key: str | None = data.get("idempotency_key")

    @property
    def groups(self) -> list[ProblemGroup]:
        """The problems grouped by code and message: count, message, a few example paths (as
        the server grouped them, else from the problems fetched)."""
        stored = self.data.get("problem_groups")
        if stored:
            return from_dicts(stored)
        return group_problems(self.problems, self.data.get("problem_counts_by_code"))

    def describe(self) -> str:
        """Status, media, key, then the problems grouped and the warnings, for a person."""
        head = f"import {self.id}: {self.status}"
        if self.media_name or self.media_url:
            head += f" ({self.media_name or self.media_url})"
        if self.error:
            head += f": {self.error}"
        lines = [head]
        if self.problem_count:
            lines.append(f"  {self.problem_count} problem(s):")
            lines += ["  " + line for line in describe(self.groups, [], 0)]
        lines += describe([], self.warnings, self.warning_count)
        return "\n".join(lines)

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    @property
    def ok(self) -> bool:
        return self.status in ("success", "dry_run") and self.problem_count == 0

    def refresh(self) -> Import:
        if self.id is None:  # a dry run has nothing on the server to refresh
            return self
        self._set(self._project._get(f"/imports/{self.id}"))
        return self

    def wait(self, timeout: float = 60.0, poll: float = 0.05) -> Import:
        """Poll until the import is finished (success or failed); TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        delay = poll
        while not self.done:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"import {self.id} still {self.status!r} after {timeout} s "
                    f"({self.percent or 0}%)"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)
            self.refresh()
        return self

    def all_problems(self, per_page: int = 1000) -> list[Problem]:
        """Every problem, fetched page by page (the import itself carries the first page)."""
        if self.id is None or self.problem_count <= len(self.problems):
            return list(self.problems)
        out: list[Problem] = []
        page = 1
        while len(out) < self.problem_count:
            data = self._project._get(
                f"/imports/{self.id}",
                params={"problems_page": page, "problems_per_page": per_page},
            )
            batch = [Problem.from_dict(p) for p in data.get("problems") or []]
            if not batch:
                break
            out.extend(batch)
            page += 1
        return out

    def __repr__(self) -> str:
        groups = ""
        if self.problems or self.data.get("problem_groups"):
            groups = f", groups=[{short_groups(self.groups)}]"
        elif self.data.get("problem_counts_by_code"):  # a listed import: its codes only
            by_code = self.data["problem_counts_by_code"]
            groups = ", by_code={" + ", ".join(f"{k}: {v}" for k, v in by_code.items()) + "}"
        name = f", media={self.media_name!r}" if self.media_name else ""
        warns = ""
        if self.warning_count:
            shown = "; ".join(f"{w.code} at {w.path}" for w in self.warnings[:3])
            more = ", ..." if self.warning_count > 3 else ""
            warns = f", warnings={self.warning_count} [{shown}{more}]"
        return (
            f"Import(id={self.id}, status={self.status!r}{name}, problems={self.problem_count}"
            f"{groups}{warns})"
        )


class BatchFile:
    """The outcome of one line of a batch: its import, status, counts and first problems."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.line: int = int(data.get("line", 0))
        self.import_id: int | None = data.get("import_id")
        self.file_id: int | None = data.get("file_id")
        self.status: str = data.get("status", "")
        # the line's idempotency key was used before: this points at the first import
        self.duplicate: bool = bool(data.get("duplicate"))
        self.idempotency_key: str | None = data.get("idempotency_key")
        self.media_name: str | None = data.get("media_name")  # the media's file name, URL
        self.media_url: str | None = data.get("media_url")
        self.counts: dict[str, Any] = data.get("counts") or {}
        self.problems = [Problem.from_dict(p) for p in data.get("problems") or []]
        self.problem_count: int = int(data.get("problem_count") or len(self.problems))
        # what the import changed of what was sent (a box clamped to its image), first 20
        self.warnings = [Problem.from_dict(p) for p in data.get("warnings") or []]
        self.warning_count: int = int(data.get("warning_count") or len(self.warnings))
        self.error: str | None = data.get("error")

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def __repr__(self) -> str:
        dup = ", duplicate" if self.duplicate else ""
        return (
            f"BatchFile(line={self.line}, import_id={self.import_id}, status={self.status!r}"
            f"{dup}, media={self.media_name!r}, problems={self.problem_count})"
        )


class BatchImport:
    """Many packets sent as one batch: its status and counts as last fetched, its files by page.

    Each line of the batch is an import of its own (`project.get_import(f.import_id)`)."""

    def __init__(self, project: Project, data: dict[str, Any]) -> None:
        self._project = project
        self._set(data)

    def _set(self, data: dict[str, Any]) -> None:
        self.data = data
        self.id: int = data["id"]
        self.status: str = data.get("status", "")
        self.file_count: int = int(data.get("file_count") or 0)
        self.counts: dict[str, int] = data.get("counts") or {}
        self.percent: float | None = data.get("percent")
        self.error: str | None = data.get("error")

    @property
    def done(self) -> bool:
        return self.status in BATCH_FINISHED

    def refresh(self) -> BatchImport:
        # no files: the counts and status are those of the whole batch
        self._set(self._project._get(f"/batches/{self.id}", params={"page": 1, "per_page": 0}))
        return self

    def wait(self, timeout: float = 600.0, poll: float = 0.05) -> BatchImport:
        """Poll until every file of the batch has finished; TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        delay = poll
        if not self.done:
            self.refresh()
        while not self.done:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"batch {self.id} still {self.status!r} after {timeout} s "
                    f"({self.percent or 0}%, {self.counts})"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)
            self.refresh()
        return self

    def files(self, per_page: int = 500) -> Iterator[BatchFile]:
        """Every line's outcome, in line order, fetched page by page."""
        page = 1
        seen = 0
        while True:
            data = self._project._get(
                f"/batches/{self.id}", params={"page": page, "per_page": per_page}
            )
            rows = data.get("files") or []
            for row in rows:
                yield BatchFile(row)
            seen += len(rows)
            total = int(data.get("files_total") or data.get("file_count") or 0)
            if not rows or seen >= total:
                return
            page += 1

    def failed(self) -> list[BatchFile]:
        """The files that failed, in the job or refused before it (`rejected`)."""
        return [f for f in self.files() if f.status in ("failed", "rejected")]

    def warned(self, per_page: int = 500) -> Iterator[BatchFile]:
        """The files whose import has warnings (imported, with a change each warning says), in
        line order; only those are fetched."""
        page = 1
        while True:
            params = {"page": page, "per_page": per_page, "warned": "true"}
            rows = self._project._get(f"/batches/{self.id}", params=params).get("files") or []
            for row in rows:
                yield BatchFile(row)
            if len(rows) < per_page:
                return
            page += 1

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items() if v)
        return (
            f"BatchImport(id={self.id}, status={self.status!r}, files={self.file_count}"
            f"{', ' + counts if counts else ''})"
        )


def _ndjson(packets: Iterable[dict[str, Any] | bytes]) -> Iterator[bytes]:
    """One packet a line; a packet given as JSON bytes spread over lines is made one line."""
    for packet in packets:
        if isinstance(packet, bytes | bytearray | memoryview):
            line = bytes(packet).strip()
            if b"\n" in line or b"\r" in line:
                line = _encode(msgspec.json.decode(line))
            yield line + b"\n"
        else:
            yield _encode(packet) + b"\n"


def _enveloped(lines: Iterator[bytes], losses: Mapping[int, Mapping[str, int]]) -> Iterator[bytes]:
    """Each packet line as `{"packet": ..., "counts": {"losses": ...}}` (POST /batches with
    envelope=true); the packet's bytes are kept as they are."""
    for n, line in enumerate(lines):
        lost = losses.get(n)
        counts = b',"counts":' + _encode({"losses": dict(lost)}) if lost else b""
        yield b'{"packet":' + line.rstrip(b"\n") + counts + b"}\n"


class File:
    """A stored media file; instances and sequences are fetched when asked for."""

    def __init__(self, project: Project, data: dict[str, Any]) -> None:
        self._project = project
        self.data = data
        self.id: int = data["id"]
        self.media_type: str | None = data.get("media_type")
        self._instances: list[dict[str, Any]] | None = None

    def __getattr__(self, name: str) -> Any:
        # width, height, frame_count, fps, original_filename, ...: whatever the server sent.
        try:
            return self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def instances(self) -> list[dict[str, Any]]:
        """Every instance of the file (all frames for a video), fetched once."""
        if self._instances is None:
            self._instances = self.instances_between()
        return self._instances

    def instances_between(
        self, frame_start: int | None = None, frame_end: int | None = None, per_page: int = 5000
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "per_page": per_page}
            if frame_start is not None:
                params["frame_start"] = frame_start
            if frame_end is not None:
                params["frame_end"] = frame_end
            data = self._project._get(f"/files/{self.id}/instances", params=params)
            out.extend(data["items"])
            if not data["items"] or len(out) >= data["total"]:
                return out
            page += 1

    def sequences(self, label_id: int | None = None) -> list[SequenceOut]:
        params = {"label_id": label_id} if label_id is not None else None
        sequences: list[SequenceOut] = self._project._get(
            f"/files/{self.id}/sequences", params=params
        )
        return sequences

    def tokens(self) -> list[TokenOut]:
        tokens: list[TokenOut] = self._project._get(f"/files/{self.id}/tokens")
        return tokens

    def media(self) -> bytes:
        return self._project._client.stream_bytes(self._project._path(f"/files/{self.id}/media"))

    def update(self, **kwargs: Any) -> Import:
        self._instances = None
        return self._project.file.update(self.id, **kwargs)

    def __repr__(self) -> str:
        return f"File(id={self.id}, media_type={self.media_type!r})"


@dataclass
class Directory:
    id: int
    nickname: str
    is_default: bool = False
    data: dict[str, Any] = field(default_factory=dict, repr=False)


def _packet(**fields: Any) -> dict[str, Any]:
    # None means "not sent": the server's defaults apply.
    return {k: v for k, v in fields.items() if v is not None and v is not False}


class FileAPI:
    """`project.file`: send media with instances, update a file's instances, read files."""

    def __init__(self, project: Project) -> None:
        self._project = project

    def _send(self, packet: dict[str, Any], dry_run: bool) -> Import:
        body = msgspec.json.encode(packet)
        data = self._project._post(
            "/packets",
            content=body,
            headers={"Content-Type": "application/json"},
            params={"dry_run": "true"} if dry_run else None,
        )
        return Import(self._project, data)

    def from_url(
        self,
        url: str,
        media_type: str = "image",
        instance_list: list[Any] | None = None,
        frame_packet_map: dict[Any, list[Any]] | None = None,
        directory_id: int | None = None,
        idempotency_key: str | None = None,
        on_error: str | None = None,
        auto_create_labels: bool = False,
        dry_run: bool = False,
        **options: Any,
    ) -> Import:
        """Fetch `url` on the server and attach the instances. `options`: any other packet key
        (clip_to_media, strict, parent_file_id, ordinal, ...)."""
        packet = _packet(
            media={"url": url, "type": media_type},
            instance_list=instance_list,
            frame_packet_map=frame_packet_map,
            directory_id=directory_id,
            idempotency_key=idempotency_key,
            on_error=on_error,
            auto_create_labels=auto_create_labels,
            **options,
        )
        return self._send(packet, dry_run)

    def from_text_data(
        self,
        text: str,
        original_filename: str,
        instance_list: list[Any] | None = None,
        directory_id: int | None = None,
        idempotency_key: str | None = None,
        on_error: str | None = None,
        auto_create_labels: bool = False,
        dry_run: bool = False,
        **options: Any,
    ) -> Import:
        packet = _packet(
            text_data=text,
            original_filename=original_filename,
            instance_list=instance_list,
            directory_id=directory_id,
            idempotency_key=idempotency_key,
            on_error=on_error,
            auto_create_labels=auto_create_labels,
            **options,
        )
        return self._send(packet, dry_run)

    def from_local(
        self,
        path: str | os.PathLike[str] | BinaryIO,
        instance_list: list[Any] | None = None,
        frame_packet_map: dict[Any, list[Any]] | None = None,
        directory_id: int | None = None,
        media_type: str | None = None,
        idempotency_key: str | None = None,
        on_error: str | None = None,
        auto_create_labels: bool = False,
        dry_run: bool = False,
        filename: str | None = None,
        **options: Any,
    ) -> Import:
        """Upload a local file (a path, or an open binary file with `filename`)."""
        packet = _packet(
            media={"type": media_type} if media_type else None,
            instance_list=instance_list,
            frame_packet_map=frame_packet_map,
            directory_id=directory_id,
            idempotency_key=idempotency_key,
            on_error=on_error,
            auto_create_labels=auto_create_labels,
            **options,
        )
        form = {"packet": msgspec.json.encode(packet).decode()}
        params = {"dry_run": "true"} if dry_run else None
        if isinstance(path, str | os.PathLike):
            with open(path, "rb") as fh:
                name = filename or Path(path).name
                data = self._project._post(
                    "/files/upload", files={"file": (name, fh)}, data=form, params=params
                )
        else:
            name = filename or Path(getattr(path, "name", "upload")).name
            data = self._project._post(
                "/files/upload", files={"file": (name, path)}, data=form, params=params
            )
        return Import(self._project, data)

    def update(
        self,
        file_id: int,
        instance_list: list[Any] | None = None,
        frame_packet_map: dict[Any, list[Any]] | None = None,
        mode: str = "update",
        idempotency_key: str | None = None,
        on_error: str | None = None,
        auto_create_labels: bool = False,
        dry_run: bool = False,
        **options: Any,
    ) -> Import:
        """Add instances to a stored file (`update`), or replace them (`update_with_existing`)."""
        packet = _packet(
            file_id=file_id,
            mode=mode,
            instance_list=instance_list,
            frame_packet_map=frame_packet_map,
            idempotency_key=idempotency_key,
            on_error=on_error,
            auto_create_labels=auto_create_labels,
            **options,
        )
        return self._send(packet, dry_run)

    def get_by_id(self, id: int) -> File:
        return File(self._project, self._project._get(f"/files/{id}"))

    def list(
        self, directory_id: int | None = None, page: int = 1, per_page: int = 100
    ) -> list[File]:
        params: dict[str, Any] = {"page": page, "per_page": per_page}
        if directory_id is not None:
            params["directory_id"] = directory_id
        data = self._project._get("/files", params=params)
        return [File(self._project, f) for f in data["items"]]


class DirectoryAPI:
    """`project.directory`: datasets of the project."""

    def __init__(self, project: Project) -> None:
        self._project = project

    @staticmethod
    def _of(data: dict[str, Any]) -> Directory:
        return Directory(data["id"], data["nickname"], bool(data.get("is_default")), data)

    def new(self, name: str) -> Directory:
        return self._of(self._project._post("/directories", json={"nickname": name}))

    def get_by_id(self, id: int) -> Directory:
        return self._of(self._project._get(f"/directories/{id}"))

    def list(self) -> list[Directory]:
        return [self._of(d) for d in self._project._get("/directories")]

    def get(self, name: str | None = None) -> Directory | None:
        """The directory called `name` (the default one when `name` is None), or None."""
        for d in self.list():
            if (name is None and d.is_default) or (name is not None and d.nickname == name):
                return d
        return None


class Project:
    """A labelport project, reached over HTTP with one API key."""

    def __init__(
        self,
        project_string_id: str,
        client_id: str,
        client_secret: str,
        host: str = DEFAULT_HOST,
        *,
        timeout: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.project_string_id = project_string_id
        self.host = host
        self._client = Client(client_id, client_secret, host, timeout=timeout, transport=transport)
        self._base = f"/api/v1/projects/{quote(project_string_id, safe='')}"
        self.file = FileAPI(self)
        self.directory = DirectoryAPI(self)

    # -- plumbing
    def _path(self, path: str) -> str:
        return self._base + path

    def _get(self, path: str, **kwargs: Any) -> Any:
        return self._client.get(self._path(path), **kwargs)

    def _post(self, path: str, **kwargs: Any) -> Any:
        return self._client.post(self._path(path), **kwargs)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- project and keys
    def info(self) -> ProjectOut:
        project: ProjectOut = self._client.get(self._base)
        return project

    def new_key(self, role: str = "editor") -> KeyOut:
        """Another key for this project (needs an admin key); its secret is shown only here."""
        key: KeyOut = self._post("/keys", json={"role": role})
        return key

    # -- labels and schemas
    def labels(self) -> list[LabelOut]:
        labels: list[LabelOut] = self._get("/labels")
        return labels

    def label_new(
        self, name: str | dict[str, Any], colour: str | None = None, schema_id: int | None = None
    ) -> LabelOut:
        """Create one label. Accepts the `diffgram` SDK's `{"name": ...}` dict too."""
        label_name: str = name["name"] if isinstance(name, dict) else name
        return self.labels_new([label_name], colour=colour, schema_id=schema_id)[0]

    def labels_new(
        self, names: Iterable[str], colour: str | None = None, schema_id: int | None = None
    ) -> list[LabelOut]:
        body = _packet(names=list(names), colour=colour, schema_id=schema_id)
        labels: list[LabelOut] = self._post("/labels", json=body)
        return labels

    def get_label(self, name: str) -> LabelOut | None:
        """The label called exactly `name`, or None."""
        return next((label for label in self.labels() if label["name"] == name), None)

    def get_label_by_id(self, label_id: int) -> LabelOut:
        label: LabelOut = self._get(f"/labels/{label_id}")
        return label

    def label_colour(self, label_id: int) -> str:
        """The label's colour (`#rrggbb`): the one set for it, else its default."""
        colour: str = self._get(f"/labels/{label_id}/colour")["colour"]  # never null here
        return colour

    def set_label_colour(self, label_id: int, colour: str | None) -> LabelOut:
        """Sets the label's colour (`#rrggbb`); None gives it back its default colour."""
        label: LabelOut = self._client.request(
            "PUT", self._path(f"/labels/{label_id}/colour"), json={"colour": colour}
        )
        return label

    def label_schemas(self) -> list[SchemaOut]:
        schemas: list[SchemaOut] = self._get("/label-schemas")
        return schemas

    def new_label_schema(self, name: str) -> SchemaOut:
        schema: SchemaOut = self._post("/label-schemas", json={"name": name})
        return schema

    # -- attributes
    def attribute_groups(self) -> list[AttributeGroupOut]:
        groups: list[AttributeGroupOut] = self._get("/attribute-groups")
        return groups

    def new_attribute_group(
        self,
        name: str,
        kind: str,
        prompt: str = "",
        label_ids: Iterable[int] = (),
        labels: Iterable[str] = (),
        options: Iterable[str] = (),
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> AttributeGroupOut:
        """A group of attributes (kind: select, multiple_select, radio, text, slider, date, time,
        tree) for the labels given by id or by name."""
        ids = list(label_ids)
        wanted = list(labels)
        if wanted:
            by_name = {label["name"]: label["id"] for label in self.labels()}
            missing = [n for n in wanted if n not in by_name]
            if missing:
                raise LabelportHTTPError(404, "label.unknown", f"no label named {missing}")
            ids += [by_name[n] for n in wanted]
        body = _packet(
            name=name,
            kind=kind,
            prompt=prompt,
            label_ids=ids,
            options=list(options),
            min_value=min_value,
            max_value=max_value,
        )
        group: AttributeGroupOut = self._post("/attribute-groups", json=body)
        return group

    def update_attribute_group(self, group_id: int, **fields: Any) -> AttributeGroupOut:
        group: AttributeGroupOut = self._client.patch(
            self._path(f"/attribute-groups/{group_id}"), json=fields
        )
        return group

    def add_attribute_option(
        self, group_id: int, name: str, display_name: str | None = None
    ) -> OptionOut:
        body = _packet(name=name, display_name=display_name)
        option: OptionOut = self._post(f"/attribute-groups/{group_id}/options", json=body)
        return option

    # -- evaluations (docs/evaluate.md)
    def evaluate(self, run: str | int, reference: str | int = "human", **params: Any) -> Any:
        """Evaluate a model run (id, "model/run" or "run") against the people's instances or
        another run; stored on the server. params: iou, score_min, iou_type, max_dets, scope."""
        body = {"run": str(run), "reference": str(reference), **params}
        return self._post("/evaluations", json=body)

    def evaluations(self, run: str | int | None = None) -> list[dict[str, Any]]:
        params = {} if run is None else {"run": str(run)}
        data: list[dict[str, Any]] = self._get("/evaluations", params=params)
        return data

    def get_evaluation(self, evaluation_id: int) -> EvaluationOut:
        """A stored evaluation; `stale` says whether an import into its files came since."""
        evaluation: EvaluationOut = self._get(f"/evaluations/{evaluation_id}")
        return evaluation

    def evaluation_files(
        self, evaluation_id: int, page: int = 1, per_page: int = 100, errors_only: bool = False
    ) -> list[dict[str, Any]]:
        """The review queue: the evaluation's files, most errors (FP + FN) first."""
        params = {"page": page, "per_page": per_page, "errors_only": errors_only}
        data = self._get(f"/evaluations/{evaluation_id}/files", params=params)
        items: list[dict[str, Any]] = data["items"]
        return items

    def evaluation_file(
        self,
        evaluation_id: int,
        file_id: int,
        frame_start: int | None = None,
        frame_end: int | None = None,
    ) -> dict[str, Any]:
        """One file of an evaluation's review queue: its predictions and references with their
        outcomes; a video's frames [frame_start, frame_end] (at most 300 at once)."""
        params = _packet(frame_start=frame_start, frame_end=frame_end)
        data: dict[str, Any] = self._get(
            f"/evaluations/{evaluation_id}/files/{file_id}", params=params
        )
        return data

    # -- imports
    def imports(
        self,
        status: str | None = None,
        media_type: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> list[Import]:
        """Imports of the project, newest first."""
        params = _packet(status=status, media_type=media_type, page=page, per_page=per_page)
        data = self._get("/imports", params=params)
        return [Import(self, i) for i in data["items"]]

    def imports_page(
        self,
        status: str | None = None,
        media_type: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> tuple[list[ImportOut], int]:
        """One page of the project's imports as the server sends them, and how many in all."""
        params = _packet(status=status, media_type=media_type, page=page, per_page=per_page)
        data: ImportPage = self._get("/imports", params=params)
        return data["items"], data["total"]

    def get_import(self, import_id: int, problems_per_page: int | None = None) -> Import:
        """The import; its first `problems_per_page` problems (the server's default: 100)."""
        params = None if problems_per_page is None else {"problems_per_page": problems_per_page}
        return Import(self, self._get(f"/imports/{import_id}", params=params))

    def find_import(
        self,
        idempotency_key: str | None = None,
        *,
        key_stem: str | None = None,
        status: str | None = None,
    ) -> Import | None:
        """The import sent with `idempotency_key`, or the newest whose key is `key_stem` + "#" +
        a version; only of `status` if given. None when there is none."""
        params = _packet(idempotency_key=idempotency_key, key_stem=key_stem, status=status)
        found = self._get("/imports/find", params=params)["found"]
        return None if found is None else Import(self, found)

    def find_imports(
        self, keys: Iterable[str] = (), stems: Iterable[str] = ()
    ) -> dict[str, dict[str, Import]]:
        """Many look-ups in one request: {"keys": {key: the import sent with it},
        "latest": {stem: the newest import whose key is stem + "#" + a version},
        "latest_success": {stem: the newest of those that succeeded}}; only found ones."""
        body = {"keys": list(keys), "stems": list(stems)}
        data = self._post("/imports/find", json=body)
        return {
            part: {k: Import(self, v) for k, v in (data.get(part) or {}).items()}
            for part in ("keys", "latest", "latest_success")
        }

    # -- batches
    def import_batch(
        self,
        packets: Iterable[dict[str, Any] | bytes],
        *,
        on_error: str = "reject",
        media: str = "copy",
        source: str | None = None,
        losses: Mapping[int, Mapping[str, int]] | None = None,
    ) -> BatchImport:
        """Send many packets (dicts, or JSON bytes each) as one batch; returns at once.

        The packets are streamed one line at a time (NDJSON): a generator of packets is never
        held in memory whole. `on_error` (reject | skip_instances) applies to packets that do
        not set their own; `media` copy | reference: keep a copy of each media file on the
        server, or only its URL (the server reads it again when the file is viewed).
        `losses`: {line: {kind: count}}, what a converter could not carry for that line's file,
        stored in its import's counts (`counts["losses"]`)."""
        params = _packet(on_error=on_error, media=media, source=source)
        lines = _ndjson(packets)
        if losses:
            params["envelope"] = "true"
            lines = _enveloped(lines, losses)
        data = self._post(
            "/batches",
            content=lines,
            headers={"Content-Type": "application/x-ndjson"},
            params=params,
        )
        return BatchImport(self, data)

    def get_batch(
        self, batch_id: int, *, page: int = 1, per_page: int = 1, warned: bool = False
    ) -> BatchImport:
        """A batch as it is now; `.data["files"]` holds page `page` of its files (with
        `warned`, of those whose import has warnings)."""
        params: dict[str, Any] = {"page": page, "per_page": per_page}
        if warned:
            params["warned"] = "true"
        return BatchImport(self, self._get(f"/batches/{batch_id}", params=params))

    def batches(self, page: int = 1, per_page: int = 50) -> list[BatchImport]:
        """Batches of the project, newest first (without their files)."""
        data = self._get("/batches", params={"page": page, "per_page": per_page})
        return [BatchImport(self, b) for b in data["batches"]]

    def __repr__(self) -> str:
        return f"Project({self.project_string_id!r}, host={self.host!r})"
