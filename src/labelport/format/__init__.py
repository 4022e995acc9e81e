"""The instance format: typed structs, every check, and the problem catalogue. Pure: no I/O.

Typical use::

    packet, report = decode_packet(body)
    if packet is not None:
        check_packet(packet, labels=LabelIndex.from_mapping(name_to_id), report=report)
    ...  # later, with the probed media
    check_media(packet, media_info, report=report)
"""

from labelport.format import instances
from labelport.format.attributes import AttributeGroup, AttributeSchema
from labelport.format.checks import check_packet
from labelport.format.decode import decode_packet
from labelport.format.instances import *  # noqa: F403  # the structs and the type table
from labelport.format.labels import LabelIndex, check_label_names, label_id_of
from labelport.format.media_checks import check_media
from labelport.format.media_info import MediaInfo
from labelport.format.packet import Media, Packet, instance_path, iter_instances, located_lists
from labelport.format.problems import CATALOGUE, DEFAULT_LIMIT, Problem, Report, key_unusable

__all__ = [
    "CATALOGUE",
    "DEFAULT_LIMIT",
    "AttributeGroup",
    "AttributeSchema",
    "LabelIndex",
    "Media",
    "MediaInfo",
    "Packet",
    "Problem",
    "Report",
    "check_label_names",
    "check_media",
    "check_packet",
    "decode_packet",
    "instance_path",
    "iter_instances",
    "key_unusable",
    "label_id_of",
    "located_lists",
]
__all__ += instances.__all__
