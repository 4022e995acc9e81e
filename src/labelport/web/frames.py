"""Video frames for the viewer: decoded server-side with PyAV, kept as JPEG in a disk cache.

Frame numbers are 0-based indices of decoded frames, as in `frame_packet_map`. Seeking by
timestamp is approximate for some containers, so after a seek we decode forward and count by
presentation time; a seek that lands past the wanted frame falls back to decoding from the
start.
"""

from __future__ import annotations

import contextlib
import os
import threading
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

JPEG_QUALITY = 85
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        if len(_locks) > 1024:  # finished frames need no lock any more
            _locks.clear()
        return _locks.setdefault(path, threading.Lock())


def frame_jpeg(video: Path, frame: int, cache_dir: Path) -> Path:
    """The JPEG of `frame` of `video`, decoded once and cached under `cache_dir`.

    Raises IndexError for a frame the video does not have, ValueError for undecodable media.
    """
    if frame < 0:
        raise IndexError(f"frame {frame} is negative")
    target = cache_dir / f"{frame}.jpg"
    if target.exists():
        return target
    with _lock_for(target):
        if target.exists():
            return target
        image = _decode(video, frame)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        image.save(tmp, "JPEG", quality=JPEG_QUALITY)
        os.replace(tmp, target)
    return target


def _decode(video: Path, frame: int) -> Image.Image:
    import av  # with the first frame asked for: a server that shows none never holds PyAV

    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            base = stream.time_base
            if rate and base and frame > 0:
                start = container.start_time or 0
                start_pts = int(start / av.time_base / base) if start else 0
                wanted_pts = start_pts + int(Fraction(frame) / Fraction(rate) / base)
                found = _decode_after_seek(container, stream, wanted_pts, start_pts, frame, rate)
                if found is not None:
                    return found
                container.seek(0, stream=stream)
            for index, decoded in enumerate(container.decode(stream)):
                if index == frame:
                    image: Image.Image = decoded.to_image()
                    return image
    except av.FFmpegError as exc:
        raise ValueError(f"cannot decode the video: {exc}") from None
    raise IndexError(f"the video has no frame {frame}")


def _decode_after_seek(
    container: Any, stream: Any, wanted_pts: int, start_pts: int, frame: int, rate: Fraction
) -> Image.Image | None:
    """Seek to the keyframe before `wanted_pts` and decode up to it; None when unsure."""
    import av

    with contextlib.suppress(av.FFmpegError):
        container.seek(wanted_pts, stream=stream, backward=True, any_frame=False)
        first = True
        for decoded in container.decode(stream):
            if decoded.pts is None:
                return None
            index = round(float((decoded.pts - start_pts) * stream.time_base * rate))
            if first and index > frame:
                return None  # landed past it: the caller decodes from the start
            first = False
            if index == frame:
                image: Image.Image = decoded.to_image()
                return image
            if index > frame:
                return None
    return None
