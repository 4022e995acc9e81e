"""Where `labelport import` sends packets: the embedded Service, or a server through the SDK.

Both answer the same few calls, so the importer does not know which one it talks to.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from labelport.format import Problem


class Refused(Exception):
    """A packet the target refused: every problem, nothing stored."""

    def __init__(self, problems: list[Problem], count: int) -> None:
        super().__init__(f"{count} problems")
        self.problems = problems
        self.count = count


class Target(Protocol):
    def labels(self) -> dict[str, int]: ...
    def create_labels(self, names: list[str]) -> None: ...
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


class EmbeddedTarget:
    def __init__(self, service: Any, project: str) -> None:
        self.service = service
        self.project_id: int = service.get_project(project)["id"]

    def labels(self) -> dict[str, int]:
        return {x["name"]: x["id"] for x in self.service.list_labels(self.project_id)}

    def create_labels(self, names: list[str]) -> None:
        self.service.store.get_or_create_labels(self.project_id, names)

    def attribute_groups(self) -> list[dict[str, Any]]:
        return self.service.list_attribute_groups(self.project_id)

    def create_attribute_group(self, **fields: Any) -> dict[str, Any]:
        return self.service.create_attribute_group(self.project_id, **fields)

    def add_attribute_option(self, group_id: int, name: str) -> dict[str, Any]:
        return self.service.add_attribute_option(self.project_id, group_id, name)

    def find(self, key: str) -> dict[str, Any] | None:
        return self.service.find_import(self.project_id, idempotency_key=key)

    def latest(self, stem: str, status: str | None = None) -> dict[str, Any] | None:
        return self.service.find_import(self.project_id, key_stem=stem, status=status)

    def file(self, file_id: int) -> dict[str, Any] | None:
        from labelport.errors import NotFound

        try:
            return self.service.get_file(self.project_id, file_id)
        except NotFound:
            return None

    def submit(
        self, packet: dict[str, Any], media: Path | None, losses: Counter[str]
    ) -> dict[str, Any]:
        from labelport.errors import Rejected

        extra = {"losses": dict(losses)} if losses else None
        try:
            if media is None:
                return self.service.submit_packet(
                    self.project_id, packet, source="labelport import", import_counts=extra
                )
            with open(media, "rb") as stream:
                return self.service.submit_packet(
                    self.project_id,
                    packet,
                    source="labelport import",
                    upload=(media.name, stream),
                    import_counts=extra,
                )
        except Rejected as exc:
            raise Refused(list(exc.report.problems), exc.report.problem_count) from None

    def get(self, import_id: int) -> dict[str, Any]:
        return self.service.get_import(self.project_id, import_id)


class ServerTarget:
    """A running server, through `labelport.sdk` (losses are shown, not stored, there)."""

    def __init__(self, url: str, key: str, project: str) -> None:
        from labelport.sdk import Project

        client_id, _, secret = key.partition(":")
        self.sdk = Project(project, client_id, secret, host=url)
        self.cannot_find = False

    def labels(self) -> dict[str, int]:
        return {x["name"]: x["id"] for x in self.sdk.labels()}

    def create_labels(self, names: list[str]) -> None:
        self.sdk.labels_new(names)

    def attribute_groups(self) -> list[dict[str, Any]]:
        return self.sdk.attribute_groups()

    def create_attribute_group(self, **fields: Any) -> dict[str, Any]:
        return self.sdk.new_attribute_group(**fields)

    def add_attribute_option(self, group_id: int, name: str) -> dict[str, Any]:
        return self.sdk.add_attribute_option(group_id, name)

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
                imp = self.sdk.file.from_url(
                    media_info.get("url"), media_type=media_info.get("type"), **packet
                )
            else:
                imp = self.sdk.file.from_local(media, media_type=media_info.get("type"), **packet)
        except PacketRejected as exc:
            problems = [Problem(p.code, p.path, p.message) for p in exc.problems]
            raise Refused(problems, exc.problem_count) from None
        return imp.data

    def get(self, import_id: int) -> dict[str, Any]:
        return self.sdk.get_import(import_id).data
