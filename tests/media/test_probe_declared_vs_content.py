"""A declared media type never makes content into what it is not (issue 13, item 7): a PNG is an
image even though FFmpeg would open it as a one-frame video."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from labelport.media import ProbeError, probe_file
from labelport.media.probe_types import MEDIA_TYPES
from media_factory import make_geojson, make_image, make_mp4, make_pcd, make_png, make_wav

SAMPLES: dict[str, Callable[[Path], Path]] = {
    "png": lambda d: make_png(d / "a.png"),
    "jpeg": lambda d: make_image(d / "a.jpg", 32, 24, "JPEG"),
    "gif": lambda d: make_image(d / "a.gif", 32, 24, "GIF"),
    "bmp": lambda d: make_image(d / "a.bmp", 32, 24, "BMP"),
    "webp": lambda d: make_image(d / "a.webp", 32, 24, "WEBP"),
    "mp4": lambda d: make_mp4(d / "v.mp4", frames=3),
    "wav": lambda d: make_wav(d / "t.wav", 0.25, 8000),
    "pcd": lambda d: make_pcd(d / "c.pcd", [(0.0, 0.0, 0.0), (1.0, 2.0, 3.0)]),
    "geojson": lambda d: make_geojson(d / "p.geojson"),
    "playlist": lambda d: _write(d / "list.m3u8", "#EXTM3U\n#EXTINF:1,\nclip.mp4\n"),
    "concat": lambda d: _write(d / "list.txt", "ffconcat version 1.0\nfile 'clip.mp4'\n"),
}

# What each sample may be probed as when declared so. Everything else must be refused.
TRUTHFUL = {
    ("png", "image"),
    ("jpeg", "image"),
    ("gif", "image"),
    ("bmp", "image"),
    ("webp", "image"),
    ("mp4", "video"),
    ("wav", "audio"),
    ("pcd", "point_cloud"),
    ("pcd", "text"),  # an ASCII point cloud is text as well
    ("geojson", "geo"),
    ("geojson", "text"),
    ("playlist", "text"),
    ("concat", "text"),
}
IMAGES = ("png", "jpeg", "gif", "bmp", "webp")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_declared_type_is_kept_only_where_the_content_is_that(sample: str, tmp_path: Path) -> None:
    path = SAMPLES[sample](tmp_path)
    for declared in MEDIA_TYPES:
        if (sample, declared) in TRUTHFUL:
            assert probe_file(path, declared).media_type == declared, (sample, declared)
            continue
        with pytest.raises(ProbeError) as err:
            probe_file(path, declared)
        assert err.value.code in ("media.type_mismatch", "media.unreadable"), (sample, declared)
        if sample in IMAGES or declared in ("video", "audio"):
            # Content that says what it is: refused as a mismatch, naming what it is.
            assert err.value.code == "media.type_mismatch", (sample, declared, err.value)
            assert f"declared {declared}" in err.value.message


@pytest.mark.parametrize("sample", IMAGES)
def test_an_image_is_never_a_video(sample: str, tmp_path: Path) -> None:
    with pytest.raises(ProbeError) as err:
        probe_file(SAMPLES[sample](tmp_path), "video")
    assert err.value.code == "media.type_mismatch"
    assert err.value.message.startswith(
        f"declared video, but the content is {sample.upper()}, which is an image, not a video"
    )


def test_a_video_is_never_an_image(tmp_path: Path) -> None:
    with pytest.raises(ProbeError) as err:
        probe_file(SAMPLES["mp4"](tmp_path), "image")
    assert err.value.code == "media.type_mismatch"
    assert "MP4, which is a video, not an image" in err.value.message


def test_mime_types_and_undeclared_still_follow_the_content(tmp_path: Path) -> None:
    png = SAMPLES["png"](tmp_path)
    assert probe_file(png).media_type == "image"
    assert probe_file(png, "image/png").media_type == "image"
    with pytest.raises(ProbeError) as err:
        probe_file(png, "video/mp4")
    assert err.value.code == "media.type_mismatch"
