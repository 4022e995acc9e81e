"""Probing: what kind of media a file is, and the facts the checks need about it.

`probe_file` is the one entry point. The media type comes from the caller when given (the
packet's ``media.type``, a MIME type such as ``image/png`` is accepted too) and from the content
otherwise (`sniff`). When the caller's type is given and the content clearly is another one,
the error is ``media.type_mismatch`` naming what was found: at once where the first bytes are a
format's signature (a PNG is an image even though FFmpeg would read it as a one-frame video),
else when the content cannot be read as the declared type.
Whatever goes wrong inside a decoder ends as a `ProbeError` (``media.unreadable`` and friends),
never as a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labelport.media.errors import (
    TYPE_MISMATCH,
    UNREADABLE,
    UNSUPPORTED_TYPE,
    MediaError,
    ProbeError,
)
from labelport.media.geo import is_geotiff, probe_geojson, probe_geotiff
from labelport.media.image import probe_image
from labelport.media.pointcloud import probe_pcd, probe_ply
from labelport.media.probe_types import MEDIA_TYPES, Probe, ProbeLimits
from labelport.media.text import decode_text, read_text_file, tokenize

_SNIFF_BYTES = 4096

_ALIASES = {
    "img": "image",
    "picture": "image",
    "pointcloud": "point_cloud",
    "point-cloud": "point_cloud",
    "point cloud": "point_cloud",
    "3d": "point_cloud",
    "sensor_fusion": "point_cloud",
    "geospatial": "geo",
    "geojson": "geo",
    "geotiff": "geo",
    "txt": "text",
}


def normalize_media_type(declared: str | None) -> str | None:
    """Map a caller's media type (``image``, ``Image``, ``image/png``, ``pointcloud``...) to one
    of `MEDIA_TYPES`, or None when absent or not recognisable (then the content decides)."""
    if not declared or not isinstance(declared, str):
        return None
    value = declared.strip().lower()
    if value in MEDIA_TYPES:
        return value
    if value in _ALIASES:
        return _ALIASES[value]
    if "/" in value:
        major, minor = value.split("/", 1)
        minor = minor.split(";", 1)[0].strip()
        if "geo+json" in minor or minor in ("geotiff", "tiff; application=geotiff"):
            return "geo"
        if minor in ("x-pcd", "pcd", "ply", "x-ply"):
            return "point_cloud"
        if major in ("image", "video", "audio", "text"):
            return major
    return None


_GEOJSON_HEAD = re.compile(
    r'"type"\s*:\s*"(FeatureCollection|Feature|Point|MultiPoint|LineString|MultiLineString|'
    r'Polygon|MultiPolygon|GeometryCollection)"'
)


def sniff(path: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """(media type, format) guessed from the first bytes, or (None, None).

    Containers that can hold video or audio (MP4/MOV, Matroska/WebM, Ogg) are answered from the
    brand where it says so (M4A is audio) and otherwise as video; `probe_file` then asks PyAV
    whether there is a video stream at all.
    """
    with open(path, "rb") as f:
        return sniff_bytes(f.read(_SNIFF_BYTES))


def sniff_bytes(head: bytes) -> tuple[str | None, str | None]:
    """`sniff` of a file's first bytes (up to 4 KiB are looked at), for bytes not on disk."""
    head = head[:_SNIFF_BYTES]
    if not head:
        return None, None
    for magic, result in _MAGIC:
        if head.startswith(magic):
            return result
    if head.startswith((b"# .PCD", b"VERSION", b"FIELDS")) and b"\nDATA " in head:
        return "point_cloud", "pcd"  # checked before text: binary PCD data follows the header
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "wav"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp"
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return "video", "avi"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return "audio", "m4a"
        if brand in (b"heic", b"heix", b"mif1", b"avif", b"msf1"):
            return "image", brand.decode("ascii").strip()
        return "video", "mp4"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "audio", "mp3"  # an MPEG audio frame sync (layer bits non-zero)
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "video", "mpegts"
    return _sniff_text(head)


_MAGIC: list[tuple[bytes, tuple[str, str]]] = [
    (b"\x89PNG\r\n\x1a\n", ("image", "png")),
    (b"\xff\xd8\xff", ("image", "jpeg")),
    (b"GIF87a", ("image", "gif")),
    (b"GIF89a", ("image", "gif")),
    (b"BM", ("image", "bmp")),
    (b"II*\x00", ("image", "tiff")),
    (b"MM\x00*", ("image", "tiff")),
    (b"\x1aE\xdf\xa3", ("video", "matroska")),
    (b"OggS", ("audio", "ogg")),
    (b"fLaC", ("audio", "flac")),
    (b"ID3", ("audio", "mp3")),
    (b"\x00\x00\x01\xba", ("video", "mpeg")),
    (b"ply\n", ("point_cloud", "ply")),
    (b"ply\r\n", ("point_cloud", "ply")),
]


def _sniff_text(head: bytes) -> tuple[str | None, str | None]:
    # The sniff window may cut a multi-byte character in half: allow up to 3 bytes of it.
    for cut in range(4):
        try:
            text = decode_text(head[: len(head) - cut] if cut else head)
            break
        except MediaError:
            continue
    else:
        return None, None
    stripped = text.lstrip()
    if stripped.startswith("{") and _GEOJSON_HEAD.search(stripped):
        return "geo", "geojson"
    first = next((ln for ln in stripped.splitlines() if ln.strip()), "")
    if first.startswith("# .PCD") or first.split(" ", 1)[0] in ("VERSION", "FIELDS"):
        return "point_cloud", "pcd"
    return "text", "text"


def probe_text(path: Path, limits: ProbeLimits) -> Probe:
    return text_probe(read_text_file(str(path), limits.max_text_bytes))


def text_probe(text: str) -> Probe:
    """The probe of a text already decoded (e.g. inline ``text_data``)."""
    tokens = tokenize(text)
    return Probe(
        media_type="text",
        format="text",
        mime_type="text/plain",
        token_count=len(tokens),
        tokens=tokens,
        sentence_count=(tokens[-1]["sentence"] + 1) if tokens else 0,
        extra={"characters": len(text)},
    )


def _probe_point_cloud(path: Path, limits: ProbeLimits, fmt: str | None) -> Probe:
    if fmt == "ply" or (fmt is None and path.suffix.lower() == ".ply"):
        return probe_ply(path, limits)
    if fmt == "pcd" or path.suffix.lower() == ".pcd":
        return probe_pcd(path, limits)
    raise ProbeError(UNREADABLE, "point cloud is neither a .pcd nor a .ply file")


def _probe_geo(path: Path, limits: ProbeLimits, fmt: str | None) -> Probe:
    if fmt == "tiff":
        return probe_geotiff(path, limits)
    if fmt == "geojson" or path.suffix.lower() in (".geojson", ".json"):
        return probe_geojson(path, limits)
    raise ProbeError(UNREADABLE, "geo media is neither GeoJSON nor a GeoTIFF")


_PROBES: dict[str, Callable[[Path, ProbeLimits, str | None], Probe]] = {
    "image": lambda p, lim, _fmt: probe_image(p, lim),
    "video": lambda p, lim, _fmt: _av_probe().probe_video(p, lim),
    "audio": lambda p, lim, _fmt: _av_probe().probe_audio(p, lim),
    "text": lambda p, lim, _fmt: probe_text(p, lim),
    "point_cloud": _probe_point_cloud,
    "geo": _probe_geo,
}


def probe_file(
    path: str | os.PathLike[str],
    media_type: str | None = None,
    *,
    limits: ProbeLimits | None = None,
    filename: str | None = None,
) -> Probe:
    """Probe a local file. ``media_type`` is the caller's claim (may be None or a MIME type).

    ``filename`` is the media's original name; its extension is a last-resort hint (e.g. a
    point cloud stored in a temp file without one) when the content does not decide.

    Raises `ProbeError` with code ``media.unreadable``, ``media.too_many_pixels``,
    ``media.too_large``, ``media.type_mismatch`` or ``media.unsupported_type``.
    """
    path = Path(path)
    limits = limits or ProbeLimits()
    try:
        sniffed, fmt = sniff(path)
    except OSError as exc:
        raise ProbeError(UNREADABLE, f"cannot read the file: {exc.strerror or exc}") from None
    declared = normalize_media_type(media_type)
    if sniffed is None and declared is None:
        raise ProbeError(
            UNSUPPORTED_TYPE,
            "the media type cannot be told from the content; give one of " + ", ".join(MEDIA_TYPES),
        )
    contradiction = _contradiction(declared, sniffed, fmt)
    if contradiction is not None:
        raise ProbeError(TYPE_MISMATCH, contradiction)
    kind = declared or sniffed
    if declared is None and sniffed == "image" and fmt == "tiff" and is_geotiff(path):
        kind = "geo"
    if declared is None and sniffed == "video" and fmt in ("mp4", "matroska") and _audio_only(path):
        kind = "audio"
    try:
        probe = _run(kind, path, limits, fmt or _format_from_name(filename))  # type: ignore[arg-type]
    except ProbeError as exc:
        if exc.code == UNREADABLE and declared and sniffed and sniffed != declared:
            raise ProbeError(
                TYPE_MISMATCH,
                f"declared {declared}, but the content looks like {sniffed} ({fmt}): {exc.message}",
            ) from None
        raise
    probe.sniffed_type = sniffed
    return probe


# The declared types that content beginning with a format's signature may be: a decoder that
# can read it anyway must not decide (FFmpeg opens a PNG or a GIF as a one-frame video, and would
# make a video file of it). Containers that hold video or audio allow both; a TIFF may be a
# GeoTIFF; a textual point cloud may be sent as text. Formats told by a heuristic rather than a
# signature (MPEG audio frame sync, MPEG-TS packet bytes) are absent: the declared type's
# decoder decides, and its failure is a mismatch as before.
_SIGNED: dict[tuple[str, str], frozenset[str]] = {
    **{("image", f): frozenset({"image"}) for f in ("png", "jpeg", "gif", "bmp", "webp")},
    **{("image", f): frozenset({"image"}) for f in ("heic", "heix", "mif1", "avif", "msf1")},
    ("image", "tiff"): frozenset({"image", "geo"}),
    ("video", "mp4"): frozenset({"video", "audio"}),
    ("video", "matroska"): frozenset({"video", "audio"}),
    ("video", "avi"): frozenset({"video"}),
    ("video", "mpeg"): frozenset({"video"}),
    ("audio", "wav"): frozenset({"audio"}),
    ("audio", "flac"): frozenset({"audio"}),
    ("audio", "m4a"): frozenset({"audio"}),
    ("audio", "ogg"): frozenset({"audio", "video"}),
    ("point_cloud", "ply"): frozenset({"point_cloud", "text"}),
    ("point_cloud", "pcd"): frozenset({"point_cloud", "text"}),
}


def _contradiction(declared: str | None, sniffed: str | None, fmt: str | None) -> str | None:
    """Why the content cannot be the declared type, or None when it may be (or the content
    does not say: then the declared type's decoder decides)."""
    if declared is None or sniffed is None or declared == sniffed:
        return None
    if sniffed in ("text", "geo"):
        # No audio or video file is text; FFmpeg would read a text file as a playlist or a
        # concat list naming other files.
        if declared in ("video", "audio"):
            what = "GeoJSON" if sniffed == "geo" else "text"
            return f"declared {declared}, but the content is {what}, not {_KIND[declared]}"
        return None
    allowed = _SIGNED.get((sniffed, fmt or ""))
    if allowed is None or declared in allowed:
        return None
    return (
        f"declared {declared}, but the content is {(fmt or sniffed).upper()}, which is "
        f"{_KIND[sniffed]}, not {_KIND[declared]} (media.type {sniffed!r})"
    )


_KIND = {
    "image": "an image",
    "video": "a video",
    "audio": "audio",
    "text": "text",
    "point_cloud": "a point cloud",
    "geo": "geo media",
}


def _format_from_name(filename: str | None) -> str | None:
    suffix = Path(filename).suffix.lower() if filename else ""
    return {".ply": "ply", ".pcd": "pcd", ".geojson": "geojson", ".json": "geojson"}.get(suffix)


def _run(kind: str, path: Path, limits: ProbeLimits, fmt: str | None) -> Probe:
    try:
        return _PROBES[kind](path, limits, fmt)
    except MediaError:
        raise
    except (MemoryError, RecursionError):
        raise ProbeError(UNREADABLE, f"{kind} file is too complex to read") from None
    except Exception as exc:
        # The decoders (Pillow, FFmpeg, json) raise a wide and version-dependent set of
        # exceptions on hostile input; any of them means "unreadable", and ingest needs a code.
        raise ProbeError(UNREADABLE, f"{kind} file is unreadable: {exc}") from None


def _av_probe() -> Any:
    # PyAV is imported with the first video or audio probe: a process that never sees one (an
    # import of images, a server at rest) does not hold it (~30 MiB, ~0.1 s).
    from labelport.media import av_probe

    return av_probe


def _audio_only(path: Path) -> bool:
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return not container.streams.video and bool(container.streams.audio)
    except Exception:
        return False  # probing proper will report why it is unreadable
