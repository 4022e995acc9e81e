"""The instance format: typed structs, every check, and the problem catalogue. Pure: no I/O.

Typical use::

    packet, report = decode_packet(body)
    if packet is not None:
        check_packet(packet, labels=LabelIndex.from_mapping(name_to_id), report=report)
    ...  # later, with the probed media
    check_media(packet, media_info, report=report)
"""

from labelport.format.attributes import AttributeGroup, AttributeSchema
from labelport.format.checks import check_packet
from labelport.format.decode import decode_packet
from labelport.format.instances import (
    INSTANCE_CLASSES,
    INSTANCE_TYPES,
    LABELLESS,
    TYPES_FOR_MEDIA,
    Audio,
    Box,
    Cuboid,
    Cuboid3D,
    Curve,
    Dimensions3D,
    Edge,
    Ellipse,
    Face,
    GeoBox,
    GeoCircle,
    GeoPoint,
    GeoPolygon,
    GeoPolyline,
    Global,
    Instance,
    InstanceBase,
    Keypoints,
    Line,
    Node,
    Point,
    Point3D,
    PointInstance,
    Polygon,
    Relation,
    Tag,
    TextToken,
)
from labelport.format.labels import LabelIndex, check_label_names
from labelport.format.media_checks import check_media
from labelport.format.media_info import MediaInfo
from labelport.format.packet import Media, Packet, instance_path, iter_instances, located_lists
from labelport.format.problems import CATALOGUE, DEFAULT_LIMIT, Problem, Report, key_unusable

__all__ = [
    "CATALOGUE",
    "DEFAULT_LIMIT",
    "INSTANCE_CLASSES",
    "INSTANCE_TYPES",
    "LABELLESS",
    "TYPES_FOR_MEDIA",
    "AttributeGroup",
    "AttributeSchema",
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
    "Keypoints",
    "LabelIndex",
    "Line",
    "Media",
    "MediaInfo",
    "Node",
    "Packet",
    "Point",
    "Point3D",
    "PointInstance",
    "Polygon",
    "Problem",
    "Relation",
    "Report",
    "Tag",
    "TextToken",
    "check_label_names",
    "check_media",
    "check_packet",
    "decode_packet",
    "instance_path",
    "iter_instances",
    "key_unusable",
    "located_lists",
]
