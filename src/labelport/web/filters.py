"""Jinja filters: numbers, sizes, times and durations as a person reads them; safe colours."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment

from labelport.service import colour_for

DASH = "\u2013"  # shown for a missing value
_COLOUR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?(?:[0-9a-fA-F]{2})?")


def safe_colour(colour: str | None, name: str = "") -> str:
    """The label's colour if it is a plain hex colour, else its palette colour: a colour ends up
    in SVG attributes, and only this shape is known to be harmless there."""
    if colour and _COLOUR.fullmatch(colour):
        return colour
    return colour_for(name or "")


def as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        found = value
    else:
        try:
            found = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """A moment as a person reads it, with its time zone: stored times are UTC."""
    found = as_datetime(value)
    return "" if found is None else found.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds_between(start: Any, end: Any) -> float | None:
    a, b = as_datetime(start), as_datetime(end)
    if a is None or b is None:
        return None
    return max((b - a).total_seconds(), 0.0)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def number(value: Any) -> str:
    if value is None or value == "":
        return DASH
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def filesize(value: Any) -> str:
    if not value:
        return DASH
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def install(env: Environment) -> None:
    env.filters.update(
        colour=safe_colour, when=when, duration=duration, number=number, filesize=filesize
    )
    env.globals.update(seconds_between=seconds_between)
