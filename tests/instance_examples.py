"""Packets holding the example of an instance type (`format.instances.TYPES`), for the tests
parametrized over the type table."""

from __future__ import annotations

from typing import Any

from labelport.format.instances import MEDIA_TYPES, TYPES

# (type, media type) for every media type each instance type fits.
PAIRS = [(name, media) for name, t in TYPES.items() for media in MEDIA_TYPES if media in t.media]
PAIR_IDS = [f"{name}-{media}" for name, media in PAIRS]


def instances_of(type_: str, keys: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The type's example (or `keys` instead), labelled "cat" when the type takes a label; a
    relation comes after the two instances it links (ids "a" and "b")."""
    t = TYPES[type_]
    label = {"name": "cat"} if t.labelled else {}
    instance = {"type": type_, **label, **(t.example if keys is None else keys)}
    if type_ != "relation":
        return [instance]
    return [
        {"type": "tag", "name": "cat", "id": "a", "number": 1},
        {"type": "tag", "name": "cat", "id": "b", "number": 2},
        instance,
    ]


def packet_of(type_: str, media: str, keys: dict[str, Any] | None = None) -> dict[str, Any]:
    """A packet of `media` type whose instances are `instances_of(type_, keys)`; the media
    itself is for the caller to add (url, upload or text_data)."""
    items = instances_of(type_, keys)
    packet: dict[str, Any] = {"media": {"type": media}}
    if media == "video":
        packet["frame_packet_map"] = {"0": items}
    else:
        packet["instance_list"] = items
    return packet
