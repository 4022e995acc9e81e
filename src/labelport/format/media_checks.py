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

from labelport._gc import paused
from labelport.format.instances import TYPE_OF_CLASS, Box
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
                if instance is None:  # refused at decode and skipped (on_error=skip_instances)
                    continue
                within = TYPE_OF_CLASS[instance.__class__].within_media
                if within is None:
                    continue
                at = (frame, index)
                path = instance_path(frame, index)
                moved = False
                for suffix, obj, key, extent in within(instance):
                    where = f"{path}/{suffix}" if suffix else path
                    if extent == "token":
                        _check_token(obj, key, where, at, media, report)
                    elif extent == "time":
                        _check_time(obj, key, where, at, media, report)
                    elif planar:
                        limit = width if extent == "x" else height
                        moved |= _bound(obj, key, limit, where, at, width, height, clip, report)
                if moved and instance.__class__ is Box:
                    _check_box_left(instance, path, at, report)
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


def _check_box_left(box: Box, path: str, at: tuple[int | None, int], report: Report) -> None:
    """A box wholly past an edge (both x at 640.2 and 640.4) has nothing left once clamped: the
    packet checks ran before, so say it here."""
    for low, high in (("x_min", "x_max"), ("y_min", "y_max")):
        if getattr(box, low) >= getattr(box, high):
            report.problem(
                "box.empty",
                f"{path}/{high}",
                f"the box has no {'width' if low == 'x_min' else 'height'} once "
                "moved into the media",
                at,
            )


def _bound(
    obj: Any,
    key: str,
    limit: int,
    path: str,
    at: tuple[int | None, int],
    width: int,
    height: int,
    clip: bool,
    report: Report,
) -> bool:
    """Check `obj`'s coordinate `key` against 0..limit; True when it was clamped or clipped."""
    moved = False
    value = getattr(obj, key)
    if not (0 <= value <= limit):
        clipped = min(max(value, 0), limit)
        size = f"{width}x{height}"
        if -TOLERANCE < value < limit + TOLERANCE:
            setattr(obj, key, float(clipped))
            moved = True
            report.counts["clamped"] = report.counts.get("clamped", 0) + 1
            if not report.lists_warnings:  # past the cap: counted, no message
                report.count_warning("shape.clamped", at)
                return moved
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
                return moved
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


def _check_token(obj: Any, key: str, path: str, at: Any, media: MediaInfo, report: Report) -> None:
    value = getattr(obj, key)
    if media.token_count is not None and value >= media.token_count:
        report.problem(
            "text_token.out_of_range",
            f"{path}/{key}",
            f"{key} {value} is beyond the text's last token {media.token_count - 1} "
            f"({media.token_count} tokens)",
            at,
        )


def _check_time(obj: Any, key: str, path: str, at: Any, media: MediaInfo, report: Report) -> None:
    value = getattr(obj, key)
    if media.duration is not None and value > media.duration:
        report.problem(
            "audio.out_of_range",
            f"{path}/{key}",
            f"{key} {value} s is beyond the audio's duration {media.duration} s",
            at,
        )
