"""Media made at test time, and a local HTTP server to fetch it from.

A plain module (not a conftest) so that media, ingest and server tests can all import it:
``from media_factory import make_png, serve_directory``. Nothing here touches the network
beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import threading
import time
import wave
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av
from PIL import Image, TiffImagePlugin

Point3 = tuple[float, float, float]


# --- images ------------------------------------------------------------------------------


def make_image(
    path: str | Path, width: int, height: int, fmt: str = "PNG", color=(200, 30, 30)
) -> Path:
    """An RGB image of the given size with a gradient (so encoders do real work)."""
    path = Path(path)
    im = Image.new("RGB", (width, height), color)
    for x in range(0, width, max(1, width // 16)):
        for y in range(height):
            im.putpixel((x, y), (x * 255 // max(1, width), y * 255 // max(1, height), 90))
    im.save(path, format=fmt)
    return path


def make_png(path: str | Path, width: int = 64, height: int = 48) -> Path:
    return make_image(path, width, height, "PNG")


def make_jpeg(path: str | Path, width: int = 64, height: int = 48) -> Path:
    return make_image(path, width, height, "JPEG")


# --- video and audio ---------------------------------------------------------------------


def make_mp4(
    path: str | Path,
    frames: int = 30,
    fps: int = 10,
    width: int = 64,
    height: int = 48,
    codec: str = "mpeg4",
) -> Path:
    """An mp4 with exactly ``frames`` frames at ``fps`` (each frame a different colour)."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            im = Image.new("RGB", (width, height), ((i * 37) % 256, (i * 11) % 256, 128))
            frame = av.VideoFrame.from_image(im)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_wav(
    path: str | Path, seconds: float = 1.5, sample_rate: int = 16000, channels: int = 1
) -> Path:
    """A 16-bit PCM WAV of exactly ``round(seconds * sample_rate)`` samples (a 440 Hz tone)."""
    path = Path(path)
    samples = round(seconds * sample_rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        frames = bytearray()
        for n in range(samples):
            value = int(8000 * math.sin(2 * math.pi * 440 * n / sample_rate))
            frames += struct.pack("<h", value) * channels
        w.writeframes(bytes(frames))
    return path


# --- point clouds ------------------------------------------------------------------------


def make_pcd(path: str | Path, points: Sequence[Point3], encoding: str = "ascii") -> Path:
    """A .pcd with fields x y z intensity (float32 each); ``encoding`` ascii or binary."""
    path = Path(path)
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\n"
        "VERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
        f"WIDTH {len(points)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {len(points)}\n"
        f"DATA {encoding}\n"
    )
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        for x, y, z in points:
            if encoding == "ascii":
                f.write(f"{x} {y} {z} 1.0\n".encode("ascii"))
            else:
                f.write(struct.pack("<ffff", x, y, z, 1.0))
    return path


def make_ply(
    path: str | Path, points: Sequence[Point3], encoding: str = "ascii", faces: int = 0
) -> Path:
    """A .ply with a vertex element (float x y z + uchar red) and optional triangle faces."""
    path = Path(path)
    header = (
        f"ply\nformat {encoding} 1.0\ncomment made by media_factory\n"
        f"element vertex {len(points)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\n"
        f"element face {faces}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    endian = ">" if encoding == "binary_big_endian" else "<"
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        for x, y, z in points:
            if encoding == "ascii":
                f.write(f"{x} {y} {z} 255\n".encode("ascii"))
            else:
                f.write(struct.pack(endian + "fffB", x, y, z, 255))
        for _ in range(faces):
            if encoding == "ascii":
                f.write(b"3 0 1 2\n")
            else:
                f.write(struct.pack(endian + "Biii", 3, 0, 1, 2))
    return path


# --- geo ---------------------------------------------------------------------------------


def make_geojson(path: str | Path, geometries: Sequence[dict] | None = None) -> Path:
    """A FeatureCollection of the given geometries (default: a point and a polygon)."""
    path = Path(path)
    if geometries is None:
        geometries = [
            {"type": "Point", "coordinates": [13.4, 52.5]},
            {
                "type": "Polygon",
                "coordinates": [[[2.3, 48.8], [2.4, 48.8], [2.4, 48.9], [2.3, 48.8]]],
            },
        ]
    doc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": g, "properties": {}} for g in geometries],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def make_geotiff(
    path: str | Path,
    width: int = 20,
    height: int = 10,
    origin: tuple[float, float] = (10.0, 50.0),
    pixel_size: tuple[float, float] = (0.5, 0.25),
    epsg: int = 4326,
) -> Path:
    """A GeoTIFF whose top-left corner is ``origin`` (x, y) with the given pixel size."""
    path = Path(path)
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[33550] = (float(pixel_size[0]), float(pixel_size[1]), 0.0)
    ifd.tagtype[33550] = 12  # DOUBLE
    ifd[33922] = (0.0, 0.0, 0.0, float(origin[0]), float(origin[1]), 0.0)
    ifd.tagtype[33922] = 12
    # GeoKeyDirectory: version 1.1.0, 3 keys: model type geographic, raster type area, EPSG.
    ifd[34735] = (1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, epsg)
    ifd.tagtype[34735] = 3  # SHORT
    Image.new("L", (width, height), 7).save(path, format="TIFF", tiffinfo=ifd)
    return path


# --- local HTTP server -------------------------------------------------------------------


@dataclass
class LocalServer:
    """A running test server. Configure behaviour per path before fetching."""

    root: Path
    port: int
    # path -> (status, Location)
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)
    # path -> [remaining failures, status]
    failures: dict[str, list[int]] = field(default_factory=dict)
    # path -> seconds to wait before answering (a slow source)
    delays: dict[str, float] = field(default_factory=dict)
    # path -> seconds between two bytes of the body (a dribbling source: headers at once,
    # then one byte per interval, until the client hangs up or the server stops)
    dribbles: dict[str, float] = field(default_factory=dict)
    stopped: threading.Event = field(default_factory=threading.Event)
    requests: list[str] = field(default_factory=list)  # paths requested, in order
    peers: list[tuple[str, int]] = field(default_factory=list)  # each request's client address
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path.lstrip('/')}"

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.redirects["/" + path.lstrip("/")] = (status, location)

    def fail(self, path: str, times: int, status: int = 503) -> None:
        """Answer ``status`` to the next ``times`` requests of ``path``, then serve normally."""
        self.failures["/" + path.lstrip("/")] = [times, status]


def _handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            with server.lock:
                server.requests.append(path)
                server.peers.append(self.client_address)
                failure = server.failures.get(path)
                if failure and failure[0] > 0:
                    failure[0] -= 1
                    status = failure[1]
                else:
                    status = None
                delay = server.delays.get(path, 0.0)
                dribble = server.dribbles.get(path)
            if delay:
                time.sleep(delay)
            if status is not None:
                self._send_simple(status, b"try again later")
                return
            if path in server.redirects:
                code, location = server.redirects[path]
                self.send_response(code)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            target = (server.root / path.lstrip("/")).resolve()
            if not target.is_relative_to(server.root) or not target.is_file():
                self._send_simple(HTTPStatus.NOT_FOUND, b"not found")
                return
            data = target.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", _content_type(target))
            if dribble is not None:
                self._dribble(data, dribble)
                return
            if "nolength" in parts.query:
                # Close-delimited body: the client cannot know the size up front.
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _dribble(self, data: bytes, interval: float) -> None:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            for i in range(len(data)):
                if server.stopped.wait(interval):
                    return
                try:
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                except OSError:  # the client gave up: what a dribbling source sees
                    return

        def _send_simple(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
    ".wav": "audio/wav",
    ".txt": "text/plain; charset=utf-8",
    ".geojson": "application/geo+json",
}


def _content_type(path: Path) -> str:
    return _TYPES.get(path.suffix.lower(), "application/octet-stream")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-answer (the fetcher cutting a slow, stalled or too large
        # body) is what several tests do on purpose: not worth a traceback in the test log.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def serve_directory(root: str | Path) -> Iterator[LocalServer]:
    """Serve ``root`` on 127.0.0.1 at an ephemeral port for the duration of the block."""
    state = LocalServer(root=Path(root).resolve(), port=0)
    httpd = _Server(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopped.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
