"""Typed structures for the 19 instance types.

One msgspec tagged union (`tag_field="type"`): decoding a packet picks the struct from `type`
and checks kinds, required keys and simple ranges in the same pass, without dicts in between.
Unknown keys are ignored ("Additional keys will be ignored"). Structs are `gc=False`: they hold
no reference cycles, and skipping the cycle collector keeps a million of them cheap.
"""

from __future__ import annotations

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

INSTANCE_TYPES: tuple[str, ...] = (
    "box",
    "polygon",
    "point",
    "line",
    "ellipse",
    "curve",
    "cuboid",
    "keypoints",
    "cuboid_3d",
    "tag",
    "global",
    "text_token",
    "audio",
    "relation",
    "geo_point",
    "geo_circle",
    "geo_polyline",
    "geo_polygon",
    "geo_box",
)


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

INSTANCE_CLASSES: dict[str, type[InstanceBase]] = {
    cls.__struct_config__.tag: cls for cls in get_args(Instance)
}
assert tuple(INSTANCE_CLASSES) == INSTANCE_TYPES

# Types whose instances carry no label (spec: global describes the file; relation links two).
LABELLESS: frozenset[str] = frozenset({"global", "relation"})

_PLANAR = frozenset({"box", "polygon", "point", "line", "ellipse", "curve", "cuboid", "keypoints"})
_ANY = frozenset({"tag", "global"})
# Which instance types fit which media type (spec: "Which types fit which media").
TYPES_FOR_MEDIA: dict[str, frozenset[str]] = {
    "image": _PLANAR | _ANY | {"relation"},
    "video": _PLANAR | _ANY | {"relation"},
    "text": _ANY | {"text_token", "relation"},
    "audio": _ANY | {"audio"},
    "point_cloud": _ANY | {"cuboid_3d"},
    "geo": _ANY | {"geo_point", "geo_circle", "geo_polyline", "geo_polygon", "geo_box"},
}
MediaType = Literal["image", "video", "text", "audio", "point_cloud", "geo"]
