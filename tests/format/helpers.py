"""Shared helpers of the format tests: run the whole pipeline on a Python packet."""

from __future__ import annotations

import json
from typing import Any

from labelport.format import (
    AttributeSchema,
    LabelIndex,
    MediaInfo,
    Report,
    check_media,
    check_packet,
    decode_packet,
)


def run(
    packet: dict[str, Any] | bytes,
    *,
    labels: list[str] | None = None,
    attributes: AttributeSchema | None = None,
    media_type: str | None = None,
    media: MediaInfo | None = None,
    strict: bool = False,
    clip: bool = False,
) -> tuple[Any, Report]:
    data = packet if isinstance(packet, bytes) else json.dumps(packet).encode()
    decoded, report = decode_packet(data)
    if decoded is None:
        return None, report
    index = LabelIndex.from_names(labels) if labels is not None else None
    check_packet(
        decoded,
        labels=index,
        attributes=attributes,
        media_type=media_type,
        strict=strict,
        report=report,
    )
    if media is not None:
        check_media(decoded, media, clip=clip, strict=strict, report=report)
    return decoded, report


def image(*instances: Any, **keys: Any) -> dict[str, Any]:
    return {
        "media": {"url": "https://example.com/a.jpg", "type": "image"},
        "instance_list": list(instances),
        **keys,
    }


def codes(report: Report) -> list[tuple[str, str]]:
    return [(p.code, p.path) for p in report.problems]


def warning_codes(report: Report) -> list[tuple[str, str]]:
    return [(p.code, p.path) for p in report.warnings]
