"""Default label colours: distinct for the first labels of a project and still told apart past 50.

A label without a chosen colour takes the colour of its place among its project's labels (by
id): the first 20 from a hand-picked set, then hues stepped by the golden angle in OKLCH (a
perceptual space) at three lightness levels, each kept only if it is far enough (OKLab
distance) from every colour before it. Every colour is mid-to-light, so that with the viewer's
dark halo around each shape it reads on dark and on light images alike.
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any, TypeGuard

# Vivid, mid-to-light, pairwise far apart in OKLab (tests/test_palette.py measures it).
HAND_PICKED = (
    "#e6194b", "#3cb44b", "#4f7cff", "#f58231", "#b45cf0", "#42d4f4", "#f032e6", "#bfef45",
    "#ffe119", "#1aa39a", "#fabed4", "#a0785a", "#aaffc3", "#dcbeff", "#9c9c1c", "#ff8c8c",
    "#2f9de0", "#ffd8b1", "#c23b9c", "#7fd35a",
)  # fmt: skip

GOLDEN_ANGLE = 137.50776405003785
_LEVELS = (0.74, 0.62, 0.86)  # OKLab lightness, cycled
_MIN_DISTANCE = 0.075  # OKLab; ~4 just-noticeable differences
_FLOOR = 0.035  # what the minimum relaxes to when the space fills up (hundreds of labels)
_TRIES = 48  # candidates looked at per colour before the minimum relaxes
_CACHED = 256  # colours computed (on demand); labels past this repeat the sequence

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def normalise(colour: str) -> str:
    """`#rrggbb` in lower case; ValueError for anything else."""
    if not isinstance(colour, str) or not _HEX.fullmatch(colour.strip()):
        raise ValueError(f"colour must be #rrggbb (six hex digits), not {str(colour)[:40]!r}")
    return colour.strip().lower()


def is_colour(colour: object) -> TypeGuard[str]:
    return isinstance(colour, str) and _HEX.fullmatch(colour) is not None


def default_colour(index: int) -> str:
    """The default colour of the `index`-th label (0-based) of a project."""
    index = max(index, 0) % _CACHED
    if index >= len(_chosen):
        _extend(index + 1)
    return _chosen[index]


def colour_of(stored: str | None, index: int) -> str:
    """A label's colour: the one set for it, else its default."""
    return stored.lower() if is_colour(stored) else default_colour(index)


# -- colour science (OKLab, Björn Ottosson 2020) ----------------------------------------------


def _to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _from_linear(c: float) -> float:
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def hex_to_oklab(colour: str) -> tuple[float, float, float]:
    r, g, b = (_to_linear(int(colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    lo = 0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b
    mo = 0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b
    so = 0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b
    lo, mo, so = (math.copysign(abs(v) ** (1 / 3), v) for v in (lo, mo, so))
    return (
        0.2104542553 * lo + 0.7936177850 * mo - 0.0040720468 * so,
        1.9779984951 * lo - 2.4285922050 * mo + 0.4505937099 * so,
        0.0259040371 * lo + 0.7827717662 * mo - 0.8086757660 * so,
    )


def _oklab_to_rgb(lightness: float, a: float, b: float) -> tuple[float, float, float]:
    lo = (lightness + 0.3963377774 * a + 0.2158037573 * b) ** 3
    mo = (lightness - 0.1055613458 * a - 0.0638541728 * b) ** 3
    so = (lightness - 0.0894841775 * a - 1.2914855480 * b) ** 3
    return (
        4.0767416621 * lo - 3.3077115913 * mo + 0.2309699292 * so,
        -1.2684380046 * lo + 2.6097574011 * mo - 0.3413193965 * so,
        -0.0041960863 * lo - 0.7034186147 * mo + 1.7076147010 * so,
    )


def distance(x: str, y: str) -> float:
    """OKLab (Euclidean) distance between two #rrggbb colours."""
    return math.dist(hex_to_oklab(x), hex_to_oklab(y))


def _oklch_hex(lightness: float, hue_degrees: float) -> str:
    """The most saturated in-gamut colour (chroma <= 0.17) of this lightness and hue."""
    h = math.radians(hue_degrees)
    lo, hi = 0.0, 0.17
    for _ in range(18):
        mid = (lo + hi) / 2
        rgb = _oklab_to_rgb(lightness, mid * math.cos(h), mid * math.sin(h))
        if all(-1e-6 <= c <= 1 + 1e-6 for c in rgb):
            lo = mid
        else:
            hi = mid
    rgb = _oklab_to_rgb(lightness, lo * math.cos(h), lo * math.sin(h))
    channels = (round(min(max(_from_linear(max(c, 0.0)), 0.0), 1.0) * 255) for c in rgb)
    return "#" + "".join(f"{c:02x}" for c in channels)


_chosen: list[str] = list(HAND_PICKED)
_labs = [hex_to_oklab(c) for c in HAND_PICKED]
_state: dict[str, Any] = {"step": 0, "minimum": _MIN_DISTANCE}
_lock = threading.Lock()


def _extend(length: int) -> None:
    """Computes the sequence up to `length` colours (each only once, whoever asks first)."""
    with _lock:
        while len(_chosen) < length:
            best, best_lab, best_d = "", (0.0, 0.0, 0.0), -1.0
            for _ in range(_TRIES):
                step = _state["step"]
                _state["step"] = step + 1
                candidate = _oklch_hex(_LEVELS[step % len(_LEVELS)], (step * GOLDEN_ANGLE) % 360)
                lab = hex_to_oklab(candidate)
                d = min(math.dist(lab, other) for other in _labs)
                if d > best_d:
                    best, best_lab, best_d = candidate, lab, d
                if d >= _state["minimum"]:
                    break
            else:
                _state["minimum"] = max(_FLOOR, _state["minimum"] * 0.9)
            _chosen.append(best)
            _labs.append(best_lab)
