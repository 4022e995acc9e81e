"""Point cloud probing: .pcd (ascii, binary, binary_compressed) and .ply (ascii, binary).

The point count always comes from the header (checked against the file's length for binary
data). Bounds (min/max of x, y, z) are computed when the data is plain (not compressed), has
float or integer x/y/z fields, and there are at most ``ProbeLimits.max_bounds_points`` points;
otherwise ``bounds`` is None. NaN coordinates (PCD's "no point") are skipped.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from labelport.media.errors import UNREADABLE, ProbeError
from labelport.media.probe_types import Probe, ProbeLimits

_MAX_HEADER_BYTES = 64 * 1024


def _bad(message: str) -> ProbeError:
    return ProbeError(UNREADABLE, message)


def _read_header_lines(f: BinaryIO, last: Iterable[str]) -> list[str]:
    """Header lines up to and including the first starting with one of ``last``."""
    lines: list[str] = []
    consumed = 0
    while True:
        raw = f.readline(_MAX_HEADER_BYTES)
        consumed += len(raw)
        if not raw or consumed > _MAX_HEADER_BYTES:
            raise _bad("point cloud header is missing its end or is too long")
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise _bad("point cloud header is not ASCII text") from None
        lines.append(line)
        if any(line.split(" ", 1)[0] == word for word in last):
            return lines


def _bounds(points: Iterator[tuple[float, float, float]]) -> list[float] | None:
    lo = [math.inf] * 3
    hi = [-math.inf] * 3
    for point in points:
        if any(math.isnan(v) for v in point):
            continue
        for i in range(3):
            v = point[i]
            if v < lo[i]:
                lo[i] = v
            if v > hi[i]:
                hi[i] = v
    if lo[0] == math.inf:
        return None
    return [*lo, *hi]


# --- PCD ---------------------------------------------------------------------------------

# PCD TYPE letter (F float, I signed, U unsigned) and SIZE in bytes -> struct code.
_PCD_TYPES = {(kind, size): code for kind, size, code in (
    ("F", 4, "f"), ("F", 8, "d"), ("I", 1, "b"), ("I", 2, "h"), ("I", 4, "i"), ("I", 8, "q"),
    ("U", 1, "B"), ("U", 2, "H"), ("U", 4, "I"), ("U", 8, "Q"))}  # fmt: skip


def probe_pcd(path: Path, limits: ProbeLimits) -> Probe:
    with open(path, "rb") as f:
        lines = _read_header_lines(f, ["DATA"])
        data_start = f.tell()
        header: dict[str, list[str]] = {}
        for line in lines:
            if line and not line.startswith("#"):
                word, *values = line.split()
                header[word.upper()] = values
        try:
            fields = header["FIELDS"]
            sizes = [int(v) for v in header["SIZE"]]
            types = [v.upper() for v in header["TYPE"]]
            counts = [int(v) for v in header.get("COUNT", ["1"] * len(fields))]
            width = int(header["WIDTH"][0])
            height = int(header.get("HEIGHT", ["1"])[0])
            points = int(header["POINTS"][0]) if "POINTS" in header else width * height
            data = header["DATA"][0].lower()
        except (KeyError, IndexError, ValueError) as exc:
            raise _bad(f"PCD header is incomplete or malformed ({exc})") from None
        if not len(fields) == len(sizes) == len(types) == len(counts) or points < 0:
            raise _bad("PCD header: FIELDS, SIZE, TYPE and COUNT disagree")
        if data not in ("ascii", "binary", "binary_compressed"):
            raise _bad(f"PCD DATA {data!r} is not ascii, binary or binary_compressed")
        record = sum(s * c for s, c in zip(sizes, counts, strict=True))
        file_size = os.fstat(f.fileno()).st_size
        bounds = None
        xyz = [fields.index(n) if n in fields else None for n in ("x", "y", "z")]
        wants_bounds = None not in xyz and points <= limits.max_bounds_points
        if data == "ascii":
            if wants_bounds:
                columns = [sum(counts[:i]) for i in xyz]
                bounds = _bounds(_pcd_ascii_points(f, columns, points))
        elif data == "binary":
            if data_start + points * record > file_size:
                raise _bad(f"PCD declares {points} points but the binary data is truncated")
            if wants_bounds:
                codes = [
                    _PCD_TYPES.get((kind, size)) if count == 1 else None
                    for kind, size, count in zip(types, sizes, counts, strict=True)
                ]
                field_sizes = [s * c for s, c in zip(sizes, counts, strict=True)]
                reader = _xyz_reader("<", codes, field_sizes, xyz)  # type: ignore[arg-type]
                if reader is not None:
                    bounds = _bounds(_binary_points(f, reader, points))
        else:
            head = f.read(8)
            if len(head) < 8:
                raise _bad("PCD binary_compressed data is truncated")
            _compressed, uncompressed = struct.unpack("<II", head)
            if uncompressed != points * record:
                raise _bad("PCD binary_compressed size does not match the declared points")
    return Probe(
        media_type="point_cloud",
        format="pcd",
        point_count=points,
        bounds=bounds,
        extra={"fields": fields, "encoding": data, "width": width, "height": height},
    )


def _pcd_ascii_points(
    f: BinaryIO, columns: list[int], points: int
) -> Iterator[tuple[float, float, float]]:
    seen = 0
    for raw in f:
        parts = raw.split()
        if not parts:
            continue
        if seen == points:
            raise _bad(f"PCD has more data lines than the {points} points it declares")
        try:
            yield (float(parts[columns[0]]), float(parts[columns[1]]), float(parts[columns[2]]))
        except (IndexError, ValueError):
            raise _bad(f"PCD data line {seen + 1} is malformed") from None
        seen += 1
    if seen != points:
        raise _bad(f"PCD declares {points} points but has {seen} data lines")


def _xyz_reader(
    endian: str, codes: list[str | None], sizes: list[int], xyz: list[int]
) -> tuple[struct.Struct, list[int]] | None:
    """A struct reading one record's x, y, z (skipping other fields), and the axis of each value.

    ``codes[i]`` is the struct code of field i (None if not a scalar number), ``sizes[i]`` its
    byte size in the record, ``xyz`` the field index of x, y and z.
    """
    parts = []
    for i, (code, size) in enumerate(zip(codes, sizes, strict=True)):
        if i in xyz:
            if code is None:
                return None
            parts.append(code)
        else:
            parts.append(f"{size}x")
    # Values come out in field order; fields may be stored as e.g. z, x, y.
    return struct.Struct(endian + "".join(parts)), sorted(range(3), key=lambda k: xyz[k])


def _binary_points(
    f: BinaryIO, reader: tuple[struct.Struct, list[int]], points: int
) -> Iterator[tuple[float, float, float]]:
    unpacker, order = reader
    remaining = points
    while remaining:
        n = min(4096, remaining)
        chunk = f.read(unpacker.size * n)
        if len(chunk) < unpacker.size * n:
            raise _bad("point cloud binary data is truncated")
        for values in unpacker.iter_unpack(chunk):
            point = [0.0, 0.0, 0.0]
            for slot, axis in enumerate(order):
                point[axis] = float(values[slot])
            yield (point[0], point[1], point[2])
        remaining -= n


# --- PLY ---------------------------------------------------------------------------------

_PLY_TYPES = {"char": "b", "int8": "b", "uchar": "B", "uint8": "B", "short": "h", "int16": "h",
              "ushort": "H", "uint16": "H", "int": "i", "int32": "i", "uint": "I", "uint32": "I",
              "float": "f", "float32": "f", "double": "d", "float64": "d"}  # fmt: skip


class _Element:
    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.count = count
        self.properties: list[tuple[str, str | None]] = []  # (name, scalar struct code | None)


def probe_ply(path: Path, limits: ProbeLimits) -> Probe:
    with open(path, "rb") as f:
        lines = _read_header_lines(f, ["end_header"])
        data_start = f.tell()
        if not lines or lines[0] != "ply":
            raise _bad("not a PLY file (no 'ply' magic line)")
        encoding = None
        elements: list[_Element] = []
        try:
            for line in lines[1:]:
                words = line.split()
                if not words:
                    continue
                if words[0] == "format":
                    encoding = words[1]
                elif words[0] == "element":
                    elements.append(_Element(words[1], int(words[2])))
                elif words[0] == "property":
                    if words[1] == "list":
                        elements[-1].properties.append((words[4], None))
                    else:
                        elements[-1].properties.append((words[2], _PLY_TYPES[words[1]]))
        except (IndexError, ValueError, KeyError) as exc:
            raise _bad(f"PLY header is malformed near {line!r} ({exc})") from None
        if encoding not in ("ascii", "binary_little_endian", "binary_big_endian"):
            raise _bad(f"PLY format {encoding!r} is not ascii or binary")
        vertex = next((e for e in elements if e.name == "vertex"), None)
        if vertex is None:
            raise _bad("PLY file has no vertex element")
        names = [p[0] for p in vertex.properties]
        has_xyz = all(n in names for n in ("x", "y", "z"))
        before = elements[: elements.index(vertex)]
        bounds = None
        wants_bounds = has_xyz and vertex.count <= limits.max_bounds_points
        if encoding == "ascii":
            if wants_bounds and not any(p[1] is None for p in vertex.properties):
                skip = sum(e.count for e in before)
                columns = [names.index(n) for n in ("x", "y", "z")]
                bounds = _bounds(_ply_ascii_points(f, skip, columns, vertex.count))
        else:
            endian = "<" if encoding == "binary_little_endian" else ">"
            fixed = all(code is not None for e in [*before, vertex] for _, code in e.properties)
            if fixed:
                offset = sum(e.count * _ply_stride(endian, e) for e in before)
                stride = _ply_stride(endian, vertex)
                file_size = os.fstat(f.fileno()).st_size
                if data_start + offset + vertex.count * stride > file_size:
                    raise _bad(f"PLY declares {vertex.count} vertices but the data is truncated")
                if wants_bounds:
                    f.seek(data_start + offset)
                    codes = [code for _, code in vertex.properties]
                    sizes = [struct.calcsize(endian + c) for c in codes]  # type: ignore[operator]
                    xyz = [names.index(n) for n in ("x", "y", "z")]
                    reader = _xyz_reader(endian, codes, sizes, xyz)
                    if reader is not None:
                        bounds = _bounds(_binary_points(f, reader, vertex.count))
    extra: dict[str, object] = {"encoding": encoding, "properties": names}
    faces = next((e.count for e in elements if e.name == "face"), None)
    if faces is not None:
        extra["face_count"] = faces
    return Probe(
        media_type="point_cloud",
        format="ply",
        point_count=vertex.count,
        bounds=bounds,
        extra=extra,
    )


def _ply_stride(endian: str, element: _Element) -> int:
    return struct.calcsize(endian + "".join(code or "" for _, code in element.properties))


def _ply_ascii_points(
    f: BinaryIO, skip: int, columns: list[int], count: int
) -> Iterator[tuple[float, float, float]]:
    seen = 0
    for raw in f:
        parts = raw.split()
        if not parts:
            continue
        if skip:
            skip -= 1
            continue
        try:
            yield (float(parts[columns[0]]), float(parts[columns[1]]), float(parts[columns[2]]))
        except (IndexError, ValueError):
            raise _bad(f"PLY vertex line {seen + 1} is malformed") from None
        seen += 1
        if seen == count:
            return
    raise _bad(f"PLY declares {count} vertices but has {seen}")
