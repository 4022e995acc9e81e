"""The media type comes from the content (issue 13, item 7): a PNG declared as video fails with
`media.type_mismatch` at `media`, by URL, by upload and in a batch, as the reverse always did."""

from __future__ import annotations

from typing import Any

import msgspec
from ingest_helpers import box, row_counts


def _video_packet(media, name: str) -> dict[str, Any]:
    return media.packet(name, "video", frame_packet_map={0: [box("cat", 1, 1, 5, 5)]})


def _problems(done: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["code"], p["path"]) for p in done["problems"]]


def test_png_declared_video_is_a_mismatch(project, media) -> None:
    done = project.run(_video_packet(media, "image.png"))
    assert done["status"] == "failed", done
    assert _problems(done) == [("media.type_mismatch", "media")], done
    assert "PNG, which is an image, not a video" in done["problems"][0]["message"]
    assert (row_counts(project.service)["file"], row_counts(project.service)["instance"]) == (0, 0)


def test_other_contradictions_are_mismatches(project, media) -> None:
    cases = [
        media.packet("clip.mp4", "image", instance_list=[box("cat", 1, 1, 5, 5)]),  # the reverse
        media.packet("image.png", "audio", instance_list=[]),
        _video_packet(media, "tone.wav"),
        media.packet("tone.wav", "image", instance_list=[]),
    ]
    for packet in cases:
        done = project.run(packet)
        assert done["status"] == "failed", (packet, done)
        assert _problems(done) == [("media.type_mismatch", "media")], (packet, done)
    assert row_counts(project.service)["file"] == 0
    # Declared as what they are, the same files import.
    assert project.run(media.packet("image.png", "image", instance_list=[]))["status"] == "success"
    assert project.run(_video_packet(media, "clip.mp4"))["status"] == "success"


def test_uploaded_png_declared_video_is_a_mismatch(project, media_root) -> None:
    packet = {"media": {"type": "video"}, "frame_packet_map": {"0": [box("cat", 1, 1, 5, 5)]}}
    with open(media_root / "image.png", "rb") as stream:
        created = project.submit(packet, upload=("image.png", stream))
    done = project.service.wait_import(project.id, created["id"], timeout=60)
    assert done["status"] == "failed", done
    assert _problems(done) == [("media.type_mismatch", "media")], done


def test_batch_line_png_declared_video_fails_alone(project, media) -> None:
    lines = [
        media.packet("image.png", "image", instance_list=[box("cat", 1, 1, 5, 5)]),
        _video_packet(media, "image.png"),
        {"media": {"url": media.url("image.png")}, "instance_list": [box("cat", 1, 1, 5, 5)]},
        media.packet("clip.mp4", "image", instance_list=[box("cat", 1, 1, 5, 5)]),
    ]
    body = b"".join(msgspec.json.encode(p) + b"\n" for p in lines)
    service = project.service
    batch = service.submit_batch(project.id, body)
    ended = service.wait_batch(project.id, batch["id"], timeout=60)
    assert ended["status"] == "partial", ended
    files = service.get_batch(project.id, batch["id"], per_page=100)["files"]
    assert [f["status"] for f in files] == ["success", "failed", "success", "failed"], files
    for failed in (files[1], files[3]):
        assert _problems(failed) == [("media.type_mismatch", "media")], failed
