"""Video and audio probing with PyAV.

Video frame numbers in the instance format are 0-based indices of decoded frames at the native
rate, so ``frame_count`` must be the number of frames a decoder produces. Container headers
(``stream.frames``) are often missing (WebM, MKV, some AVI) or wrong, so they are only reported
(``extra["frames_header"]``), never used: by default the video stream's packets are counted
(one packet is one frame for the codecs in use, and demuxing costs no decoding), or with
``ProbeLimits.video_frame_count="decode"`` every frame is decoded and counted.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from labelport.media.errors import UNREADABLE, ProbeError
from labelport.media.probe_types import Probe, ProbeLimits

# First packets decoded to prove the stream really decodes; a stream that starts mid-GOP may
# need a few before a frame comes out.
_DECODE_TRIES = 64


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise ProbeError(UNREADABLE, f"not a readable audio/video file: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _container_format(container: av.container.InputContainer) -> str | None:
    name = container.format.name if container.format else None
    if not name:
        return None
    # FFmpeg names demuxers by family ("mov,mp4,m4a,3gp,3g2,mj2"); keep the first name.
    return name.split(",")[0]


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None or value <= 0:
        return None
    return float(value * time_base)


def probe_video(path: Path, limits: ProbeLimits) -> Probe:
    """Frame count, fps, size and duration of the first video stream."""
    with _open(path) as container:
        if not container.streams.video:
            has_audio = bool(container.streams.audio)
            raise ProbeError(
                UNREADABLE,
                "file has no video stream" + (" (it is audio only)" if has_audio else ""),
            )
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        packets = 0
        decoded = 0
        tries = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the end-of-stream flush packet
                packets += 1
                if limits.video_frame_count == "decode" or (decoded == 0 and tries < _DECODE_TRIES):
                    tries += 1
                    decoded += _decode_count(packet)
            if decoded == 0 or limits.video_frame_count == "decode":
                decoded += _flush_count(stream)
        except av.FFmpegError as exc:
            raise ProbeError(UNREADABLE, f"video does not demux: {_reason(exc)}") from None
        if decoded == 0:
            raise ProbeError(UNREADABLE, "no frame of the video stream decodes")
        frame_count = decoded if limits.video_frame_count == "decode" else packets
        fps = float(rate) if rate else None
        duration = _seconds(stream.duration, stream.time_base)
        if duration is None and container.duration:
            duration = container.duration / av.time_base
        if duration is None and fps:
            duration = frame_count / fps
        extra: dict[str, object] = {"pix_fmt": ctx.pix_fmt}
        if stream.frames:
            extra["frames_header"] = stream.frames
        if container.streams.audio:
            extra["has_audio"] = True
        return Probe(
            media_type="video",
            format=_container_format(container),
            width=ctx.width,
            height=ctx.height,
            frame_count=frame_count,
            fps=fps,
            duration=duration,
            codec=ctx.name,
            extra=extra,
        )


def _decode_count(packet: av.Packet[Any]) -> int:
    try:
        return len(packet.decode())
    except (av.FFmpegError, ValueError):
        return 0  # a bad packet; the stream as a whole is judged by whether anything decodes


def _flush_count(stream: av.stream.Stream) -> int:
    try:
        return len(stream.codec_context.decode(None))  # type: ignore[attr-defined]
    except (av.FFmpegError, ValueError):
        return 0


def probe_audio(path: Path, limits: ProbeLimits) -> Probe:
    """Duration, sample rate and channels of the first audio stream."""
    with _open(path) as container:
        if not container.streams.audio:
            raise ProbeError(UNREADABLE, "file has no audio stream")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        duration = _seconds(stream.duration, stream.time_base)
        decoded = 0
        packet_time = 0
        tries = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.duration:
                    packet_time += packet.duration
                if decoded == 0 and tries < _DECODE_TRIES:
                    tries += 1
                    decoded += _decode_count(packet)
                elif duration is not None:
                    break  # decodes, and the header already gave the duration
            if decoded == 0:
                decoded += _flush_count(stream)
        except av.FFmpegError as exc:
            raise ProbeError(UNREADABLE, f"audio does not demux: {_reason(exc)}") from None
        if decoded == 0:
            raise ProbeError(UNREADABLE, "no frame of the audio stream decodes")
        if duration is None:
            duration = _seconds(packet_time, stream.time_base)
        if duration is None and container.duration:
            duration = container.duration / av.time_base
        channels = ctx.layout.nb_channels if ctx.layout else None
        return Probe(
            media_type="audio",
            format=_container_format(container),
            duration=duration,
            sample_rate=ctx.sample_rate or None,
            channels=channels or None,
            codec=ctx.name,
        )
