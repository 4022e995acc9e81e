"""Exact float round trips through formats that store boxes as (x, width) or normalised.

COCO stores `x, w` and every reader computes `x + w`: `span_for_sum` picks the `w` (within a few
ulps of `b - a`) for which that sum is `b` again, bit for bit. YOLO stores `b / W` as decimal
text: `to_unit` writes the shortest decimal that `from_unit` turns back into `b` exactly, with
exact decimal arithmetic on both sides, so the round trip never drifts.
"""

from __future__ import annotations

import math
from decimal import Context, Decimal

_EXACT = Context(prec=120)
_NUDGES = 16


def span_for_sum(a: float, b: float) -> tuple[float, bool]:
    """(w, rounded): `a + w == b` exactly unless `rounded` (no nearby w does it)."""
    w = b - a
    if a + w == b:
        return w, False
    up = down = w
    for _ in range(_NUDGES):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        if a + up == b:
            return up, False
        if a + down == b:
            return down, False
    return w, True


def exact(text: str) -> Decimal:
    return Decimal(text)


def from_unit(value: Decimal, size: int | float) -> float:
    """A normalised coordinate (exact decimal) times the media size, rounded once to a float."""
    return float(_EXACT.multiply(value, Decimal(size)))


def to_unit(value: float, size: int | float) -> Decimal:
    """The decimal `d` with the fewest digits such that `from_unit(d, size) == value`."""
    exact_ratio = _EXACT.divide(Decimal(value), Decimal(size))
    for digits in (8, 12, 17, 24, 32, 48, 64, 96):
        candidate = Context(prec=digits).plus(exact_ratio)
        if from_unit(candidate, size) == value:
            return candidate
    return exact_ratio


def text(value: Decimal) -> str:
    """Plain decimal text (no exponent), which every YOLO reader parses."""
    out = format(value, "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return out or "0"


def yolo_box(
    x_min: float, y_min: float, x_max: float, y_max: float, width: int, height: int
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(cx, cy, w, h) normalised, such that `box_from_yolo` gives back the same four floats:
    the two edges are made exact decimals first; their half-sum and difference are exact too."""
    left, right = to_unit(x_min, width), to_unit(x_max, width)
    top, bottom = to_unit(y_min, height), to_unit(y_max, height)
    return (
        _EXACT.divide(_EXACT.add(left, right), 2),
        _EXACT.divide(_EXACT.add(top, bottom), 2),
        _EXACT.subtract(right, left),
        _EXACT.subtract(bottom, top),
    )


def box_from_yolo(
    cx: Decimal, cy: Decimal, w: Decimal, h: Decimal, width: int, height: int
) -> tuple[float, float, float, float]:
    half_w, half_h = _EXACT.divide(w, 2), _EXACT.divide(h, 2)
    return (
        from_unit(_EXACT.subtract(cx, half_w), width),
        from_unit(_EXACT.subtract(cy, half_h), height),
        from_unit(_EXACT.add(cx, half_w), width),
        from_unit(_EXACT.add(cy, half_h), height),
    )
