"""A packet mapped from a file decodes exactly like its bytes, without staying resident."""

from __future__ import annotations

import mmap
from pathlib import Path

import msgspec

from labelport.format import decode_packet


def _packet(frames: int, per_frame: int) -> bytes:
    fpm = {
        str(frame): [
            {"type": "box", "name": f"label{j % 7}", "number": j + 1,
             "x_min": 1.25 + j, "y_min": 2.5, "x_max": 30.75 + j, "y_max": 40.0 + frame % 9}
            for j in range(per_frame)
        ]
        for frame in range(frames)
    }  # fmt: skip
    return msgspec.json.encode({"media": {"type": "video"}, "frame_packet_map": fpm})


def _mapped(path: Path) -> mmap.mmap:
    with path.open("rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _resident_kb(path: Path) -> int:
    """Resident size of this process's mappings of `path` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_mapped_packet_decodes_like_bytes(tmp_path: Path) -> None:
    data = _packet(40, 25)
    bad = data.replace(b'"x_min":1.25', b'"x_min":"left"', 1)
    for payload in (data, bad, b"", b"[1]", b'{"frame_packet_map": {"06": []}}'):
        path = tmp_path / "packet.json"
        path.write_bytes(payload)
        expected = decode_packet(payload)
        if not payload:  # an empty file cannot be mapped; Service.submit_packet reads it
            continue
        mapped = _mapped(path)
        packet, report = decode_packet(mapped)
        assert packet == expected[0]
        assert [(p.code, p.path) for p in report.problems] == [
            (p.code, p.path) for p in expected[1].problems
        ]
        del packet, report
        mapped.close()  # nothing decoded still points into the mapping


def test_mapped_packet_is_handed_back_while_decoding(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(_packet(2_000, 100))  # ~25 MB
    size_kb = path.stat().st_size // 1024
    mapped = _mapped(path)
    packet, report = decode_packet(mapped)
    assert packet is not None and not report.problems
    assert sum(map(len, packet.frame_packet_map.values())) == 200_000
    # Every page was read; at most the last few MB decoded are still resident.
    assert _resident_kb(path) < size_kb // 2, (_resident_kb(path), size_kb)
    del packet, report
    mapped.close()
