"""What a queued import keeps in the blob store: the packet bytes as sent, plus where its media is.

The packet is kept byte for byte (spliced in, never re-encoded) so that a job rerun after a crash
decodes exactly what the caller sent.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import msgspec


class StagedMedia(msgspec.Struct, kw_only=True):
    """Media that came with the request (an upload, inline text), already in the blob store."""

    blob_key: str
    filename: str
    sha256: str
    size: int


class Envelope(msgspec.Struct, kw_only=True):
    staged: StagedMedia | None = None
    packet: msgspec.Raw = msgspec.Raw(b"{}")


_decoder = msgspec.json.Decoder(Envelope)


def wrap(packet: bytes, staged: StagedMedia | None) -> bytes:
    return b'{"staged":' + msgspec.json.encode(staged) + b',"packet":' + packet + b"}"


def wrapped_stream(packet: bytes | BinaryIO, staged: StagedMedia | None) -> BinaryIO:
    """`wrap` as a stream over the packet's own buffer or file: no copy of a 100 MB packet is made
    (and a file is read, not mapped, so its pages do not join the process's memory)."""
    head = b'{"staged":' + msgspec.json.encode(staged) + b',"packet":'
    if not isinstance(packet, bytes):
        packet.seek(0)
    return io.BufferedReader(_Joined([head, packet, b"}"]))


class _Joined(io.RawIOBase):
    def __init__(self, parts: list[bytes | BinaryIO]) -> None:
        self._parts = [memoryview(p) if isinstance(p, bytes) else p for p in parts]
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._parts:
            part = self._parts[0]
            if isinstance(part, memoryview):
                n = min(len(buffer), len(part) - self._at)
                if n > 0:
                    buffer[:n] = part[self._at : self._at + n]
                    self._at += n
                    return n
            else:
                n = part.readinto(buffer)  # type: ignore[attr-defined]  # files and spools have it
                if n:
                    return n
            self._parts.pop(0)
            self._at = 0
        return 0


def unwrap(data: bytes) -> tuple[msgspec.Raw, StagedMedia | None]:
    """The packet as a slice of `data` (not a copy: it is the size of the whole blob)."""
    envelope = _decoder.decode(data)
    return envelope.packet, envelope.staged
