"""Checks that need the media: `check_media`, run once the file is probed.

A bound whose fact is unknown (None in `MediaInfo`) is skipped rather than guessed.

Sub-pixel overshoot is not an error: exporters round (YOLO's 6 decimals put a box touching the
left edge at x_min -7.5e-06; polygon tools save vertices a fraction of a pixel past the edge), and
other tools accept it. A planar coordinate less than `TOLERANCE` pixels outside the media is
clamped to the media, in the instance itself so that the clamped value is what is stored, and
warned about as `shape.clamped` (counted in `report.counts["clamped"]`). Beyond it, the
coordinate stays a `shape.outside_media` problem (or is clipped, with clip_to_media).
"""

from __future__ import annotations

from typing import Any

from labelport.format._gc import paused
from labelport.format.instances import (
    Audio,
    Box,
    Cuboid,
    Curve,
    Ellipse,
    Keypoints,
    Line,
    PointInstance,
    Polygon,
    TextToken,
)
from labelport.format.media_info import MediaInfo
from labelport.format.packet import Packet, instance_path, located_lists
from labelport.format.problems import Report

# A coordinate less than this many pixels outside the media is taken as on its edge. A whole
# pixel out is an off-by-one, not rounding, and stays a problem.
TOLERANCE = 1.0


def check_media(
    packet: Packet,
    media: MediaInfo,
    *,
    clip: bool = False,
    strict: bool = False,
    report: Report | None = None,
) -> Report:
    """Frames within the video, shapes within the image, tokens and times within the media.

    With `clip` (the packet's clip_to_media) shapes are clipped to the media and warned about.
    """
    if report is None:
        report = Report()
    report.strict = report.strict or strict or packet.strict
    clip = clip or packet.clip_to_media
    with paused():
        if media.frame_count is not None and packet.frame_packet_map:
            last = media.frame_count - 1
            for number, listed in packet.frame_packet_map.items():
                if number > last:
                    for index, item in enumerate(listed):
                        if item is not None:
                            report.problem(
                                "frame.out_of_range",
                                f"frame_packet_map/{number}/{index}",
                                f"frame {number} is beyond the video's last frame {last} "
                                f"({media.frame_count} frames)",
                                (number, index),
                            )
        planar = media.width is not None and media.height is not None
        width, height = media.width or 0, media.height or 0  # read only when planar
        for frame, instances in located_lists(packet):
            # Most lists are boxes well inside the media: one cheap pass proves it, and only a
            # list that fails it (or holds other types) gets the per-instance checks and paths.
            if planar and _boxes_inside(instances, width, height):
                continue
            for index, instance in enumerate(instances):
                check = _CHECKS.get(instance.__class__)
                if check is None:
                    continue
                path = instance_path(frame, index)
                if check is _check_token or check is _check_audio:
                    check(instance, path, (frame, index), media, report)
                elif planar:
                    _check_planar(instance, path, (frame, index), width, height, clip, report)
    return report


def _boxes_inside(instances: list[Any], width: int, height: int) -> bool:
    """True when every instance is a box within the media (a NaN fails every comparison)."""
    for box in instances:
        if not (
            box.__class__ is Box
            and 0 <= box.x_min <= width
            and 0 <= box.x_max <= width
            and 0 <= box.y_min <= height
            and 0 <= box.y_max <= height
        ):
            return False
    return True


def _points(instance: Any) -> list[tuple[str, Any]]:
    """(path suffix, point object) of every point a planar instance has."""
    cls = instance.__class__
    if cls in (Polygon, Line, PointInstance):
        return [(f"points/{i}", p) for i, p in enumerate(instance.points)]
    if cls is Curve:
        return [("p1", instance.p1), ("p2", instance.p2), ("cp", instance.cp)]
    if cls is Cuboid:
        return [
            (f"{face}/{corner}", getattr(getattr(instance, face), corner))
            for face in ("front_face", "rear_face")
            for corner in ("top_left", "top_right", "bot_left", "bot_right")
        ]
    if cls is Keypoints:
        # Occluded nodes may lie outside the image (a hidden hand, for instance).
        return [(f"nodes/{i}", n) for i, n in enumerate(instance.nodes) if not n.occluded]
    return []


def _check_planar(
    instance: Any,
    path: str,
    at: tuple[int | None, int],
    width: int,
    height: int,
    clip: bool,
    report: Report,
) -> None:
    cls = instance.__class__
    if cls is Box:
        coords = [("x_min", width), ("x_max", width), ("y_min", height), ("y_max", height)]
        if _bound(instance, coords, path, at, width, height, clip, report):
            # A box wholly past an edge (both x at 640.2 and 640.4) has nothing left once
            # clamped: the packet checks ran before, so say it here.
            for low, high in (("x_min", "x_max"), ("y_min", "y_max")):
                if getattr(instance, low) >= getattr(instance, high):
                    report.problem(
                        "box.empty",
                        f"{path}/{high}",
                        f"the box has no {'width' if low == 'x_min' else 'height'} once "
                        "moved into the media",
                        at,
                    )
    elif cls is Ellipse:
        coords = [("center_x", width), ("center_y", height)]
        _bound(instance, coords, path, at, width, height, clip, report)
    else:
        for suffix, point in _points(instance):
            _bound(
                point,
                [("x", width), ("y", height)],
                f"{path}/{suffix}",
                at,
                width,
                height,
                clip,
                report,
            )


def _bound(
    obj: Any,
    coords: list[tuple[str, int]],
    path: str,
    at: tuple[int | None, int],
    width: int,
    height: int,
    clip: bool,
    report: Report,
) -> bool:
    """Check `obj`'s coordinates against their limits; True when one was clamped or clipped."""
    moved = False
    for key, limit in coords:
        value = getattr(obj, key)
        if 0 <= value <= limit:
            continue
        clipped = min(max(value, 0), limit)
        size = f"{width}x{height}"
        if -TOLERANCE < value < limit + TOLERANCE:
            setattr(obj, key, float(clipped))
            moved = True
            report.counts["clamped"] = report.counts.get("clamped", 0) + 1
            if not report.lists_warnings:  # past the cap: counted, no message
                report.count_warning("shape.clamped", at)
                continue
            report.warning(
                "shape.clamped",
                f"{path}/{key}",
                f"{key} {value} is less than {TOLERANCE:g} px outside the {size} media; "
                f"clamped to {clipped}",
                at,
            )
        elif clip:
            setattr(obj, key, float(clipped))
            moved = True
            if not report.lists_warnings:
                report.count_warning("shape.clipped", at)
                continue
            report.warning(
                "shape.clipped",
                f"{path}/{key}",
                f"{key} {value} is outside the {size} media; clipped to {clipped}",
                at,
            )
        elif not report.lists_problems:
            report.count_problem("shape.outside_media", at)
        else:
            report.problem(
                "shape.outside_media",
                f"{path}/{key}",
                f"{key} {value} is outside the {size} media (0 to {limit})",
                at,
            )
    return moved


def _check_token(instance: TextToken, path: str, at: Any, media: MediaInfo, report: Report) -> None:
    if media.token_count is None:
        return
    for key in ("start_token", "end_token"):
        value = getattr(instance, key)
        if value >= media.token_count:
            report.problem(
                "text_token.out_of_range",
                f"{path}/{key}",
                f"{key} {value} is beyond the text's last token {media.token_count - 1} "
                f"({media.token_count} tokens)",
                at,
            )


def _check_audio(instance: Audio, path: str, at: Any, media: MediaInfo, report: Report) -> None:
    if media.duration is None:
        return
    for key in ("start_time", "end_time"):
        value = getattr(instance, key)
        if value > media.duration:
            report.problem(
                "audio.out_of_range",
                f"{path}/{key}",
                f"{key} {value} s is beyond the audio's duration {media.duration} s",
                at,
            )


_CHECKS: dict[type, Any] = {
    cls: True for cls in (Box, Ellipse, Polygon, Line, PointInstance, Curve, Cuboid, Keypoints)
}
_CHECKS[TextToken] = _check_token
_CHECKS[Audio] = _check_audio
