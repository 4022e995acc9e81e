"""What `labelport check` checks a packet against: a labels file, or a project's labels and
attribute groups (embedded, or a running server's through its API); and the instances under a
frame key that is itself invalid, which the decode reports once and sets aside."""

from __future__ import annotations

import json
from typing import Any

from labelport import format as fmt

FRAME_MAP = "frame_packet_map"
_KEY_INVALID = "frame.key_invalid"


class Against:
    """The project side of the checks: labels, attribute groups, and (embedded) the models and
    runs the packet may name by id. `describe` says what was checked, for the summary line."""

    def __init__(self, context: Any | None, describe: str, with_attributes: bool = True) -> None:
        self.context = context
        self.describe = describe
        self.with_attributes = with_attributes  # a labels file names no attribute groups

    @property
    def labels(self) -> fmt.LabelIndex | None:
        return None if self.context is None else self.context.label_index

    @property
    def attributes(self) -> Any | None:
        if self.context is None or not self.with_attributes:
            return None
        return self.context.attribute_schema

    def check(self, packet: fmt.Packet, report: fmt.Report, media_type: str | None) -> None:
        fmt.check_packet(
            packet,
            labels=self.labels,
            attributes=self.attributes,
            media_type=media_type,
            strict=report.strict,
            report=report,
        )
        if self.context is not None and self.context.store is not None:
            self.context.check_references(packet, report)


def from_names(names: list[str], source: str) -> Against:
    from labelport.ingest.context import ImportContext

    labels = [{"id": i, "name": name} for i, name in enumerate(names, 1)]
    context = ImportContext(0, labels, [], [], [], [])
    return Against(context, f"labels of {source}", with_attributes=False)


def from_store(service: Any, project: str) -> Against:
    """The project's labels, attribute groups, models and runs, read from its database."""
    from labelport.ingest.context import load_context

    project_id = service.get_project(project)["id"]
    context = load_context(service.store, project_id, None)
    return Against(context, f"labels and attributes of project {project}")


def from_server(sdk: Any, project: str, server: str) -> Against:
    """The project's labels and attribute groups, as a running server's API lists them."""
    from labelport.ingest.context import ImportContext

    labels = [{"id": x["id"], "name": x["name"]} for x in sdk.labels()]
    groups = [
        {
            "id": g["id"],
            "kind": g["kind"],
            "options": [{"id": o["id"]} for o in g.get("options") or []],
            "label_ids": g.get("label_ids") or [],
            "min_value": g.get("min_value"),
            "max_value": g.get("max_value"),
        }
        for g in sdk.attribute_groups()
    ]
    context = ImportContext(0, labels, groups, [], [], [])
    return Against(context, f"labels and attributes of project {project} on {server}")


def check_under_invalid_keys(
    data: bytes,
    report: fmt.Report,
    against: Against,
    media_type: str | None,
    info: fmt.MediaInfo | None,
) -> int:
    """Check the instances under each frame key the decode refused (`frame.key_invalid`), as
    if they were one frame's, and add their problems at their own paths
    (`frame_packet_map/<key>/<index>/...`). Returns how many instances that was."""
    keys = [
        p.path.removeprefix(f"{FRAME_MAP}/")
        for p in report.problems
        if p.code == _KEY_INVALID and p.path.startswith(f"{FRAME_MAP}/")
    ]
    if not keys:
        return 0
    try:
        raw = json.loads(data)
        entries = raw[FRAME_MAP]
    except (ValueError, KeyError, TypeError):
        return 0
    if not isinstance(entries, dict):
        return 0
    envelope = {k: v for k, v in raw.items() if k not in (FRAME_MAP, "instance_list")}
    added = 0
    for key in keys:
        items = entries.get(key)
        if not isinstance(items, list):
            continue
        packet, sub = fmt.decode_packet(json.dumps({**envelope, FRAME_MAP: {"0": items}}).encode())
        if packet is None:
            continue
        sub.strict = report.strict
        against.check(packet, sub, media_type)
        if info is not None:
            fmt.check_media(packet, info, strict=report.strict, report=sub)
        inner, outer = f"{FRAME_MAP}/0/", f"{FRAME_MAP}/{key}/"
        for problem in sub.problems:
            if problem.path.startswith(inner):
                path = outer + problem.path.removeprefix(inner)
                report.problem(problem.code, path, problem.message.replace(inner, outer))
        for warning in sub.warnings:
            if warning.path.startswith(inner):
                path = outer + warning.path.removeprefix(inner)
                report.warning(warning.code, path, warning.message.replace(inner, outer))
        added += len(items)
    return added
