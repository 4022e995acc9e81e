"""Every check that needs no media: `check_packet`.

Written for the valid case first. Each check runs over the whole packet at once with C-level
iteration (`map`, `set`, `Counter`, `all`), and only when it finds something does it walk the
instances again, in order, to name each one's path. A million boxes cost a few passes of
`map(attrgetter)` rather than a million method calls.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from itertools import chain
from operator import attrgetter, lt
from typing import Any, cast

from labelport._gc import paused
from labelport.format.attributes import AttributeSchema, value_problem
from labelport.format.instances import (
    LABELLESS,
    TYPES_FOR_MEDIA,
    Audio,
    Box,
    Cuboid3D,
    GeoBox,
    Keypoints,
    Polygon,
    Relation,
    TextToken,
)
from labelport.format.labels import LabelIndex
from labelport.format.packet import Packet, instance_path, iter_instances, located_lists
from labelport.format.problems import Report, show

_name = attrgetter("name")
_number = attrgetter("number")
_label_file_id = attrgetter("label_file_id")
_sequence_id = attrgetter("sequence_id")
_id = attrgetter("id")
_model_run_ref = attrgetter("model_run_ref")
_attribute_groups = attrgetter("attribute_groups")
_x_min, _x_max = attrgetter("x_min"), attrgetter("x_max")
_y_min, _y_max = attrgetter("y_min"), attrgetter("y_max")


def _tag(cls: type) -> str:
    tag: str = cls.__struct_config__.tag  # type: ignore[attr-defined]
    return tag


def check_packet(
    packet: Packet,
    *,
    labels: LabelIndex | None = None,
    attributes: AttributeSchema | None = None,
    media_type: str | None = None,
    strict: bool = False,
    report: Report | None = None,
    stored_ids: Callable[[], Collection[str]] | None = None,
) -> Report:
    """Run every media-free check; normalises in place (null number -> 1, inverted boxes).

    `stored_ids`: the external ids of the instances already in the file the packet updates,
    which its relations may name in `update` mode; called only if a relation names an id the
    packet lacks."""
    with paused():
        return _check_packet(packet, labels, attributes, media_type, strict, report, stored_ids)


def _check_packet(
    packet: Packet,
    labels: LabelIndex | None,
    attributes: AttributeSchema | None,
    media_type: str | None,
    strict: bool,
    report: Report | None,
    stored_ids: Callable[[], Collection[str]] | None = None,
) -> Report:
    if report is None:
        report = Report()
    report.strict = report.strict or strict or packet.strict
    media_type = media_type or packet.media_type
    _check_packet_keys(packet, media_type, report)

    lists = [instances for _frame, instances in located_lists(packet)]
    if any(None in instances for instances in lists):
        # Left by decode_packet in place of instances it already reported; dropped in C
        # (an instance struct is always true), not counted: dense junk leaves millions.
        lists = [list(filter(None, instances)) for instances in lists]
    per_class = Counter(map(type, chain.from_iterable(lists)))

    def every() -> Iterator[Any]:
        return chain.from_iterable(lists)

    total = sum(per_class.values())
    counts: dict[str, Any] = {
        "instances": total,
        "per_type": {_tag(cls): n for cls, n in per_class.items()},
    }
    if report.problem_counts_by_code:  # found by decode: a failed import stores it in counts
        counts["problem_counts_by_code"] = report.problem_counts_by_code
    report.counts = counts
    if not total:
        counts["per_label"] = {}
        if packet.frame_packet_map is not None:
            counts["frames"] = 0
            counts["sequences_per_label"] = {}
        return report

    if media_type in TYPES_FOR_MEDIA:
        misfits = set(counts["per_type"]) - TYPES_FOR_MEDIA[media_type]
        if misfits:
            _report_misfits(packet, misfits, media_type, report)

    name_counts = _count_names(packet, every, report)
    label_ids = set(map(_label_file_id, every()))
    label_ids.discard(None)
    if None in name_counts:
        _report_missing_labels(packet, report)
    if labels is not None:
        _check_labels(packet, name_counts, label_ids, labels, report, counts)
    counts["per_label"] = {
        (name if name is not None else "(by label_file_id)"): n for name, n in name_counts.items()
    }

    if None in set(map(_number, every())):
        for instance in every():
            if instance.number is None:
                instance.number = 1
    if packet.frame_packet_map is not None:
        # The map's lists are the last ones (an empty map must slice to none: not lists[-0:]).
        frame_lists = lists[len(lists) - len(packet.frame_packet_map) :]
        _check_sequences(packet, frame_lists, label_ids, labels, report, counts)

    id_set = set(map(_id, every()))
    if id_set != {None}:
        id_set.discard(None)
        if len(id_set) != sum(1 for i in every() if i.id is not None):
            _report_duplicate_ids(packet, report)

    run_refs = set(map(_model_run_ref, every()))
    if run_refs != {None}:
        for frame, index, instance in iter_instances(packet):
            if instance.model_run_ref is not None and (
                instance.model_ref is None and instance.model_id is None
            ):
                if not report.lists_problems:
                    report.count_problem("model.run_without_model", (frame, index))
                    continue
                report.problem(
                    "model.run_without_model",
                    instance_path(frame, index) + "/model_run_ref",
                    f"model_run_ref {show(instance.model_run_ref)} needs model_ref or model_id "
                    "to say which model the run belongs to",
                    (frame, index),
                )

    if any(map(_attribute_groups, every())):
        _check_attributes(packet, attributes, labels, report)

    if Box in per_class:
        boxes = list(every()) if len(per_class) == 1 else [i for i in every() if i.__class__ is Box]
        if not (
            all(map(lt, map(_x_min, boxes), map(_x_max, boxes)))
            and all(map(lt, map(_y_min, boxes), map(_y_max, boxes)))
        ):
            _fix_boxes(packet, report)

    checkers = {cls: _CHECKERS[cls] for cls in per_class if cls in _CHECKERS}
    if checkers:
        context = {"ids": id_set, "where": "this packet"}
        if Relation in checkers:
            _add_stored_ends(packet, lists, id_set, stored_ids, context)
        for frame, index, instance in iter_instances(packet):
            check = checkers.get(instance.__class__)
            if check is not None:
                check(instance, _Path(frame, index), (frame, index), report, context)
    return report


def _check_packet_keys(packet: Packet, media_type: str | None, report: Report) -> None:
    sources = [
        key
        for key, value in (
            ("media", packet.media),
            ("file_id", packet.file_id),
            ("text_data", packet.text_data),
        )
        if value is not None
    ]
    if len(sources) > 1:
        report.problem(
            "packet.conflicting_keys",
            sources[1],
            f"give one of media, file_id or text_data; got {', '.join(sources)}",
        )
    if packet.instance_list is not None and packet.frame_packet_map is not None:
        report.problem(
            "packet.conflicting_keys",
            "frame_packet_map",
            "give instance_list (images and other media) or frame_packet_map (video), not both",
        )
    if packet.mode is not None and packet.file_id is None:
        report.problem(
            "packet.mode_without_file",
            "mode",
            f"mode {show(packet.mode)} adds to an existing file and needs file_id",
        )
    if media_type == "video" and packet.instance_list is not None:
        report.problem(
            "packet.wrong_container",
            "instance_list",
            "a video takes frame_packet_map {frame: instance_list}, not instance_list",
        )
    if media_type not in (None, "video") and packet.frame_packet_map is not None:
        report.problem(
            "packet.wrong_container",
            "frame_packet_map",
            f"frame_packet_map is for video; a {media_type} takes instance_list",
        )


def _report_misfits(packet: Packet, misfits: set[str], media_type: str, report: Report) -> None:
    allowed = ", ".join(sorted(TYPES_FOR_MEDIA[media_type]))
    for frame, index, instance in iter_instances(packet):
        tag = _tag(instance.__class__)
        if tag in misfits and not report.lists_problems:
            report.count_problem("instance.type_not_for_media", (frame, index))
        elif tag in misfits:
            report.problem(
                "instance.type_not_for_media",
                instance_path(frame, index) + "/type",
                f"a {tag} instance does not fit a {media_type} file (it takes {allowed})",
                (frame, index),
            )


def _count_names(packet: Packet, every: Any, report: Report) -> Counter[Any]:
    try:
        return Counter(map(_name, every()))
    except TypeError:
        pass
    # A list of one string (the walkthrough's mock passes name=["cat"]).
    for frame, index, instance in iter_instances(packet):
        name = instance.name
        if isinstance(name, list):
            path = _Path(frame, index, "name")
            if len(name) == 1 and isinstance(name[0], str):
                instance.name = name[0]
                report.warning_of(
                    "label.name_list",
                    path,
                    lambda: f"name is a list {show(name)}; using {show(name[0])}",  # noqa: B023
                )
            else:
                report.problem_of(
                    "value.wrong_kind",
                    path,
                    lambda: f"name must be a string, got {show(name)}",  # noqa: B023
                    (frame, index),
                )
                instance.name = None
    return Counter(map(_name, every()))


def _report_missing_labels(packet: Packet, report: Report) -> None:
    for frame, index, instance in iter_instances(packet):
        if (
            instance.name is None
            and instance.label_file_id is None
            and _tag(instance.__class__) not in LABELLESS
            and (frame, index) not in report.rejected
        ):
            if not report.lists_problems:
                report.count_problem("label.missing", (frame, index))
                continue
            report.problem(
                "label.missing",
                instance_path(frame, index) + "/name",
                f"a {_tag(instance.__class__)} needs a label: give `name` (or label_file_id)",
                (frame, index),
            )


def _check_labels(
    packet: Packet,
    name_counts: Counter[Any],
    label_ids: set[int],
    labels: LabelIndex,
    report: Report,
    counts: dict[str, Any],
) -> None:
    unknown = set(name_counts) - labels.names.keys()
    unknown.discard(None)
    # "" or spaces name nothing a person could pick: never made a label, and said so
    blank = {name for name in unknown if isinstance(name, str) and not name.strip()}
    if packet.auto_create_labels and unknown - blank:
        counts["labels_to_create"] = sorted(unknown - blank)
        unknown = blank
    unknown_ids = label_ids - labels.ids
    if not unknown and not unknown_ids:
        return
    hints: dict[str, str | None] = {}  # asked once per name, only while problems are listed
    for frame, index, instance in iter_instances(packet):
        if instance.label_file_id is not None:
            # label_file_id supersedes name.
            if instance.label_file_id in unknown_ids and not report.lists_problems:
                report.count_problem("label.id_unknown", (frame, index))
            elif instance.label_file_id in unknown_ids:
                report.problem(
                    "label.id_unknown",
                    instance_path(frame, index) + "/label_file_id",
                    f"label_file_id {instance.label_file_id} is not a label of this project",
                    (frame, index),
                )
        elif instance.name in blank:
            report.problem_of(
                "label.missing",
                lambda: instance_path(frame, index) + "/name",  # noqa: B023 (called at once)
                lambda: f"name {show(instance.name)} is blank: a label needs a visible name",  # noqa: B023
                (frame, index),
            )
        elif instance.name in unknown and not report.lists_problems:
            report.count_problem("label.unknown", (frame, index))
        elif instance.name in unknown:
            name = cast(str, instance.name)  # a member of `unknown`: hashable, so a str
            if name not in hints:
                hints[name] = labels.suggest(name)
            hint = hints[name]
            more = f'; did you mean "{hint}"?' if hint else ""
            report.problem(
                "label.unknown",
                instance_path(frame, index) + "/name",
                f"label {show(name)} is not a label of this project{more}",
                (frame, index),
            )


def _label_key(instance: Any, labels: LabelIndex | None) -> Any:
    if instance.label_file_id is not None:
        return instance.label_file_id
    if labels is not None and instance.name in labels.names:
        return labels.names[instance.name]
    return instance.name


def _check_sequences(
    packet: Packet,
    lists: list[list[Any]],
    label_ids: set[int],
    labels: LabelIndex | None,
    report: Report,
    counts: dict[str, Any],
) -> None:
    frame_map = packet.frame_packet_map or {}
    simple = not label_ids and set(map(_sequence_id, chain.from_iterable(lists))) == {None}
    sequences: set[tuple[Any, Any]] = set()
    frames_with_instances = 0
    for frame, instances in zip(frame_map, lists, strict=True):
        if not instances:
            continue
        frames_with_instances += 1
        if simple:
            keys = set(zip(map(_name, instances), map(_number, instances), strict=True))
        else:
            keys = {
                ("sequence_id", i.sequence_id)
                if i.sequence_id is not None
                else (_label_key(i, labels), i.number)
                for i in instances
            }
        sequences |= keys
        if len(keys) != len(instances):
            _report_duplicates_in_frame(frame, frame_map[frame], labels, report)
    counts["frames"] = frames_with_instances
    per_label: Counter[Any] = Counter(label for label, _ in sequences if label != "sequence_id")
    names_by_id = {v: k for k, v in labels.names.items()} if labels is not None else {}
    counts["sequences_per_label"] = {
        str(names_by_id.get(label, label)): n for label, n in per_label.items()
    }
    counts["sequences"] = len(sequences)


def _report_duplicates_in_frame(
    frame: int, instances: list[Any], labels: LabelIndex | None, report: Report
) -> None:
    seen: dict[Any, int] = {}
    for index, instance in enumerate(instances):
        if instance is None:
            continue
        if instance.sequence_id is not None:
            key: Any = ("sequence_id", instance.sequence_id)
        else:
            key = (_label_key(instance, labels), instance.number)
        if key not in seen:
            seen[key] = index
        elif not report.lists_problems:  # past the cap: counted, no message
            report.count_problem("sequence.duplicate_in_frame", (frame, index))
        else:
            if instance.sequence_id is not None:
                what = f"sequence_id {instance.sequence_id}"
            else:
                label = instance.name if instance.name is not None else instance.label_file_id
                what = f"label {show(label)} with number {instance.number}"
            report.problem(
                "sequence.duplicate_in_frame",
                f"frame_packet_map/{frame}/{index}/number",
                f"{what} is already in frame {frame} (instance {seen[key]}); one sequence has "
                "at most one instance per frame",
                (frame, index),
            )


def _report_duplicate_ids(packet: Packet, report: Report) -> None:
    seen: dict[Any, tuple[int | None, int]] = {}  # id -> where first; a path only if listed
    for frame, index, instance in iter_instances(packet):
        if instance.id is None:
            continue
        if instance.id in seen and not report.lists_problems:
            report.count_problem("instance.id_duplicate", (frame, index))
            continue
        if instance.id in seen:
            report.problem(
                "instance.id_duplicate",
                instance_path(frame, index) + "/id",
                f"id {show(instance.id)} is already used by {instance_path(*seen[instance.id])}; "
                "ids must be unique within a file",
                (frame, index),
            )
        else:
            seen[instance.id] = (frame, index)


def _check_attributes(
    packet: Packet,
    schema: AttributeSchema | None,
    labels: LabelIndex | None,
    report: Report,
) -> None:
    # Past the cap each problem is only counted: no path, no message (`problem_of`).
    for frame, index, instance in iter_instances(packet):
        groups = instance.attribute_groups
        if not groups:
            continue
        label_id = None
        for key, value in groups.items():
            where = (frame, index)
            path = _Path(frame, index, f"attribute_groups/{key}")
            if not (key.isdecimal() and key.isascii()):
                report.problem_of(
                    "attribute.group_invalid",
                    path,
                    lambda: f"attribute group key {show(key)} is not a group id (an integer)",  # noqa: B023
                    where,
                )
                continue
            if schema is None:
                continue
            group = schema.groups.get(int(key))
            if group is None:
                report.problem_of(
                    "attribute.group_unknown",
                    path,
                    lambda: f"attribute group {key} does not exist in this project",  # noqa: B023
                    where,
                )
                continue
            if group.label_ids and label_id is None:
                label_id = _label_key(instance, labels)
            if group.label_ids and isinstance(label_id, int) and label_id not in group.label_ids:
                report.problem_of(
                    "attribute.not_for_label",
                    path,
                    lambda key=key, name=instance.name: (  # type: ignore[misc]  # defaults bind
                        f"attribute group {key} does not apply to label {show(name)}"
                    ),
                    where,
                )
                continue
            problem = value_problem(group, value)
            if problem:
                report.problem_of(
                    "attribute.value_invalid",
                    path,
                    lambda key=key, group=group, problem=problem, value=value: (  # type: ignore[misc]
                        f"attribute group {key} ({group.kind}): {problem}; got {show(value)}"
                    ),
                    where,
                )


def _fix_boxes(packet: Packet, report: Report) -> None:
    for frame, index, box in iter_instances(packet):
        if box.__class__ is not Box:
            continue
        for low, high in (("x_min", "x_max"), ("y_min", "y_max")):
            a, b = getattr(box, low), getattr(box, high)
            if a == b:
                if not report.lists_problems:  # past the cap: counted, no path or message
                    report.count_problem("box.empty", (frame, index))
                    continue
                report.problem(
                    "box.empty",
                    f"{instance_path(frame, index)}/{high}",
                    f"{low} and {high} are both {a}: the box has no "
                    f"{'width' if low == 'x_min' else 'height'}",
                    (frame, index),
                )
            elif a > b:
                setattr(box, low, b)
                setattr(box, high, a)
                if not report.lists_warnings:
                    report.count_warning("box.inverted", (frame, index))
                    continue
                report.warning(
                    "box.inverted",
                    f"{instance_path(frame, index)}/{low}",
                    f"{low} {a} is greater than {high} {b}; swapped them",
                    (frame, index),
                )


def _collinear(points: list[Any]) -> bool:
    x0, y0 = points[0].x, points[0].y
    # The farthest point from the first fixes the line; then every cross product must be ~0.
    far = max(points, key=lambda p: (p.x - x0) ** 2 + (p.y - y0) ** 2)
    dx, dy = far.x - x0, far.y - y0
    scale = math.hypot(dx, dy)
    if scale == 0:
        return True
    return all(abs(dx * (p.y - y0) - dy * (p.x - x0)) <= 1e-9 * scale * scale for p in points)


class _Path:
    """The path of (a key of) an instance, built only if a problem is listed: a checker runs
    for every instance of its type, and past the cap a problem is only counted. `path / "key"`
    is the path of a key; calling it gives the string."""

    __slots__ = ("frame", "index", "suffix")

    def __init__(self, frame: int | None, index: int, suffix: str = "") -> None:
        self.frame, self.index, self.suffix = frame, index, suffix

    def __truediv__(self, key: object) -> _Path:
        suffix = f"{self.suffix}/{key}" if self.suffix else str(key)
        return _Path(self.frame, self.index, suffix)

    def __call__(self) -> str:
        path = instance_path(self.frame, self.index)
        return f"{path}/{self.suffix}" if self.suffix else path


def _check_polygon(instance: Polygon, path: _Path, at: Any, report: Report, ctx: Any) -> None:
    if _collinear(instance.points):
        count = len(instance.points)
        report.warning_of(
            "polygon.collinear",
            path / "points",
            lambda: f"all {count} points of the polygon lie on one line (it has no area)",
            at,
        )


def _check_keypoints(instance: Keypoints, path: _Path, at: Any, report: Report, ctx: Any) -> None:
    ids: set[Any] = set()
    for i, node in enumerate(instance.nodes):
        if node.id in ids:
            report.problem_of(
                "keypoints.node_id_duplicate",
                path / "nodes" / i / "id",
                lambda: f"node id {show(node.id)} is used by an earlier node",  # noqa: B023
                at,
            )
        ids.add(node.id)
    for i, edge in enumerate(instance.edges):
        for key, end in (("from", edge.from_), ("to", edge.to)):
            if end not in ids:
                report.problem_of(
                    "keypoints.edge_unknown_node",
                    path / "edges" / i / key,
                    lambda: f"edge {key} {show(end)} is not the id of a node of this instance",  # noqa: B023
                    at,
                )


def _check_cuboid_3d(instance: Cuboid3D, path: _Path, at: Any, report: Report, ctx: Any) -> None:
    if instance.center_3d is None and instance.position_3d is None:
        report.problem_of(
            "cuboid_3d.missing_center",
            path / "center_3d",
            "a cuboid_3d needs center_3d or position_3d {x, y, z}",
            at,
        )


def _check_text_token(instance: TextToken, path: _Path, at: Any, report: Report, ctx: Any) -> None:
    for low, high in (("start_token", "end_token"), ("start_sentence", "end_sentence")):
        a, b = getattr(instance, low), getattr(instance, high)
        if a is not None and b is not None and a > b:
            report.problem_of(
                "text_token.order",
                path / low,
                lambda: f"{low} {a} is after {high} {b}",  # noqa: B023
                at,
            )


def _check_audio(instance: Audio, path: _Path, at: Any, report: Report, ctx: Any) -> None:
    if instance.start_time >= instance.end_time:
        report.problem_of(
            "audio.order",
            path / "end_time",
            lambda: f"start_time {instance.start_time} must be before end_time {instance.end_time}",
            at,
        )


def _check_relation(instance: Relation, path: _Path, at: Any, report: Report, ctx: Any) -> None:
    start, end = instance.start, instance.end
    for key, value in (("from", start), ("to", end)):
        if value is None:
            report.problem_of(
                "relation.missing_end",
                path / key,
                lambda: f"a relation needs `{key}`: the id of an instance of this file",  # noqa: B023
                at,
            )
        elif value not in ctx["ids"]:
            report.problem_of(
                "relation.unknown_end",
                path / key,
                lambda: f"{key} {show(value)} is not the id of an instance of {ctx['where']}",  # noqa: B023
                at,
            )
    if start is not None and start == end:
        report.problem_of(
            "relation.self",
            path / "to",
            lambda: f"the relation goes from {show(start)} to itself",
            at,
        )


def _add_stored_ends(
    packet: Packet,
    lists: list[list[Any]],
    ids: set[Any],
    stored_ids: Callable[[], Collection[str]] | None,
    context: dict[str, Any],
) -> None:
    """Let relation ends name instances already in the file: in `update` mode those stay beside
    the packet's. Not in `update_with_existing`, which removes every instance not re-sent, so an
    end naming one would point at nothing once the import is written."""
    if packet.file_id is None:
        return
    if packet.mode == "update_with_existing":
        context["where"] = (
            "this packet (update_with_existing removes the file's instances not sent again)"
        )
        return
    context["where"] = f"this packet or of file {packet.file_id}"
    if stored_ids is None:
        return
    ends = {
        end
        for instance in chain.from_iterable(lists)
        if instance.__class__ is Relation
        for end in (instance.start, instance.end)
        if end is not None and end not in ids
    }
    if ends:
        stored = stored_ids()
        # Stored external ids are text: an integer `id` is stored as its decimal form.
        context["ids"] = ids | {end for end in ends if str(end) in stored}


def _check_geo_box(instance: GeoBox, path: _Path, at: Any, report: Report, ctx: Any) -> None:
    (lon0, lat0), (lon1, lat1) = instance.bounds_lonlat
    if not (lon0 < lon1 and lat0 < lat1):
        report.problem_of(
            "geo_box.order",
            path / "bounds_lonlat",
            lambda: (
                "bounds_lonlat must be [[min lon, min lat], [max lon, max lat]], got "
                f"{show([[lon0, lat0], [lon1, lat1]])}"
            ),
            at,
        )


_CHECKERS: dict[type, Any] = {
    Polygon: _check_polygon,
    Keypoints: _check_keypoints,
    Cuboid3D: _check_cuboid_3d,
    TextToken: _check_text_token,
    Audio: _check_audio,
    Relation: _check_relation,
    GeoBox: _check_geo_box,
}
