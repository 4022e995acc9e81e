import pytest

from labelport.format.media_info import MediaInfo
from labelport.media import ProbeError, ProbeLimits, probe_file
from media_factory import make_jpeg, make_mp4, make_png, make_wav


def test_png(tmp_path):
    probe = probe_file(make_png(tmp_path / "a.png", 64, 48), "image")
    assert (probe.media_type, probe.format, probe.width, probe.height) == ("image", "png", 64, 48)
    assert probe.media_info() == MediaInfo(media_type="image", width=64, height=48)


def test_jpeg_sniffed_without_a_declared_type(tmp_path):
    probe = probe_file(make_jpeg(tmp_path / "a.bin", 33, 21))
    assert (probe.media_type, probe.format, probe.width, probe.height) == ("image", "jpeg", 33, 21)
    assert probe.mime_type == "image/jpeg"


@pytest.mark.parametrize("maker", [make_png, make_jpeg])
def test_truncated_image_is_unreadable(tmp_path, maker):
    path = maker(tmp_path / "a.img", 200, 150)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProbeError) as err:
        probe_file(path, "image")
    assert err.value.code == "media.unreadable"


def test_garbage_declared_image_is_unreadable(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    with pytest.raises(ProbeError) as err:
        probe_file(path, "image")
    assert err.value.code == "media.unreadable"


def test_decompression_bomb_refused(tmp_path):
    path = make_png(tmp_path / "big.png", 2000, 1000)
    with pytest.raises(ProbeError) as err:
        probe_file(path, "image", limits=ProbeLimits(max_image_pixels=1_000_000))
    assert err.value.code == "media.too_many_pixels"
    assert "2000x1000" in err.value.message


def test_mp4_frame_count_fps_size_duration(tmp_path):
    path = make_mp4(tmp_path / "v.mp4", frames=30, fps=10, width=64, height=48)
    probe = probe_file(path, "video")
    assert (probe.frame_count, probe.fps, probe.width, probe.height) == (30, 10.0, 64, 48)
    assert probe.duration == pytest.approx(3.0)
    assert probe.format == "mov"
    assert probe.media_info() == MediaInfo(
        media_type="video", width=64, height=48, frame_count=30, fps=10.0, duration=probe.duration
    )


def test_mp4_decode_mode_counts_decoded_frames(tmp_path):
    path = make_mp4(tmp_path / "v.mp4", frames=17, fps=25, width=32, height=32, codec="h264")
    probe = probe_file(path, "video", limits=ProbeLimits(video_frame_count="decode"))
    assert (probe.frame_count, probe.fps, probe.codec) == (17, 25.0, "h264")
    assert probe_file(path).frame_count == 17  # demux counting agrees, type sniffed


def test_video_without_frame_header_still_counted(tmp_path):
    # Matroska stores no per-stream frame count; counting must not rely on it.
    path = tmp_path / "v.mkv"
    make_mp4(path, frames=12, fps=6, width=32, height=16)
    probe = probe_file(path)
    assert probe.media_type == "video"
    assert "frames_header" not in probe.extra
    assert (probe.frame_count, probe.fps) == (12, 6.0)
    assert probe.duration == pytest.approx(2.0, abs=0.2)


def test_truncated_video_is_unreadable(tmp_path):
    path = make_mp4(tmp_path / "v.mp4")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ProbeError) as err:
        probe_file(path, "video")
    assert err.value.code == "media.unreadable"


def test_wav_duration_rate_channels(tmp_path):
    probe = probe_file(make_wav(tmp_path / "a.wav", 1.5, 16000, 2), "audio")
    assert (probe.duration, probe.sample_rate, probe.channels) == (1.5, 16000, 2)
    assert probe.format == "wav"
    assert probe.media_info() == MediaInfo(media_type="audio", duration=1.5)


def test_wav_sniffed_and_corrupt(tmp_path):
    path = make_wav(tmp_path / "a", 0.25, 8000)
    assert probe_file(path).duration == 0.25
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + b"\x01" * 30)
    with pytest.raises(ProbeError) as err:
        probe_file(path, "audio")
    assert err.value.code == "media.unreadable"


def test_declared_type_contradicted_by_content(tmp_path):
    with pytest.raises(ProbeError) as err:
        probe_file(make_mp4(tmp_path / "v.mp4", frames=3), "image")
    assert err.value.code == "media.type_mismatch"
    assert "video" in err.value.message
    with pytest.raises(ProbeError) as err:
        probe_file(make_png(tmp_path / "a.png"), "audio")
    assert err.value.code == "media.type_mismatch"


def test_mime_type_accepted_as_declared_type(tmp_path):
    assert probe_file(make_png(tmp_path / "a.png"), "image/png").media_type == "image"
