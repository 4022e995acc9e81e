"""What the media-dependent checks need to know about a file.

Filled by `labelport.media` probing.
"""

from __future__ import annotations

from pathlib import PurePath

import msgspec

# A media type's usual file suffixes: what an upload's name says it is when nothing else does.
MEDIA_SUFFIXES: dict[str, frozenset[str]] = {
    "image": frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}),
    "video": frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}),
    "audio": frozenset({".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac"}),
    "text": frozenset({".txt", ".md"}),
    "point_cloud": frozenset({".pcd", ".ply"}),
    "geo": frozenset({".geojson", ".geotiff"}),
}


def guess_media_type(filename: str) -> str | None:
    suffix = PurePath(filename).suffix.lower()
    for media_type, suffixes in MEDIA_SUFFIXES.items():
        if suffix in suffixes:
            return media_type
    return None


class MediaInfo(msgspec.Struct, kw_only=True):
    """Facts about one media file. Fields a media type does not have stay None.

    Checks skip a bound whose fact is unknown (None) rather than guessing.
    """

    media_type: str | None = None  # image, video, text, audio, point_cloud, geo
    width: int | None = None  # pixels (image, video)
    height: int | None = None
    frame_count: int | None = None  # decoded frames at the native rate (video)
    fps: float | None = None
    duration: float | None = None  # seconds (video, audio)
    # tokens of the text, as the tokenizer of labelport.media splits it
    token_count: int | None = None
