"""The result of probing (`Probe`) and the limits probing works under (`ProbeLimits`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from labelport.format.media_info import MediaInfo
from labelport.media.text import Token

MEDIA_TYPES = ("image", "video", "text", "audio", "point_cloud", "geo")


@dataclass(frozen=True)
class ProbeLimits:
    """Bounds on the work and memory one probe may use."""

    # Pillow's own default; width*height above it is refused as a decompression bomb.
    max_image_pixels: int = 89_478_485
    max_text_bytes: int = 32 * 1024 * 1024
    max_json_bytes: int = 128 * 1024 * 1024  # GeoJSON is parsed whole
    # Point clouds larger than this still get their point count, but no bounds.
    max_bounds_points: int = 2_000_000
    # "demux" counts the video stream's packets (one per frame, no decoding; the header's
    # frame count is never trusted); "decode" decodes every frame (exact, slower).
    video_frame_count: Literal["demux", "decode"] = "demux"


class Probe(msgspec.Struct, kw_only=True):
    """Facts about one media file: the `MediaInfo` the checks need plus extras for the file row.

    ``bounds`` is ``[min_x, min_y, min_z, max_x, max_y, max_z]`` for point clouds and
    ``[min_x, min_y, max_x, max_y]`` (lon/lat for GeoJSON, CRS units for GeoTIFF) for geo.
    """

    media_type: str
    format: str | None = None  # png, jpeg, mp4 (container), wav, pcd, ply, geojson, geotiff, text
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    fps: float | None = None
    duration: float | None = None
    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    token_count: int | None = None
    tokens: list[Token] | None = None
    sentence_count: int | None = None
    point_count: int | None = None
    bounds: list[float] | None = None
    crs: str | None = None  # e.g. "EPSG:4326"
    sniffed_type: str | None = None  # what the content looks like, independent of the caller
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    def media_info(self) -> MediaInfo:
        """The facts the media-dependent checks use (see `labelport.format.media_info`)."""
        visual = self.media_type in ("image", "video")
        return MediaInfo(
            media_type=self.media_type,
            width=self.width if visual else None,
            height=self.height if visual else None,
            frame_count=self.frame_count,
            fps=self.fps,
            duration=self.duration,
            token_count=self.token_count,
        )
