"""The packet: one media file and its instances (spec: "Packet")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from labelport.format.instances import Id, Index, Instance, MediaType, ShortText

# msgspec parses "6" into 6 and refuses "06", "1.0" and "+6" for int keys; ge=0 refuses "-1".
FrameNumber = Annotated[int, Meta(ge=0, le=2**63 - 1)]


class Media(msgspec.Struct, kw_only=True):
    url: str | None = None
    type: MediaType | None = None


class Packet(msgspec.Struct, kw_only=True):
    media: Media | None = None
    file_id: Id | None = None
    mode: Literal["update", "update_with_existing"] | None = None
    text_data: str | None = None
    original_filename: str | None = None
    # After a failed fast decode, a bad instance is left as None in its list so that every
    # index stays the index the caller sent; `iter_instances` skips them.
    instance_list: list[Instance | None] | None = None
    frame_packet_map: dict[FrameNumber, list[Instance | None]] | None = None
    directory_id: Id | None = None
    parent_file_id: Id | None = None
    ordinal: Index | None = None
    idempotency_key: ShortText | None = None
    on_error: Literal["reject", "skip_instances"] = "reject"
    auto_create_labels: bool = False
    clip_to_media: bool = False
    dry_run: bool = False
    strict: bool = False

    @property
    def media_type(self) -> str | None:
        if self.media is not None and self.media.type is not None:
            return self.media.type
        if self.frame_packet_map is not None:
            return "video"
        if self.text_data is not None:
            return "text"
        return None


def iter_instances(packet: Packet) -> Iterator[tuple[int | None, int, Instance]]:
    """Yield `(frame or None, index, instance)` for every kept instance, in packet order."""
    if packet.instance_list is not None:
        for index, instance in enumerate(packet.instance_list):
            if instance is not None:
                yield None, index, instance
    if packet.frame_packet_map is not None:
        for frame, instances in packet.frame_packet_map.items():
            for index, instance in enumerate(instances):
                if instance is not None:
                    yield frame, index, instance


def located_lists(packet: Packet) -> list[tuple[int | None, list[Any]]]:
    """`(frame or None, list)` of every instance list, in packet order; entries may be None."""
    lists: list[tuple[int | None, list[Any]]] = []
    if packet.instance_list is not None:
        lists.append((None, packet.instance_list))
    if packet.frame_packet_map is not None:
        lists.extend(packet.frame_packet_map.items())
    return lists


def instance_path(frame: int | None, index: int) -> str:
    if frame is None:
        return f"instance_list/{index}"
    return f"frame_packet_map/{frame}/{index}"
