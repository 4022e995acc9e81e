"""Geo probing: GeoJSON (bounds over every coordinate) and GeoTIFF (bounds from its tags).

GeoTIFF georeferencing is read from the TIFF tags with Pillow - no GDAL:
ModelPixelScale (33550) + ModelTiepoint (33922), or ModelTransformation (34264); the CRS comes
from the GeoKeyDirectory (34735). Bounds are in the raster's CRS units, as
``[min_x, min_y, max_x, max_y]``; for PixelIsPoint rasters they are widened by half a pixel so
they cover whole pixels, as GDAL does.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelport.media.errors import TOO_LARGE, UNREADABLE, ProbeError
from labelport.media.probe_types import Probe, ProbeLimits

if TYPE_CHECKING:
    from PIL import TiffImagePlugin

_GEOJSON_TYPES = frozenset(
    {
        "FeatureCollection",
        "Feature",
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)

TAG_PIXEL_SCALE = 33550
TAG_TIEPOINT = 33922
TAG_TRANSFORMATION = 34264
TAG_GEOKEYS = 34735
_KEY_RASTER_TYPE = 1025
_KEY_GEOGRAPHIC_CRS = 2048
_KEY_PROJECTED_CRS = 3072
_PIXEL_IS_POINT = 2


def probe_geojson(path: Path, limits: ProbeLimits) -> Probe:
    with open(path, "rb") as f:
        data = f.read(limits.max_json_bytes + 1)
    if len(data) > limits.max_json_bytes:
        raise ProbeError(TOO_LARGE, f"GeoJSON is larger than {limits.max_json_bytes} bytes")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProbeError(UNREADABLE, f"GeoJSON is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") not in _GEOJSON_TYPES:
        raise ProbeError(UNREADABLE, "not GeoJSON: the top level has no GeoJSON 'type'")
    lo = [math.inf, math.inf]
    hi = [-math.inf, -math.inf]
    for lon, lat in _positions(doc):
        lo = [min(lo[0], lon), min(lo[1], lat)]
        hi = [max(hi[0], lon), max(hi[1], lat)]
    bounds = None if lo[0] == math.inf else [lo[0], lo[1], hi[0], hi[1]]
    extra: dict[str, Any] = {"geojson_type": doc["type"]}
    if doc["type"] == "FeatureCollection":
        features = doc.get("features")
        extra["feature_count"] = len(features) if isinstance(features, list) else 0
    return Probe(
        media_type="geo",
        format="geojson",
        mime_type="application/geo+json",
        bounds=bounds,
        crs="EPSG:4326",  # RFC 7946: GeoJSON coordinates are WGS 84 lon/lat
        extra=extra,
    )


def _positions(node: Any) -> Iterator[tuple[float, float]]:
    """Every (lon, lat) position under a GeoJSON object, iteratively (no recursion limit)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            kind = item.get("type")
            if kind == "FeatureCollection":
                stack.extend(item.get("features") or [])
            elif kind == "Feature":
                stack.append(item.get("geometry"))
            elif kind == "GeometryCollection":
                stack.extend(item.get("geometries") or [])
            elif "coordinates" in item:
                stack.append(item["coordinates"])
        elif isinstance(item, list):
            if len(item) >= 2 and all(_is_number(v) for v in item[:2]):
                yield float(item[0]), float(item[1])
            else:
                stack.extend(item)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _read_first_ifd(path: Path) -> TiffImagePlugin.ImageFileDirectory_v2:
    """The first TIFF directory, without opening the image.

    Georeferenced rasters are often far beyond Pillow's decompression-bomb limit, and only
    their tags are needed, so the pixels (and that limit) are never involved.
    """
    from PIL import TiffImagePlugin  # here: Pillow is not loaded where no TIFF is looked at

    try:
        with open(path, "rb") as f:
            header = f.read(16)
            if header[:4] not in (b"II*\x00", b"MM\x00*"):
                raise ProbeError(UNREADABLE, "not a TIFF file")
            ifd = TiffImagePlugin.ImageFileDirectory_v2(header[:8])
            f.seek(ifd.next)
            ifd.load(f)
            return ifd
    except ProbeError:
        raise
    except (OSError, SyntaxError, ValueError, KeyError, struct.error) as exc:
        raise ProbeError(UNREADABLE, f"TIFF directory is unreadable: {exc}") from None


def probe_geotiff(path: Path, limits: ProbeLimits) -> Probe:
    tags = _read_first_ifd(path)
    width, height = tags.get(256), tags.get(257)
    if not isinstance(width, int) or not isinstance(height, int) or width < 1 or height < 1:
        raise ProbeError(UNREADABLE, "TIFF has no valid image width/height")
    scale = tags.get(TAG_PIXEL_SCALE)
    tiepoint = tags.get(TAG_TIEPOINT)
    transform = tags.get(TAG_TRANSFORMATION)
    geokeys = tags.get(TAG_GEOKEYS)
    keys = _geokeys(geokeys)
    half = 0.5 if keys.get(_KEY_RASTER_TYPE) == _PIXEL_IS_POINT else 0.0
    corners = [(-half, -half), (width - half, -half), (-half, height - half)]
    corners.append((width - half, height - half))
    if transform is not None and len(transform) >= 8:
        a, b, _c, d, e, f, _g, h = (float(v) for v in transform[:8])
        world = [(a * i + b * j + d, e * i + f * j + h) for i, j in corners]
    elif scale is not None and tiepoint is not None and len(scale) >= 2 and len(tiepoint) >= 6:
        sx, sy = float(scale[0]), float(scale[1])
        ti, tj, _tk, tx, ty, _tz = (float(v) for v in tiepoint[:6])
        # Raster y grows downwards, world y upwards: hence the minus on sy.
        world = [(tx + (i - ti) * sx, ty - (j - tj) * sy) for i, j in corners]
    else:
        raise ProbeError(
            UNREADABLE, "TIFF has no georeferencing (ModelTiepoint/PixelScale or Transformation)"
        )
    xs = [p[0] for p in world]
    ys = [p[1] for p in world]
    epsg = keys.get(_KEY_PROJECTED_CRS) or keys.get(_KEY_GEOGRAPHIC_CRS)
    return Probe(
        media_type="geo",
        format="geotiff",
        mime_type="image/tiff",
        width=width,
        height=height,
        bounds=[min(xs), min(ys), max(xs), max(ys)],
        crs=f"EPSG:{epsg}" if isinstance(epsg, int) and 0 < epsg < 32767 else None,
    )


def _geokeys(directory: Any) -> dict[int, int]:
    """Short-valued GeoKeys (those stored inline in the directory) by key id."""
    if not directory or len(directory) < 4:
        return {}
    values = [int(v) for v in directory]
    count = values[3]
    keys: dict[int, int] = {}
    for n in range(count):
        entry = values[4 + 4 * n : 8 + 4 * n]
        if len(entry) < 4:
            break
        key_id, location, _count, value = entry
        if location == 0:  # value stored inline
            keys[key_id] = value
    return keys


def is_geotiff(path: Path) -> bool:
    """Whether a TIFF carries GeoTIFF georeferencing tags (reads the first directory only)."""
    try:
        tags = _read_first_ifd(path)
    except ProbeError:
        return False
    return any(t in tags for t in (TAG_TIEPOINT, TAG_TRANSFORMATION, TAG_GEOKEYS))
