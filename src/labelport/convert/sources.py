"""Reading source files: JSON and XML with every failure turned into a problem with its line."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from labelport.convert.model import Conversion
from labelport.format.decode import BOM

T = TypeVar("T")
_BYTE = re.compile(r"\(byte (\d+)\)")


def line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def without_bom(data: bytes) -> bytes:
    return data[len(BOM) :] if data.startswith(BOM) else data


def read_bytes(path: Path, conv: Conversion, shown: str) -> bytes | None:
    try:
        return without_bom(path.read_bytes())
    except OSError as exc:
        conv.problem("convert.unreadable", shown, f"cannot read {path}: {exc.strerror or exc}")
        return None


def decode_json(data: bytes, conv: Conversion, shown: str, type: Any = Any) -> Any:
    """Decode `data` (as `type`); on failure record a problem at `shown:line` and return None.

    A typed decode that fails on one bad record is retried untyped by the caller when it wants
    every problem; a syntax error (truncated file) is reported with its line here.
    """
    try:
        return msgspec.json.decode(data, type=type)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError as exc:
        message = str(exc)
        found = _BYTE.search(message)
        if found:
            where = f"{shown}:{line_of(data, int(found.group(1)))}"
        elif "truncated" in message:  # the data ends too early: the last line is the place
            where = f"{shown}:{line_of(data, len(data))}"
        else:
            where = shown
        conv.problem("convert.unreadable", where, f"not valid JSON: {message}")
        return None


def load_json(path: Path, conv: Conversion, shown: str | None = None) -> Any:
    shown = shown or path.name
    data = read_bytes(path, conv, shown)
    return None if data is None else decode_json(data, conv, shown)


def load_xml(path: Path, conv: Conversion, shown: str | None = None) -> ET.Element | None:
    shown = shown or path.name
    try:
        return ET.parse(path).getroot()
    except OSError as exc:
        conv.problem("convert.unreadable", shown, f"cannot read {path}: {exc.strerror or exc}")
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else 0
        conv.problem("convert.unreadable", f"{shown}:{line}", f"not valid XML: {exc}")
    return None


def validation_path(exc: msgspec.ValidationError) -> str:
    """`$.annotations[17].bbox` -> `annotations/17/bbox` (the path style of problems)."""
    found = re.search(r"at `\$(.*)`", str(exc))
    if not found:
        return ""
    return re.sub(r"\[(\d+)\]", r"/\1", found.group(1)).replace(".", "/").strip("/")


def peek(path: Path, size: int = 4096) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def number(text: str | None) -> float | None:
    """A float from source text, or None when it is not a finite number."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None
