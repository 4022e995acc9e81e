"""Every row of the instance-type table (`format.instances.TYPES`) is handled everywhere it must
be: its example decodes and passes the checks on each media type it fits, it fits no other,
what it has of geometry is kept inside media with extents, the viewer shows it, and
docs/instance-format.md describes it. A new type fails here until each part knows it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

import instance_examples
from instance_examples import PAIR_IDS, PAIRS
from labelport.format import MediaInfo, instances
from labelport.format.instances import INSTANCE_CLASSES, MEDIA_TYPES, TYPES, InstanceBase

from .helpers import codes, run

ROOT = Path(__file__).parents[2]
VIEWER = (ROOT / "src" / "labelport" / "web" / "static" / "viewer.js").read_text()
FORMAT_PAGE = (ROOT / "docs" / "instance-format.md").read_text()

# The facts a probe gives of each media type; point clouds and geo files bound nothing here.
MEDIA_INFO = {
    "image": MediaInfo(media_type="image", width=640, height=480),
    "video": MediaInfo(media_type="video", width=640, height=480, frame_count=10, fps=10),
    "text": MediaInfo(media_type="text", token_count=10),
    "audio": MediaInfo(media_type="audio", duration=12.0),
    "point_cloud": MediaInfo(media_type="point_cloud"),
    "geo": MediaInfo(media_type="geo"),
}
BOUNDED_MEDIA = ("image", "video", "text", "audio")
OUTSIDE_MEDIA_CODES = {"shape.outside_media", "text_token.out_of_range", "audio.out_of_range"}


def packet_of(type_: str, keys: dict[str, Any], media: str) -> dict[str, Any]:
    packet = instance_examples.packet_of(type_, media, keys)
    packet["media"]["url"] = "u"
    return packet


def scaled(value: Any, factor: int) -> Any:
    """`value` with every number in it multiplied by `factor` (ids and flags kept)."""
    if isinstance(value, dict):
        return {k: v if k in ("id", "from", "to") else scaled(v, factor) for k, v in value.items()}
    if isinstance(value, list):
        return [scaled(v, factor) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return value * int(factor)
    if isinstance(value, float):
        return value * factor
    return value


def test_the_table_is_the_union_and_the_exports() -> None:
    assert set(TYPES) == set(INSTANCE_CLASSES)
    for name, t in TYPES.items():
        assert issubclass(t.struct, InstanceBase), name
        assert t.struct.__name__ in instances.__all__, f"{t.struct.__name__} not exported"
        assert t.media and t.media <= set(MEDIA_TYPES), name


@pytest.mark.parametrize(("type_", "media"), PAIRS, ids=PAIR_IDS)
def test_example_passes_on_each_media_it_fits(type_: str, media: str) -> None:
    packet, report = run(
        packet_of(type_, TYPES[type_].example, media), labels=["cat"], media=MEDIA_INFO[media]
    )
    assert report.problems == [] and report.warnings == []
    assert packet is not None
    listed = packet.frame_packet_map[0] if media == "video" else packet.instance_list
    assert listed[-1].__struct_config__.tag == type_


@pytest.mark.parametrize("type_", list(TYPES))
def test_example_refused_on_media_it_does_not_fit(type_: str) -> None:
    for media in sorted(set(MEDIA_TYPES) - TYPES[type_].media):
        _, report = run(packet_of(type_, TYPES[type_].example, media), labels=["cat"])
        found = {code for code, _path in codes(report)}
        assert "instance.type_not_for_media" in found, (media, codes(report))


# Each type on each media it fits whose probe gives extents (point clouds and geo files give
# none), when its example has numbers to move (tag, global and relation have none).
PLACED = [
    (type_, media)
    for type_, media in PAIRS
    if media in BOUNDED_MEDIA and scaled(TYPES[type_].example, 10**6) != TYPES[type_].example
]


@pytest.mark.parametrize(("type_", "media"), PLACED, ids=[f"{t}-{m}" for t, m in PLACED])
def test_geometry_outside_the_media_is_found(type_: str, media: str) -> None:
    """The example with every number a million times larger: a problem against each media with
    extents, for every type whose numbers place it in the media. A type whose `within_media`
    is missing would pass here silently, so this fails instead."""
    far = scaled(TYPES[type_].example, 10**6)
    packet, report = run(packet_of(type_, far, media), labels=["cat"])
    assert packet is not None and report.problems == [], "the far example must pass the format"
    _, report = run(packet_of(type_, far, media), labels=["cat"], media=MEDIA_INFO[media])
    found = {code for code, _path in codes(report)}
    assert found & OUTSIDE_MEDIA_CODES, f"{type_} on {media}: nothing outside the media found"
    assert TYPES[type_].within_media is not None


def _viewer_function(name: str) -> str:
    match = re.search(rf"\n  (?:async )?function {name}\(.*?\n  }}\n", VIEWER, re.S)
    assert match, f"viewer.js has no function {name}"
    return match.group(0)


def _viewer_draw_table() -> set[str]:
    match = re.search(r"\n  const DRAW = \{\n(.*?)\n  \};\n", VIEWER, re.S)
    assert match, "viewer.js has no DRAW table"
    return set(re.findall(r"^    (\w+)\(g, i\) \{", match.group(1), re.M))


@pytest.mark.parametrize("type_", list(TYPES))
def test_viewer_shows_it(type_: str) -> None:
    where = TYPES[type_].viewer
    if where is None:
        assert f'"{type_}"' not in VIEWER, f"viewer.js shows {type_}: say where in TYPES"
    elif where == "DRAW":
        assert type_ in _viewer_draw_table(), f"viewer.js DRAW has no {type_}"
    else:
        assert f'"{type_}"' in _viewer_function(where), f"viewer.js {where}() does not show {type_}"


def test_viewer_draws_no_type_the_table_lacks() -> None:
    drawn = _viewer_draw_table()
    assert drawn == {name for name, t in TYPES.items() if t.viewer == "DRAW"}


def _page_table(heading: str) -> list[list[str]]:
    section = re.split(heading, FORMAT_PAGE, maxsplit=1)[1]
    rows = re.findall(r"^\|(.*)\|$", section.split("\n\n#", 1)[0], re.M)
    return [[cell.strip() for cell in row.split("|")] for row in rows[2:]]


@pytest.mark.parametrize("type_", list(TYPES))
def test_format_page_describes_it(type_: str) -> None:
    rows = {row[0]: row for row in _page_table(r"## The \d+ instance types")}
    assert f"`{type_}`" in rows, f"docs/instance-format.md: no row for {type_}"
    required = [f.encode_name for f in msgspec.structs.fields(TYPES[type_].struct) if f.required]
    for key in required:
        assert f"`{key}`" in rows[f"`{type_}`"][1], f"{type_}: {key} not in its required keys"
    fits = set()
    for row in _page_table("### Which types fit which media"):
        if f"`{type_}`" in re.findall(r"`\w+`", row[1]):
            fits |= set(re.findall(r"`(\w+)`", row[0]))
    assert fits == set(TYPES[type_].media), f"{type_}: the media table says {sorted(fits)}"
    assert re.search(rf'"type": "{type_}"', FORMAT_PAGE), f"{type_}: no example on the page"


def test_format_page_counts_the_types() -> None:
    assert f"## The {len(TYPES)} instance types" in FORMAT_PAGE
