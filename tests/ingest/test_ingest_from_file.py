"""Packets handed over as files (what the HTTP server does with a spooled body)."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import pytest
from ingest_helpers import box

from labelport.errors import Rejected
from labelport.ingest import envelope


def _video_packet(media) -> dict:
    fpm = {
        str(frame): [box("cat", 1 + frame, 1, 10 + frame, 10, number=1), box("dog", 5, 5, 50, 50)]
        for frame in range(0, 10, 3)
    }
    return media.packet("clip.mp4", "video", frame_packet_map=fpm)


def test_a_file_imports_like_its_bytes(project, media, tmp_path: Path) -> None:
    data = msgspec.json.encode(_video_packet(media))
    path = tmp_path / "packet.json"
    path.write_bytes(data)
    service = project.service
    with path.open("rb") as f:
        f.read(7)  # a file is read from its start, wherever its position is
        from_file = service.submit_packet(project.id, f)
    from_bytes = service.submit_packet(project.id, data)
    a = service.wait_import(project.id, from_file["id"], timeout=60)
    b = service.wait_import(project.id, from_bytes["id"], timeout=60)
    assert a["status"] == b["status"] == "success", (a, b)
    for key in ("added", "instances_per_label", "sequences_created", "frames_with_instances"):
        assert a["counts"][key] == b["counts"][key]

    def content(done: dict) -> list[tuple]:
        rows = project.instances(done["file_id"])
        return sorted((i["frame"], i["label_name"], i["x_min"], i["x_max"]) for i in rows)

    assert content(a) == content(b) and len(content(a)) == 8
    # What a rerun after a crash decodes is the file's bytes, byte for byte.
    row = service.store.get_import(a["id"])
    with service.blobs.open(row.packet_blob_key) as stored:
        packet, _staged = envelope.unwrap(stored.read())
    assert bytes(packet) == data


def test_a_bad_file_is_rejected_with_paths(project, media, tmp_path: Path) -> None:
    packet = _video_packet(media)
    packet["frame_packet_map"]["3"][0]["x_min"] = "left"
    path = tmp_path / "bad.json"
    path.write_bytes(msgspec.json.encode(packet))
    with path.open("rb") as f, pytest.raises(Rejected) as caught:
        project.service.submit_packet(project.id, f)
    assert [p.path for p in caught.value.report.problems] == ["frame_packet_map/3/0/x_min"]

    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with empty.open("rb") as f, pytest.raises(Rejected) as caught:
        project.service.submit_packet(project.id, f)
    assert [p.code for p in caught.value.report.problems] == ["packet.not_json"]


def test_an_in_memory_file_works_too(project, media) -> None:
    body = io.BytesIO(msgspec.json.encode(_video_packet(media)))
    submitted = project.service.submit_packet(project.id, body)
    done = project.service.wait_import(project.id, submitted["id"], timeout=60)
    assert done["status"] == "success" and done["counts"]["added"] == 8


def test_a_pipe_is_read_not_mapped(project, media) -> None:
    import os
    import threading

    data = msgspec.json.encode(_video_packet(media))
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as w:
            w.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    with os.fdopen(read_end, "rb") as r:
        submitted = project.service.submit_packet(project.id, r)
    feeder.join()
    done = project.service.wait_import(project.id, submitted["id"], timeout=60)
    assert done["status"] == "success" and done["counts"]["added"] == 8
