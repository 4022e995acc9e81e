"""What a queued import keeps in the blob store: the packet bytes as sent, plus where its media is.

The packet is kept byte for byte (spliced in, never re-encoded) so that a job rerun after a crash
decodes exactly what the caller sent.
"""

from __future__ import annotations

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


def unwrap(data: bytes) -> tuple[bytes, StagedMedia | None]:
    envelope = _decoder.decode(data)
    return bytes(envelope.packet), envelope.staged
