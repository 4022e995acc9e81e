"""Video frames decoded server-side: the right frame, cached on disk, bounds refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from labelport.web.frames import frame_jpeg
from media_factory import make_mp4


def _colour(frame: int) -> tuple[int, int, int]:
    return ((frame * 37) % 256, (frame * 11) % 256, 128)  # as media_factory.make_mp4 paints


@pytest.mark.parametrize("frame", [0, 1, 7, 23, 29])
def test_each_frame_is_the_one_asked_for(tmp_path: Path, frame: int) -> None:
    video = make_mp4(tmp_path / "v.mp4", frames=30, fps=10, width=64, height=48)
    path = frame_jpeg(video, frame, tmp_path / "cache")
    with Image.open(path) as im:
        assert im.size == (64, 48)
        got = im.convert("RGB").getpixel((32, 24))
    assert all(abs(g - w) <= 14 for g, w in zip(got, _colour(frame), strict=True)), (got, frame)


def test_frames_are_cached_and_bounds_refused(tmp_path: Path) -> None:
    video = make_mp4(tmp_path / "v.mp4", frames=5, fps=5)
    cache = tmp_path / "cache"
    first = frame_jpeg(video, 3, cache)
    stamp = first.stat().st_mtime_ns
    assert frame_jpeg(video, 3, cache).stat().st_mtime_ns == stamp  # not decoded again
    with pytest.raises(IndexError):
        frame_jpeg(video, 5, cache)
    with pytest.raises(IndexError):
        frame_jpeg(video, -1, cache)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ValueError):
        frame_jpeg(junk, 0, tmp_path / "other")
