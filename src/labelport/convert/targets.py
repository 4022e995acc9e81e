"""Where `labelport import` sends packets: the embedded Service, or a server through the SDK.

Both answer the same few calls, so the importer does not know which one it talks to. Packets go
in batches (`submit_batch`: one request and one job for many files); a local media file goes in a
batch as a file:// URL only where the target can read that path (`can_batch`), else it is
uploaded with its own packet (`submit`).
"""

from __future__ import annotations

import functools
import os
import stat
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

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
    def can_batch(self, media: Path) -> bool: ...
    def submit_batch(
        self,
        packets: Sequence[dict[str, Any]],
        media_paths: Sequence[Path | None],
        losses: Sequence[Counter[str]],
        *,
        on_error: str = "reject",
        media: str = "copy",
    ) -> dict[str, Any]: ...
    def get_batch(self, batch_id: int, *, page: int = 1, per_page: int = 100) -> dict[str, Any]: ...
    def wait_batch(self, batch_id: int, timeout: float) -> dict[str, Any]: ...


class NoBatches(Exception):
    """The target cannot take batches (a server older than them): send packets one by one."""


def file_url(path: Path) -> str:
    return real_path(path).as_uri()


@functools.lru_cache(maxsize=4096)
def _real_folder(folder: Path) -> Path:
    return folder.resolve()


def real_path(path: Path) -> Path:
    """`path.resolve()` for a file of many in few folders: the folder's real path is looked up
    once, the file's own name needs one lstat (a symlinked file is resolved in full)."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            return path.resolve()
    except OSError:
        return path.resolve()
    return _real_folder(path.parent.absolute()) / path.name


def _with_media_urls(
    packets: Sequence[dict[str, Any]], media_paths: Sequence[Path | None]
) -> list[dict[str, Any]]:
    """The packets, a local media file named by its file:// URL (the target reads it there)."""
    out = []
    for packet, path in zip(packets, media_paths, strict=True):
        if path is not None:
            packet = {**packet, "media": {**packet.get("media", {}), "url": file_url(path)}}
        out.append(packet)
    return out


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

    def can_batch(self, media: Path) -> bool:
        resolved = real_path(media)
        return any(resolved.is_relative_to(root) for root in self.media_roots)

    def submit_batch(
        self,
        packets: Sequence[dict[str, Any]],
        media_paths: Sequence[Path | None],
        losses: Sequence[Counter[str]],
        *,
        on_error: str = "reject",
        media: str = "copy",
    ) -> dict[str, Any]:
        counts = {n: {"losses": dict(lost)} for n, lost in enumerate(losses) if lost}
        return _plain(
            self.service.submit_batch(
                self.project_id,
                _with_media_urls(packets, media_paths),
                on_error=on_error,
                media=media,
                source="labelport import",
                import_counts=counts or None,
            )
        )

    def get_batch(self, batch_id: int, *, page: int = 1, per_page: int = 100) -> dict[str, Any]:
        self._jobs_seen = self.service.dispatcher.jobs_ended  # first: an end after it is news
        return _plain(
            self.service.get_batch(self.project_id, batch_id, page=page, per_page=per_page)
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

    def can_batch(self, media: Path) -> bool:
        return self.media_is_shared

    def submit_batch(
        self,
        packets: Sequence[dict[str, Any]],
        media_paths: Sequence[Path | None],
        losses: Sequence[Counter[str]],
        *,
        on_error: str = "reject",
        media: str = "copy",
    ) -> dict[str, Any]:
        from labelport.sdk.errors import LabelportHTTPError

        lines = _with_media_urls(packets, media_paths)
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

    def get_batch(self, batch_id: int, *, page: int = 1, per_page: int = 100) -> dict[str, Any]:
        return self.sdk.get_batch(batch_id, page=page, per_page=per_page).data

    def wait_batch(self, batch_id: int, timeout: float) -> dict[str, Any]:
        time.sleep(timeout)
        return self.get_batch(batch_id, per_page=0)
