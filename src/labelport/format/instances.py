"""The 19 instance types: their structs, and `TYPES`, the one table of what each type is.

One msgspec tagged union (`tag_field="type"`): decoding a packet picks the struct from `type`
and checks kinds, required keys and simple ranges in the same pass, without dicts in between.
Unknown keys are ignored ("Additional keys will be ignored"). Structs are `gc=False`: they hold
no reference cycles, and skipping the cycle collector keeps a million of them cheap.

`TYPES` says, per type, which media it fits, whether it needs a label, where its geometry must
lie in the media, how the viewer shows it, and a valid example. `INSTANCE_TYPES`,
`INSTANCE_CLASSES`, `LABELLESS` and `TYPES_FOR_MEDIA` are derived from it; tests parametrized
over it fail for a type some part of labelport does not handle yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta

# Bounds on every coordinate and size: they exclude inf and NaN (NaN fails every comparison;
# JSON has no NaN, but 1e400 decodes to inf and Python's json.dumps writes NaN), and numbers no
# media can have (no image is 2**31 pixels wide, no audio lasts 68 years), in one C-level test.
COORD_MAX = float(2**31)
Num = Annotated[float, Meta(ge=-COORD_MAX, le=COORD_MAX)]
Positive = Annotated[float, Meta(gt=0, le=COORD_MAX)]
NonNeg = Annotated[float, Meta(ge=0, le=COORD_MAX)]
# Ids and counts end up in 64-bit database columns.
_IMAX = 2**63 - 1
Id = Annotated[int, Meta(ge=1, le=_IMAX)]
Index = Annotated[int, Meta(ge=0, le=_IMAX)]
SequenceNumber = Annotated[int, Meta(ge=1, le=_IMAX)]
Score = Annotated[float, Meta(ge=0, le=1)]
Lon = Annotated[float, Meta(ge=-180, le=180)]
Lat = Annotated[float, Meta(ge=-90, le=90)]
LonLat = tuple[Lon, Lat]
# The longest string a label name, model or run reference, external id or idempotency key may
# be: PostgreSQL stores them as VARCHAR(255) and refuses a longer one mid-write, SQLite would
# keep it. A limit of the format, checked at decode in C, makes both databases take the same.
TEXT_MAX = 255
ShortText = Annotated[str, Meta(max_length=TEXT_MAX)]
# An integer id is stored as its decimal text; a 64-bit range keeps that well inside TEXT_MAX
# (larger ids go as strings).
ExternalId = ShortText | Annotated[int, Meta(ge=-(2**63), le=_IMAX)]


class Point(msgspec.Struct, gc=False):
    x: Num
    y: Num


class Point3D(msgspec.Struct, gc=False):
    x: Num
    y: Num
    z: Num


class Dimensions3D(msgspec.Struct, gc=False):
    width: Positive
    height: Positive
    depth: Positive


class Face(msgspec.Struct, gc=False):
    top_left: Point
    top_right: Point
    bot_left: Point
    bot_right: Point
    width: Num | None = None
    height: Num | None = None


class Node(msgspec.Struct, gc=False):
    id: ExternalId
    x: Num
    y: Num
    occluded: bool | None = None
    left_or_right: str | None = None
    name: str | None = None
    ordinal: int | None = None


class Edge(msgspec.Struct, gc=False):
    from_: ExternalId = msgspec.field(name="from")
    to: ExternalId


class InstanceBase(msgspec.Struct, kw_only=True, tag_field="type", gc=False):
    """The keys every type shares (spec: "Common instance keys")."""

    # A list of one string is accepted too: the walkthrough's mock_frame_packet_map passes
    # name=["cat"]; the checks turn it into the string and warn.
    name: ShortText | list[ShortText] | None = None
    label_file_id: Id | None = None
    # Absent -> 1 at decode time; an explicit null is turned into 1 by check_packet.
    number: SequenceNumber | None = 1
    sequence_id: Id | None = None
    machine_made: bool = True
    model_ref: ShortText | None = None
    model_run_ref: ShortText | None = None
    model_id: Id | None = None
    model_run_id: Id | None = None
    score: Score | None = None
    attribute_groups: dict[str, Any] | None = None
    id: ExternalId | None = None


class Box(InstanceBase, tag="box"):
    x_min: Num
    y_min: Num
    x_max: Num
    y_max: Num


class Polygon(InstanceBase, tag="polygon"):
    points: Annotated[list[Point], Meta(min_length=3)]


class PointInstance(InstanceBase, tag="point"):
    points: Annotated[list[Point], Meta(min_length=1, max_length=1)]


class Line(InstanceBase, tag="line"):
    points: Annotated[list[Point], Meta(min_length=2)]


class Ellipse(InstanceBase, tag="ellipse"):
    center_x: Num
    center_y: Num
    width: Positive
    height: Positive
    rotation: Num = 0.0


class Curve(InstanceBase, tag="curve"):
    p1: Point
    p2: Point
    cp: Point


class Cuboid(InstanceBase, tag="cuboid"):
    front_face: Face
    rear_face: Face
    width: Num | None = None
    height: Num | None = None


class Keypoints(InstanceBase, tag="keypoints"):
    nodes: Annotated[list[Node], Meta(min_length=1)]
    edges: list[Edge] = msgspec.field(default_factory=list)


class Cuboid3D(InstanceBase, tag="cuboid_3d"):
    dimensions_3d: Dimensions3D
    center_3d: Point3D | None = None
    position_3d: Point3D | None = None
    rotation_euler_angles: Point3D | None = None


class Tag(InstanceBase, tag="tag"):
    pass


class Global(InstanceBase, tag="global"):
    pass


class TextToken(InstanceBase, tag="text_token"):
    start_token: Index
    end_token: Index
    start_char: Index | None = None
    end_char: Index | None = None
    start_sentence: Index | None = None
    end_sentence: Index | None = None
    sentence: Index | None = None


class Audio(InstanceBase, tag="audio"):
    start_time: NonNeg
    end_time: NonNeg


class Relation(InstanceBase, tag="relation"):
    from_: ExternalId | None = msgspec.field(default=None, name="from")
    to: ExternalId | None = None
    from_instance_id: ExternalId | None = None
    to_instance_id: ExternalId | None = None

    @property
    def start(self) -> ExternalId | None:
        return self.from_ if self.from_ is not None else self.from_instance_id

    @property
    def end(self) -> ExternalId | None:
        return self.to if self.to is not None else self.to_instance_id


class GeoPoint(InstanceBase, tag="geo_point"):
    lonlat: LonLat


class GeoCircle(InstanceBase, tag="geo_circle"):
    lonlat: LonLat
    radius: Positive


class GeoPolyline(InstanceBase, tag="geo_polyline"):
    coords: Annotated[list[LonLat], Meta(min_length=2)]


class GeoPolygon(InstanceBase, tag="geo_polygon"):
    coords: Annotated[list[LonLat], Meta(min_length=3)]


class GeoBox(InstanceBase, tag="geo_box"):
    bounds_lonlat: tuple[LonLat, LonLat]


Instance = (
    Box
    | Polygon
    | PointInstance
    | Line
    | Ellipse
    | Curve
    | Cuboid
    | Keypoints
    | Cuboid3D
    | Tag
    | Global
    | TextToken
    | Audio
    | Relation
    | GeoPoint
    | GeoCircle
    | GeoPolyline
    | GeoPolygon
    | GeoBox
)


MediaType = Literal["image", "video", "text", "audio", "point_cloud", "geo"]
MEDIA_TYPES: tuple[MediaType, ...] = ("image", "video", "text", "audio", "point_cloud", "geo")

# Where a value of an instance must lie in its media: (path suffix below the instance, the object
# holding the value, its key, the extent it is bounded by). "" is the instance itself. x and y
# are bounded by the width and height (0..size), token by the token count (below it), time by
# the duration (up to it).
Extent = Literal["x", "y", "token", "time"]
Bounded = list[tuple[str, Any, str, Extent]]


def _xy(suffix: str, point: Any) -> Bounded:
    return [(suffix, point, "x", "x"), (suffix, point, "y", "y")]


def _points_within(instance: Any) -> Bounded:
    return [b for i, p in enumerate(instance.points) for b in _xy(f"points/{i}", p)]


def _box_within(instance: Any) -> Bounded:
    return [
        ("", instance, "x_min", "x"),
        ("", instance, "x_max", "x"),
        ("", instance, "y_min", "y"),
        ("", instance, "y_max", "y"),
    ]


def _ellipse_within(instance: Any) -> Bounded:
    return [("", instance, "center_x", "x"), ("", instance, "center_y", "y")]


def _curve_within(instance: Any) -> Bounded:
    return [*_xy("p1", instance.p1), *_xy("p2", instance.p2), *_xy("cp", instance.cp)]


def _cuboid_within(instance: Any) -> Bounded:
    return [
        b
        for face in ("front_face", "rear_face")
        for corner in ("top_left", "top_right", "bot_left", "bot_right")
        for b in _xy(f"{face}/{corner}", getattr(getattr(instance, face), corner))
    ]


def _keypoints_within(instance: Any) -> Bounded:
    # Occluded nodes may lie outside the image (a hidden hand, for instance).
    return [b for i, n in enumerate(instance.nodes) if not n.occluded for b in _xy(f"nodes/{i}", n)]


def _tokens_within(instance: Any) -> Bounded:
    return [("", instance, "start_token", "token"), ("", instance, "end_token", "token")]


def _times_within(instance: Any) -> Bounded:
    return [("", instance, "start_time", "time"), ("", instance, "end_time", "time")]


@dataclass(frozen=True)
class InstanceType:
    """What labelport knows about one instance type. Every field is required: a new type must
    say how each part of labelport treats it, not fall through to a silent default."""

    struct: type[InstanceBase]
    # the media types it fits (`instance.type_not_for_media` elsewhere)
    media: frozenset[MediaType]
    # False: its instances carry no label (global describes the file; relation links two)
    labelled: bool
    # what of it `check_media` keeps inside the media; None: nothing of it has a place there
    # (tags, and geometry in units the media does not bound: lon/lat, 3D)
    within_media: Callable[[Any], Bounded] | None
    # where web/static/viewer.js shows it: "DRAW" (its table of 2D shapes) or the function of
    # the page that does (`text`, `audio`, `pointCloud`, `geo`, `listTags`); None: not shown
    viewer: str | None
    # a valid instance's keys beside `type` and `name`; a relation's ends are the ids "a", "b"
    example: dict[str, Any]


_PLANAR: frozenset[MediaType] = frozenset({"image", "video"})
_ALL: frozenset[MediaType] = frozenset(MEDIA_TYPES)
_P = {"x": 1, "y": 2}
_FACE = {"top_left": _P, "top_right": _P, "bot_left": _P, "bot_right": _P}

TYPES: dict[str, InstanceType] = {
    str(t.struct.__struct_config__.tag): t
    for t in (
        InstanceType(
            Box,
            _PLANAR,
            True,
            _box_within,
            "DRAW",
            {"x_min": 1, "y_min": 2, "x_max": 3.5, "y_max": 4},
        ),
        InstanceType(
            Polygon,
            _PLANAR,
            True,
            _points_within,
            "DRAW",
            {"points": [{"x": 0, "y": 0}, {"x": 5, "y": 0}, {"x": 0, "y": 5}]},
        ),
        InstanceType(PointInstance, _PLANAR, True, _points_within, "DRAW", {"points": [_P]}),
        InstanceType(
            Line, _PLANAR, True, _points_within, "DRAW", {"points": [_P, {"x": 3, "y": 4}]}
        ),
        InstanceType(
            Ellipse,
            _PLANAR,
            True,
            _ellipse_within,
            "DRAW",
            {"center_x": 5, "center_y": 5, "width": 2, "height": 3, "rotation": 0.4},
        ),
        InstanceType(
            Curve,
            _PLANAR,
            True,
            _curve_within,
            "DRAW",
            {"p1": _P, "p2": {"x": 5, "y": 5}, "cp": {"x": 3, "y": 1}},
        ),
        InstanceType(
            Cuboid,
            _PLANAR,
            True,
            _cuboid_within,
            "DRAW",
            {"front_face": _FACE, "rear_face": _FACE},
        ),
        InstanceType(
            Keypoints,
            _PLANAR,
            True,
            _keypoints_within,
            "DRAW",
            {
                "nodes": [
                    {"id": "a", "x": 1, "y": 1},
                    {"id": "b", "x": 2, "y": 2, "occluded": True},
                ],
                "edges": [{"from": "a", "to": "b"}],
            },
        ),
        InstanceType(
            Cuboid3D,
            frozenset({"point_cloud"}),
            True,
            None,
            "pointCloud",
            {
                "center_3d": {"x": 0, "y": 0, "z": 0},
                "dimensions_3d": {"width": 1, "height": 1, "depth": 1},
            },
        ),
        InstanceType(Tag, _ALL, True, None, "listTags", {}),
        InstanceType(Global, _ALL, False, None, "listTags", {}),
        InstanceType(
            TextToken,
            frozenset({"text"}),
            True,
            _tokens_within,
            "text",
            {"start_token": 0, "end_token": 2},
        ),
        InstanceType(
            Audio,
            frozenset({"audio"}),
            True,
            _times_within,
            "audio",
            {"start_time": 0.5, "end_time": 2},
        ),
        # A link between two instances: listed with the file's instances, not drawn.
        InstanceType(
            Relation,
            frozenset({"image", "video", "text"}),
            False,
            None,
            None,
            {"from": "a", "to": "b"},
        ),
        InstanceType(GeoPoint, frozenset({"geo"}), True, None, "geo", {"lonlat": [13.4, 52.5]}),
        InstanceType(
            GeoCircle,
            frozenset({"geo"}),
            True,
            None,
            "geo",
            {"lonlat": [13.4, 52.5], "radius": 10},
        ),
        InstanceType(
            GeoPolyline, frozenset({"geo"}), True, None, "geo", {"coords": [[0, 0], [1, 1]]}
        ),
        InstanceType(
            GeoPolygon,
            frozenset({"geo"}),
            True,
            None,
            "geo",
            {"coords": [[0, 0], [1, 0], [0, 1]]},
        ),
        InstanceType(
            GeoBox,
            frozenset({"geo"}),
            True,
            None,
            "geo",
            {"bounds_lonlat": [[0, 0], [1, 1]]},
        ),
    )
}

INSTANCE_TYPES: tuple[str, ...] = tuple(TYPES)
INSTANCE_CLASSES: dict[str, type[InstanceBase]] = {name: t.struct for name, t in TYPES.items()}
# The union is spelled out for the type checker and the decoder; it must be the table's structs.
assert set(get_args(Instance)) == set(INSTANCE_CLASSES.values()), "Instance union != TYPES"
TYPE_OF_CLASS: dict[type, InstanceType] = {t.struct: t for t in TYPES.values()}
LABELLESS: frozenset[str] = frozenset(name for name, t in TYPES.items() if not t.labelled)
# Which instance types fit which media type (spec: "Which types fit which media").
TYPES_FOR_MEDIA: dict[str, frozenset[str]] = {
    media: frozenset(name for name, t in TYPES.items() if media in t.media) for media in MEDIA_TYPES
}

__all__ = [
    "INSTANCE_CLASSES",
    "INSTANCE_TYPES",
    "LABELLESS",
    "MEDIA_TYPES",
    "TYPES",
    "TYPES_FOR_MEDIA",
    "Audio",
    "Box",
    "Cuboid",
    "Cuboid3D",
    "Curve",
    "Dimensions3D",
    "Edge",
    "Ellipse",
    "Face",
    "GeoBox",
    "GeoCircle",
    "GeoPoint",
    "GeoPolygon",
    "GeoPolyline",
    "Global",
    "Instance",
    "InstanceBase",
    "InstanceType",
    "Keypoints",
    "Line",
    "Node",
    "Point",
    "Point3D",
    "PointInstance",
    "Polygon",
    "Relation",
    "Tag",
    "TextToken",
]
