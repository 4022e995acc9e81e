"""What the media-dependent checks need to know about a file.

Filled by `labelport.media` probing.
"""

from __future__ import annotations

import msgspec


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
