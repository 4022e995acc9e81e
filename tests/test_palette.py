"""The default label palette: distinct (OKLab distance) for 50+ labels, readable colours."""

from __future__ import annotations

import itertools

import pytest

from labelport import palette


def _closest(colours: list[str]) -> float:
    return min(palette.distance(a, b) for a, b in itertools.combinations(colours, 2))


def test_the_first_twenty_are_far_apart() -> None:
    first = [palette.default_colour(i) for i in range(20)]
    assert first[:20] == list(palette.HAND_PICKED)
    assert _closest(first) > 0.07  # a just-noticeable difference is about 0.02


def test_sixty_labels_stay_distinct() -> None:
    colours = [palette.default_colour(i) for i in range(60)]
    assert len(set(colours)) == 60
    assert _closest(colours) > 0.04


def test_colours_are_light_enough_for_a_dark_halo() -> None:
    """Mid-to-light: readable on a dark image, and the viewer's dark halo carries them on a light
    one."""
    for i in range(100):
        lightness = palette.hex_to_oklab(palette.default_colour(i))[0]
        assert 0.55 <= lightness <= 0.95, (i, palette.default_colour(i))


def test_the_sequence_is_stable_and_wraps() -> None:
    assert palette.default_colour(3) == palette.default_colour(3)
    assert palette.default_colour(palette._CACHED + 5) == palette.default_colour(5)


@pytest.mark.parametrize("good", ["#ff8800", "#FF8800", " #a1b2c3 "])
def test_normalise_accepts_rrggbb(good: str) -> None:
    assert palette.normalise(good) == good.strip().lower()


@pytest.mark.parametrize("bad", ["#f80", "ff8800", "#ff880g", "rgb(1,2,3)", "", "#ff8800ff"])
def test_normalise_refuses_anything_else(bad: str) -> None:
    with pytest.raises(ValueError, match="#rrggbb"):
        palette.normalise(bad)


def test_a_stored_colour_wins_and_a_bad_one_falls_back() -> None:
    assert palette.colour_of("#ABCDEF", 4) == "#abcdef"
    assert palette.colour_of(None, 4) == palette.default_colour(4)
    assert palette.colour_of("red", 4) == palette.default_colour(4)
