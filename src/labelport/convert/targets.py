"""Where `labelport import` sends packets: the embedded Service, or a server through the SDK.

Both answer the same few calls, so the importer does not know which one it talks to. Packets go
in batches (`submit_batch`: one request and one job for many files, each packet given as its
NDJSON line); a local media file goes in a batch as a file:// URL only where the target can read
that path (`batch_url`), else it is uploaded with its own packet (`submit`).
"""

from __future__ import annotations

import functools
import os
import stat
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, cast
from urllib.parse import quote_from_bytes

from labelport.format import Problem

if TYPE_CHECKING:
    from labelport.service import Service
    from labelport.shapes import ImportsFound

# What find_many answers: {"keys": {key: import}, "latest": {stem: import},
# "latest_success": {stem: import}}, with only the ones found.
Found = dict[str, dict[str, dict[str, Any]]]


class Refused(Exception):
    """A packet the target refused: every problem, nothing stored."""

    def __init__(self, problems: list[Problem], count: int) -> None:
        super().__init__(f"{count} problems")
        self.problems = problems
        self.count = count


class Target(Protocol):
    def labels(self) -> dict[str, int]: ...
    def attribute_groups(self) -> list[dict[str, Any]]: ...
    def create_attribute_group(self, **fields: Any) -> dict[str, Any]: ...
    def add_attribute_option(self, group_id: int, name: str) -> dict[str, Any]: ...
    def find(self, key: str) -> dict[str, Any] | None: ...
    def latest(self, stem: str, status: str | None = None) -> dict[str, Any] | None: ...
    def file(self, file_id: int) -> dict[str, Any] | None: ...
    def submit(
        self, packet: dict[str, Any], media: Path | None, losses: Counter[str]
    ) -> dict[str, Any]: ...
    def get(self, import_id: int) -> dict[str, Any]: ...
    def find_many(self, keys: Sequence[str], stems: Sequence[str]) -> Found: ...
    def batch_url(self, media: Path) -> str | None: ...
    def submit_batch(
        self,
        lines: Sequence[bytes],
        losses: Sequence[Counter[str]],
        *,
        on_error: str = "reject",
        media: str = "copy",
    ) -> dict[str, Any]: ...
    def get_batch(
        self, batch_id: int, *, page: int = 1, per_page: int = 100, warned: bool = False
    ) -> dict[str, Any]: ...
    def wait_batch(self, batch_id: int, timeout: float) -> dict[str, Any]: ...


class NoBatches(Exception):
    """The target cannot take batches (a server older than them): send packets one by one."""


def file_url(path: Path) -> str:
    """`path.resolve().as_uri()`, for a file of many in few folders (see `_in_real_folder`)."""
    found = _in_real_folder(path)
    if found is None:
        return path.resolve().as_uri()
    folder, name = found
    return folder.file_url(name)


class _RealFolder(NamedTuple):
    path: Path  # the folder's real path
    url: str  # its file:// URL, ending in "/"

    def file_url(self, name: str) -> str:
        """The URL of its file `name`, as `Path.as_uri` writes it."""
        return self.url + quote_from_bytes(os.fsencode(name))


@functools.lru_cache(maxsize=4096)
def _real_folder(folder: str) -> _RealFolder:
    real = Path(folder).resolve()
    url = real.as_uri()
    return _RealFolder(real, url if url.endswith("/") else url + "/")


def _in_real_folder(path: Path) -> tuple[_RealFolder, str] | None:
    """The real folder a file is in and its name there: the folder's real path is looked up
    once, the file's own name needs one lstat. None for a symlinked file (or one that cannot be
    read), which is resolved in full."""
    text = os.fspath(path)
    try:
        if stat.S_ISLNK(os.lstat(text).st_mode):
            return None
    except OSError:
        return None
    folder, name = os.path.split(text)
    if not os.path.isabs(folder):  # as Path.absolute(): joined to the working folder as it is
        folder = os.path.join(os.getcwd(), folder)
    return _real_folder(folder), name


def _plain(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A Service answer (a TypedDict of labelport.shapes) as the plain dict the importer reads:
    convert/importer.py, the one caller, is typed with plain dicts, as the SDK's answers are."""
    return dict(answer)


def _plain_or_none(answer: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if answer is None else dict(answer)


def _found(found: ImportsFound) -> Found:
    return {part: {k: _plain(v) for k, v in found[part].items()} for part in _FOUND_PARTS}


_FOUND_PARTS: tuple[Literal["keys", "latest", "latest_success"], ...] = (
    "keys",
    "latest",
    "latest_success",
)


class EmbeddedTarget:
    def __init__(self, service: Service, project: str) -> None:
        self.service = service
        self.project_id: int = service.get_project(project)["id"]
        # The folders the Service was opened with: their files go in batches as file:// URLs.
        self.media_roots = tuple(
            Path(root).resolve() for root in getattr(service.settings, "media_roots", ())
        )
        self._readable_folders: dict[Path, bool] = {}  # real folder -> under a media root
        # This process's jobs ended as of the last read of a batch (see wait_batch).
        self._jobs_seen = service.dispatcher.jobs_ended

    def labels(self) -> dict[str, int]:
        return {x["name"]: x["id"] for x in self.service.list_labels(self.project_id)}

    def attribute_groups(self) -> list[dict[str, Any]]:
        return [_plain(g) for g in self.service.list_attribute_groups(self.project_id)]

    def create_attribute_group(self, **fields: Any) -> dict[str, Any]:
        return _plain(self.service.create_attribute_group(self.project_id, **fields))

    def add_attribute_option(self, group_id: int, name: str) -> dict[str, Any]:
        return _plain(self.service.add_attribute_option(self.project_id, group_id, name))

    def find(self, key: str) -> dict[str, Any] | None:
        return _plain_or_none(self.service.find_import(self.project_id, idempotency_key=key))

    def latest(self, stem: str, status: str | None = None) -> dict[str, Any] | None:
        return _plain_or_none(
            self.service.find_import(self.project_id, key_stem=stem, status=status)
        )

    def file(self, file_id: int) -> dict[str, Any] | None:
        from labelport.errors import NotFound

        try:
            return _plain(self.service.get_file(self.project_id, file_id))
        except NotFound:
            return None

    def submit(
        self, packet: dict[str, Any], media: Path | None, losses: Counter[str]
    ) -> dict[str, Any]:
        from labelport.errors import Rejected

        extra = {"losses": dict(losses)} if losses else None
        try:
            if media is None:
                return _plain(
                    self.service.submit_packet(
                        self.project_id, packet, source="labelport import", import_counts=extra
                    )
                )
            with open(media, "rb") as stream:
                return _plain(
                    self.service.submit_packet(
                        self.project_id,
                        packet,
                        source="labelport import",
                        upload=(media.name, stream),
                        import_counts=extra,
                    )
                )
        except Rejected as exc:
            raise Refused(list(exc.report.problems), exc.report.problem_count) from None

    def get(self, import_id: int) -> dict[str, Any]:
        return _plain(self.service.get_import(self.project_id, import_id))

    def find_many(self, keys: Sequence[str], stems: Sequence[str]) -> Found:
        found = self.service.find_imports(self.project_id, keys=list(keys), stems=list(stems))
        return _found(found)

    def batch_url(self, media: Path) -> str | None:
        """The file:// URL a batch line names `media` by, when it is under a folder the Service
        reads (else None: it is uploaded with its own packet)."""
        found = _in_real_folder(media)
        if found is None:
            real = media.resolve()
            return real.as_uri() if self._readable(real) else None
        folder, name = found
        readable = self._readable_folders.get(folder.path)
        if readable is None:
            readable = self._readable_folders[folder.path] = self._readable(folder.path)
        # a file is under a root if its folder is (or if it is the root itself)
        if not readable and not self._readable(folder.path / name):
            return None
        return folder.file_url(name)

    def _readable(self, real: Path) -> bool:
        return any(real.is_relative_to(root) for root in self.media_roots)

    def submit_batch(
        self,
        lines: Sequence[bytes],
        losses: Sequence[Counter[str]],
        *,
        on_error: str = "reject",
        media: str = "copy",
    ) -> dict[str, Any]:
        counts = {n: {"losses": dict(lost)} for n, lost in enumerate(losses) if lost}
        return _plain(
            self.service.submit_batch(
                self.project_id,
                lines,
                on_error=on_error,
                media=media,
                source="labelport import",
                import_counts=counts or None,
            )
        )

    def get_batch(
        self, batch_id: int, *, page: int = 1, per_page: int = 100, warned: bool = False
    ) -> dict[str, Any]:
        self._jobs_seen = self.service.dispatcher.jobs_ended  # first: an end after it is news
        return _plain(
            self.service.get_batch(
                self.project_id, batch_id, page=page, per_page=per_page, warned=warned
            )
        )

    def wait_batch(self, batch_id: int, timeout: float) -> dict[str, Any]:
        """The batch (without files), read once: as soon as one of this process's jobs ended
        since it was last read, else after `timeout` (at least 0.25 s). A batch's lines end
        with the job of their chunk, so reading it between job ends (as `Service.wait_batch`
        does, every 20 ms at first) only repeated the last answer: a 2,000-file import read its
        batches' state 213 times, now ~50."""
        self.service.dispatcher.wait_for_jobs(self._jobs_seen, max(timeout, 0.25))
        return self.get_batch(batch_id, per_page=0)


class ServerTarget:
    """A running server, through `labelport.sdk`. A file's losses are stored in its import's
    counts, as embedded: with its batch line, or with its packet when sent alone.

    `media_is_shared`: the server reads local media paths itself (same machine, started with
    `--media-root` over them), so they go in batches as file:// URLs instead of uploads."""

    def __init__(self, url: str, key: str, project: str, *, media_is_shared: bool = False) -> None:
        from labelport.sdk import Project

        client_id, _, secret = key.partition(":")
        self.sdk = Project(project, client_id, secret, host=url)
        self.media_is_shared = media_is_shared
        self.cannot_find = False
        self.cannot_find_many = False

    def labels(self) -> dict[str, int]:
        return {x["name"]: x["id"] for x in self.sdk.labels()}

    def attribute_groups(self) -> list[dict[str, Any]]:
        return [_plain(g) for g in self.sdk.attribute_groups()]

    def create_attribute_group(self, **fields: Any) -> dict[str, Any]:
        return _plain(self.sdk.new_attribute_group(**fields))

    def add_attribute_option(self, group_id: int, name: str) -> dict[str, Any]:
        return _plain(self.sdk.add_attribute_option(group_id, name))

    def find(self, key: str) -> dict[str, Any] | None:
        return self._find(idempotency_key=key)

    def latest(self, stem: str, status: str | None = None) -> dict[str, Any] | None:
        return self._find(key_stem=stem, status=status)

    def _find(self, **query: str | None) -> dict[str, Any] | None:
        from labelport.sdk.errors import LabelportHTTPError

        if self.cannot_find:
            return None
        try:
            found = self.sdk.find_import(**query)
        except LabelportHTTPError as exc:
            if exc.status not in (400, 404, 405, 422):
                raise
            # A server older than imports/find (its /imports/{id} takes "find" for an id):
            # every packet is sent, and the server answers a known key with its first import.
            self.cannot_find = True
            return None
        return None if found is None else found.data

    def file(self, file_id: int) -> dict[str, Any] | None:
        from labelport.sdk.errors import LabelportHTTPError

        try:
            return self.sdk.file.get_by_id(file_id).data
        except LabelportHTTPError as exc:
            if exc.status == 404:
                return None
            raise

    def submit(
        self, packet: dict[str, Any], media: Path | None, losses: Counter[str]
    ) -> dict[str, Any]:
        from labelport.sdk.errors import PacketRejected

        packet = dict(packet)
        media_info = packet.pop("media", None) or {}
        try:
            if "file_id" in packet:
                imp = self.sdk.file.update(packet.pop("file_id"), **packet)
            elif media is None:
                # the importer's packets without a file_id or a local file carry media by URL
                url, media_type = media_info.get("url"), media_info.get("type")
                imp = self.sdk.file.from_url(
                    cast(str, url), media_type=cast(str, media_type), **packet
                )
            else:
                imp = self.sdk.file.from_local(media, media_type=media_info.get("type"), **packet)
        except PacketRejected as exc:
            problems = [Problem(p.code, p.path, p.message) for p in exc.problems]
            raise Refused(problems, exc.problem_count) from None
        return imp.data

    def get(self, import_id: int) -> dict[str, Any]:
        return self.sdk.get_import(import_id).data

    def find_many(self, keys: Sequence[str], stems: Sequence[str]) -> Found:
        from labelport.sdk.errors import LabelportHTTPError

        if not self.cannot_find_many and not self.cannot_find:
            try:
                found = self.sdk.find_imports(keys=keys, stems=stems)
            except LabelportHTTPError as exc:
                if exc.status not in (400, 404, 405, 422):
                    raise
                # A server older than the bulk look-up: one request per key and stem, as before.
                self.cannot_find_many = True
            else:
                return {part: {k: i.data for k, i in v.items()} for part, v in found.items()}
        out: Found = {"keys": {}, "latest": {}, "latest_success": {}}
        for key in keys:
            if (imp := self.find(key)) is not None:
                out["keys"][key] = imp
        for stem in stems:
            if (newest := self.latest(stem)) is None:
                continue
            out["latest"][stem] = newest
            success = newest if newest["status"] == "success" else self.latest(stem, "success")
            if success is not None:
                out["latest_success"][stem] = success
        return out

    def batch_url(self, media: Path) -> str | None:
        return file_url(media) if self.media_is_shared else None

    def submit_batch(
        self,
        lines: Sequence[bytes],
        losses: Sequence[Counter[str]],
        *,
        on_error: str = "reject",
        media: str = "copy",
    ) -> dict[str, Any]:
        from labelport.sdk.errors import LabelportHTTPError

        lost = {n: dict(lost) for n, lost in enumerate(losses) if lost}
        try:
            batch = self.sdk.import_batch(
                lines,
                on_error=on_error,
                media=media,
                source="labelport import",
                losses=lost or None,
            )
        except LabelportHTTPError as exc:
            if exc.status in (404, 405):
                raise NoBatches(exc.message) from None
            raise
        return batch.data

    def get_batch(
        self, batch_id: int, *, page: int = 1, per_page: int = 100, warned: bool = False
    ) -> dict[str, Any]:
        return self.sdk.get_batch(batch_id, page=page, per_page=per_page, warned=warned).data

    def wait_batch(self, batch_id: int, timeout: float) -> dict[str, Any]:
        time.sleep(timeout)
        return self.get_batch(batch_id, per_page=0)
