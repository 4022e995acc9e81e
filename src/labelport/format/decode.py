"""Bytes -> `Packet`, fast when the packet is right and thorough when it is not.

The fast path reads the packet's own keys typed and keeps each instance list as `msgspec.Raw`
(a slice of the input, no objects), then decodes each list typed in one pass. A list that fails
is decoded again item by item, and an item that fails is taken apart key by key, so that every
problem is reported with its path. Nothing here raises for bad input.
"""

from __future__ import annotations

import json
import math
import mmap
import re
from collections.abc import Iterator
from typing import Any

import msgspec

from labelport.format._gc import paused
from labelport.format.instances import INSTANCE_CLASSES, TEXT_MAX, Instance
from labelport.format.packet import FrameNumber, Packet
from labelport.format.problems import (
    DEFAULT_LIMIT,
    Report,
    invalid_text_message,
    is_text,
    kind_of,
    show,
    too_long_message,
)

_LIST = list[Instance]
_RAW_LIST = list[msgspec.Raw]
_RAW_DICT = dict[str, msgspec.Raw]
_FRAME_KEY = re.compile(r"0|[1-9][0-9]{0,18}")
_LIST_KEYS = ("instance_list", "frame_packet_map")
_NULL = msgspec.Raw(b"null")


class _Outer(Packet, kw_only=True):
    """The packet with its instance lists left undecoded."""

    # Not `Raw | None`: msgspec takes a Raw in a union for null only, so every packet with an
    # instance list failed this fast decode and went key by key. A missing key reads as null.
    instance_list: msgspec.Raw = _NULL
    frame_packet_map: dict[FrameNumber, msgspec.Raw] | None = None


_FIELDS = {f.name: f for f in msgspec.structs.fields(Packet) if f.name not in _LIST_KEYS}


class _RawJson:
    """Nodes are `msgspec.Raw` slices of the input."""

    @staticmethod
    def typed(node: Any, type_: Any) -> Any:
        return msgspec.json.decode(node, type=type_)

    @staticmethod
    def plain(node: Any) -> Any:
        try:
            return msgspec.json.decode(node)
        except (msgspec.DecodeError, RecursionError):
            # 1e400 and the like: the standard library reads them (as inf).
            return json.loads(bytes(node))

    @classmethod
    def as_list(cls, node: Any) -> list[Any] | None:
        try:
            return msgspec.json.decode(node, type=_RAW_LIST)
        except msgspec.ValidationError:
            return None

    @classmethod
    def as_dict(cls, node: Any) -> dict[str, Any] | None:
        try:
            return msgspec.json.decode(node, type=_RAW_DICT)
        except msgspec.ValidationError:
            return None


class _NotText(msgspec.ValidationError):
    """A value with a lone surrogate where msgspec compares strings (an instance's `type`, a
    Literal such as `mode`): it cannot encode them and raises UnicodeEncodeError. The text
    checks report such a string (value.invalid_text) at its path."""


def _convert(value: Any, type_: Any) -> Any:
    try:
        return msgspec.convert(value, type_)
    except UnicodeEncodeError:
        raise _NotText("a string is not Unicode text") from None


class _ObjJson:
    """Nodes are Python objects (input the standard library had to read: NaN, Infinity)."""

    @staticmethod
    def typed(node: Any, type_: Any) -> Any:
        return _convert(node, type_)

    @staticmethod
    def plain(node: Any) -> Any:
        return node

    @staticmethod
    def as_list(node: Any) -> list[Any] | None:
        return node if isinstance(node, list) else None

    @staticmethod
    def as_dict(node: Any) -> dict[str, Any] | None:
        return node if isinstance(node, dict) else None


def decode_packet(
    data: bytes | msgspec.Raw | mmap.mmap, *, limit: int = DEFAULT_LIMIT
) -> tuple[Packet | None, Report]:
    """Decode a packet. The packet is None only if the input is not a JSON object at all.

    Otherwise bad instances are left as None in their lists (so every index stays the one the
    caller sent) and reported; the report's `rejected` holds their (frame, index).
    """
    with paused():
        return _decode_packet(data, limit)


def _decode_packet(
    data: bytes | msgspec.Raw | mmap.mmap, limit: int
) -> tuple[Packet | None, Report]:
    report = Report(limit=limit)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    try:
        outer = msgspec.json.decode(data, type=_Outer)
    except msgspec.ValidationError:
        try:
            return _slow(_RawJson, msgspec.Raw(data), report), report
        except (msgspec.DecodeError, RecursionError, ValueError) as error:
            # Malformed further in than the packet's own keys: start over leniently.
            report = Report(limit=limit)
            return _lenient(data, error, report)
    except (msgspec.DecodeError, RecursionError, ValueError) as error:
        return _lenient(data, error, report)
    packet = Packet(**{name: getattr(outer, name) for name in _FIELDS})

    pages = _MappedPages(data)
    pages.drop()  # the first pass read all of it; each list's pages come back as it is decoded
    names: dict[str, str] = {}
    if outer.instance_list != _NULL:  # compares lengths first: a large list is not copied
        packet.instance_list = _decode_list(_RawJson, outer.instance_list, None, report, names)
    if outer.frame_packet_map is not None:
        frames = {}
        for frame, raw in outer.frame_packet_map.items():
            instances = _decode_list(_RawJson, raw, frame, report, names)
            if instances is not None:
                frames[frame] = instances
            pages.read(len(raw))
        packet.frame_packet_map = frames
    return packet, report


class _MappedPages:
    """A packet mapped from a file (`mmap`) need not stay resident while its instances are built:
    pages already decoded are handed back to the kernel every few MB (the file is still there;
    a page read again is simply read again). Packet bytes and instance objects are then never
    both in memory, which is most of the difference between 4x and 5x the payload at peak."""

    _EVERY = 8 << 20

    def __init__(self, data: Any) -> None:
        self._map = data if isinstance(data, mmap.mmap) else None
        self._since = 0

    def read(self, size: int) -> None:
        self._since += size
        if self._since >= self._EVERY:
            self.drop()

    def drop(self) -> None:
        self._since = 0
        if self._map is not None:
            self._map.madvise(mmap.MADV_DONTNEED)


def _lenient(data: bytes, error: Exception, report: Report) -> tuple[Packet | None, Report]:
    obj = _lenient_loads(data, error, report)
    if obj is None:
        return None, report
    top = obj[0]
    # Only here can a string hold a lone surrogate: msgspec refuses "\ud800" without its pair
    # (the fast path never sees one), Python's json reads it. Its escape is in the text, so
    # input without one (most of what comes here: NaN, Infinity) skips the walk.
    suspect = isinstance(top, dict) and _maybe_surrogate(data)
    if suspect:
        bad_keys = _packet_text(top, report)
    packet = _slow(_ObjJson, top, report)
    if suspect and packet is not None:
        for name in bad_keys:
            setattr(packet, name, None)
        _instances_text(top, packet, report)
    return packet, report


def _maybe_surrogate(data: Any) -> bool:
    try:
        return data.find(b"\\ud") >= 0 or data.find(b"\\uD") >= 0
    except AttributeError:  # not bytes or mmap: look at every string
        return True


def _bad_text(value: Any, path: str) -> Iterator[str]:
    """The path of every string (dict keys too) in `value` that is not Unicode text."""
    if isinstance(value, str):
        if not is_text(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if not is_text(key):
                yield f"{path}/{key}"
            yield from _bad_text(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_text(item, f"{path}/{index}")


def _text_problem(path: str, at: tuple[int | None, int] | None, report: Report) -> None:
    report.problem("value.invalid_text", path, invalid_text_message(path), at)


def _packet_text(top: dict[str, Any], report: Report) -> list[str]:
    """Report the packet's own keys that hold bad text; their attribute names."""
    bad = []
    for name, field in _FIELDS.items():
        key = field.encode_name
        if key in top:
            paths = list(_bad_text(top[key], key))
            for path in paths:
                _text_problem(path, None, report)
            if paths:
                bad.append(name)
    return bad


def _instances_text(top: dict[str, Any], packet: Packet, report: Report) -> None:
    """Report bad text in the keys an instance has (unknown keys are ignored, so not checked)
    and leave each such instance out, as decode does with any instance it reports."""
    lists: list[tuple[int | None, Any, list[Any] | None]] = [
        (None, top.get("instance_list"), packet.instance_list)
    ]
    frames = top.get("frame_packet_map")
    if isinstance(frames, dict) and packet.frame_packet_map is not None:
        lists += [
            (int(key), raw, packet.frame_packet_map.get(int(key)))
            for key, raw in frames.items()
            if isinstance(key, str) and _FRAME_KEY.fullmatch(key)
        ]
    for frame, raw, decoded in lists:
        if not isinstance(raw, list):
            continue
        prefix = _prefix(frame)
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                continue
            cls = INSTANCE_CLASSES.get(item.get("type"))  # type: ignore[arg-type]
            if cls is None:
                continue
            bad = False
            for key in cls.__struct_encode_fields__:
                if key in item:
                    for path in _bad_text(item[key], f"{prefix}/{index}/{key}"):
                        _text_problem(path, (frame, index), report)
                        bad = True
            if bad and decoded is not None and index < len(decoded):
                decoded[index] = None


def _lenient_loads(data: bytes, error: Exception, report: Report) -> tuple[Any] | None:
    """Python's json reads NaN and Infinity (which its json.dumps writes); msgspec does not."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as bad:
        report.problem(
            "packet.not_json", "", f"the body is not UTF-8 text (bad byte at position {bad.start})"
        )
        return None
    try:
        obj = json.loads(text)
    except RecursionError:
        report.problem("packet.not_json", "", "the JSON is nested too deeply to read")
        return None
    except ValueError:
        if isinstance(error, RecursionError):
            message = "the JSON is nested too deeply to read"
        else:
            message = f"the body is not JSON: {error}"
        report.problem("packet.not_json", "", message)
        return None
    if not isinstance(obj, dict):
        report.problem(
            "packet.not_object", "", f"the body must be a JSON object, got a {kind_of(obj)}"
        )
        return None
    return (obj,)


def _slow(j: Any, node: Any, report: Report) -> Packet | None:
    """Key by key: used when a packet key itself is wrong, or for leniently read input."""
    top = j.as_dict(node)
    if top is None:
        value = j.plain(node)
        report.problem(
            "packet.not_object", "", f"the body must be a JSON object, got a {kind_of(value)}"
        )
        return None
    values = {}
    for name, field in _FIELDS.items():
        if field.encode_name not in top:
            continue
        try:
            values[name] = j.typed(top[field.encode_name], field.type)
        except _NotText:
            continue
        except msgspec.ValidationError as error:
            value = j.plain(top[field.encode_name])
            suffix, what = _split_error(str(error))
            path = field.encode_name + suffix
            if _too_long(what, _at(value, suffix)):
                report.problem("value.too_long", path, _too_long_message(path, value))
                continue
            report.problem(
                "packet.invalid_value", path, f"{path}: {_plain_words(what, _at(value, suffix))}"
            )
    packet = Packet(**values)
    names: dict[str, str] = {}
    if top.get("instance_list") is not None:
        packet.instance_list = _decode_list(j, top["instance_list"], None, report, names)
    raw_map = top.get("frame_packet_map")
    if raw_map is not None and j.plain(raw_map) is not None:
        entries = j.as_dict(raw_map)
        if entries is None:
            value = j.plain(raw_map)
            report.problem(
                "packet.invalid_value",
                "frame_packet_map",
                f"frame_packet_map must be an object {{frame: instance_list}}, got {show(value)}",
            )
        else:
            frames = {}
            for key, raw in entries.items():
                if not _FRAME_KEY.fullmatch(key):
                    report.problem(
                        "frame.key_invalid",
                        f"frame_packet_map/{key}",
                        f"frame key {show(key)} is not a plain non-negative integer "
                        '(write frames as 0, 6 or "6"; not "06", "1.0" or -1)',
                    )
                    continue
                instances = _decode_list(j, raw, int(key), report, names)
                if instances is not None:
                    frames[int(key)] = instances
            packet.frame_packet_map = frames
    return packet


def _decode_list(
    j: Any, node: Any, frame: int | None, report: Report, names: dict[str, str]
) -> list[Any] | None:
    try:
        instances = j.typed(node, _LIST)
    except msgspec.ValidationError:
        instances = _decode_items(j, node, frame, report)
    except (msgspec.DecodeError, RecursionError):
        instances = None
        report.problem("packet.not_json", _prefix(frame), "this list cannot be read as JSON")
    if instances:
        _intern_names(instances, names)
    return instances


def _intern_names(instances: list[Any], names: dict[str, str]) -> None:
    # A million instances of 50 labels would otherwise hold a million equal strings; sharing
    # them right after each list is decoded keeps peak memory near the size of the input.
    setdefault = names.setdefault
    for instance in instances:
        name = instance.name if instance is not None else None
        if name.__class__ is str:
            instance.name = setdefault(name, name)


def _prefix(frame: int | None) -> str:
    return "instance_list" if frame is None else f"frame_packet_map/{frame}"


def _decode_items(j: Any, node: Any, frame: int | None, report: Report) -> list[Any] | None:
    items = j.as_list(node)
    prefix = _prefix(frame)
    if items is None:
        value = j.plain(node)
        if frame is None:
            report.problem(
                "packet.invalid_value",
                prefix,
                f"instance_list must be a list of instances, got {show(value)}",
            )
        else:
            report.problem(
                "frame.not_list",
                prefix,
                f"frame {frame} must map to a list of instances, got {show(value)}",
            )
        return None
    out: list[Any] = []
    for index, item in enumerate(items):
        try:
            out.append(j.typed(item, Instance))
        except msgspec.ValidationError:
            out.append(None)
            _diagnose(j.plain(item), f"{prefix}/{index}", (frame, index), report)
        except (msgspec.DecodeError, RecursionError):
            out.append(None)
            report.problem("value.invalid", f"{prefix}/{index}", "this instance cannot be read")
    return out


_NULL_MESSAGE = (
    "the instance is null. The diffgram SDK 0.15.0 replaces every instance that has a "
    "label_file_id with null; send the label's name in `name` instead of label_file_id"
)


def _diagnose(obj: Any, path: str, at: tuple[int | None, int], report: Report) -> None:
    """Report every problem of one instance that failed the typed decode."""
    before = report.problem_count
    if obj is None:
        report.problem("instance.null", path, _NULL_MESSAGE, at)
        return
    if not isinstance(obj, dict):
        report.problem(
            "instance.not_object", path, f"an instance must be an object, got {show(obj)}", at
        )
        return
    type_ = obj.get("type")
    if type_ is None:
        report.problem("instance.type_missing", f"{path}/type", "the instance has no `type`", at)
        return
    cls = INSTANCE_CLASSES.get(type_) if isinstance(type_, str) else None
    if cls is None:
        hint = ""
        if isinstance(type_, str):
            import difflib

            close = difflib.get_close_matches(type_.lower(), list(INSTANCE_CLASSES), n=1)
            hint = f'; did you mean "{close[0]}"?' if close else ""
        report.problem(
            "instance.type_unknown",
            f"{path}/type",
            f"type {show(type_)} is not an instance type{hint}",
            at,
        )
        return
    for field in msgspec.structs.fields(cls):
        key = field.encode_name
        if key == "type":
            continue
        if key not in obj:
            if field.required:
                report.problem(
                    "instance.missing_key",
                    f"{path}/{key}",
                    f"a {type_} needs `{key}`, and it is missing",
                    at,
                )
            continue
        _check_value(obj[key], field.type, key, f"{path}/{key}", at, report)
    if report.problem_count == before:
        # Should not happen: the typed decode failed, so say what msgspec said.
        try:
            _convert(obj, cls)
        except msgspec.ValidationError as error:
            report.problem("value.invalid", path, str(error), at)


def _check_value(
    value: Any, type_: Any, key: str, path: str, at: tuple[int | None, int], report: Report
) -> None:
    try:
        _convert(value, type_)
        return
    except _NotText:
        return
    except msgspec.ValidationError as error:
        message = str(error)
    except RecursionError:
        report.problem("value.invalid", path, f"{key} is nested too deeply", at)
        return
    item_type = _list_item_type(type_)
    if item_type is not None and isinstance(value, list):
        # A list of points (nodes, coordinates): report every bad item, then the length.
        found = False
        for i, item in enumerate(value):
            try:
                _convert(item, item_type)
            except _NotText:
                continue
            except msgspec.ValidationError as error:
                found = True
                suffix, what = _split_error(str(error))
                _value_problem(key, f"{path}/{i}{suffix}", what, _at(item, suffix), at, report)
        if found:
            return
    suffix, what = _split_error(message)
    _value_problem(key, path + suffix, what, _at(value, suffix), at, report)


def _list_item_type(type_: Any) -> Any:
    info = msgspec.inspect.type_info(type_)
    if isinstance(info, msgspec.inspect.ListType):
        return _rebuild(info.item_type, type_)
    return None


def _rebuild(item_info: Any, type_: Any) -> Any:
    # The item type as a Python type: take it from the annotation rather than the info.
    import typing

    args = typing.get_args(type_)
    inner = args[0] if typing.get_origin(type_) is typing.Annotated else type_
    inner_args = typing.get_args(inner)
    return inner_args[0] if inner_args else Any


_AT = re.compile(r" - at `\$(.*)`$")
_SEGMENT = re.compile(r"\[(\d+|\.\.\.)\]|\.([^.\[]+)")


def _split_error(message: str) -> tuple[str, str]:
    """msgspec's "Expected `int`, got `str` - at `$.points[1].y`" -> ("/points/1/y", "...")."""
    match = _AT.search(message)
    if not match:
        return "", message
    suffix = "".join(
        "/" + (index or name) for index, name in _SEGMENT.findall(match.group(1)) if index != "..."
    )
    return suffix, message[: match.start()]


def _at(value: Any, suffix: str) -> Any:
    for part in suffix.split("/")[1:]:
        try:
            value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return value
    return value


_KINDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}
_EXPECTED = re.compile(r"Expected `([^`]*)`(.*)")
_GOT = re.compile(r", got `([^`]*)`$")


def _plain_words(what: str, value: Any) -> str:
    """msgspec's wording in plain words, with the offending value."""
    got = show(value)
    if what.startswith("Object missing required field"):
        return what.replace("Object missing required field", "missing key")
    match = _EXPECTED.match(what)
    if not match:
        return f"{what} (got {got})"
    expected = " or ".join(_KINDS.get(k.strip(), k.strip()) for k in match.group(1).split("|"))
    rest = _GOT.sub("", match.group(2)).strip()
    if rest.startswith("of length"):
        return f"expected a list {rest}, got {got}"
    if rest:
        return f"must be {expected} {rest}, got {got}"
    return f"must be {expected}, got {got}"


def _too_long(what: str, value: Any) -> bool:
    # msgspec: "Expected `str` of length <= 255"
    return isinstance(value, str) and what.startswith("Expected `str` of length <=")


def _too_long_message(name: str, value: str) -> str:
    return too_long_message(name, value, TEXT_MAX)


_GEO_KEYS = frozenset({"lonlat", "coords", "bounds_lonlat"})
_SIZE_KEYS = frozenset({"width", "height", "depth", "radius", "dimensions_3d"})


def _value_problem(
    key: str, path: str, what: str, value: Any, at: tuple[int | None, int], report: Report
) -> None:
    name = path.rsplit("/", 1)[-1] if not path.rsplit("/", 1)[-1].isdigit() else key
    not_finite = isinstance(value, float) and not math.isfinite(value)
    if _too_long(what, value):
        code = "value.too_long"
        message = _too_long_message(name, value)
    elif not_finite or "Number out of range" in what:
        code = "number.invalid" if key == "number" else "value.not_finite"
        message = f"{name} must be a finite number, got {value!r}"
    elif what.startswith("Object missing required field"):
        code = "instance.missing_key"
        message = f"{name}: {_plain_words(what, value)}"
        path = path + "/" + what.rsplit("`", 2)[-2]
    elif key == "number":
        code = "number.invalid"
        message = f"number must be an integer >= 1 (or absent), got {show(value)}"
    elif " got `" in what:
        code = "value.wrong_kind"
        message = f"{name} {_plain_words(what, value)}"
    elif "of length" in what:
        code = "geo.count" if key in _GEO_KEYS else "points.count"
        if key == "lonlat" or (key in _GEO_KEYS and path.count("/") > _depth(key, path)):
            code = "value.invalid"
        message = f"{key} {_plain_words(what, value)}"
    elif key == "score":
        code = "score.out_of_range"
        message = f"score must be a number in [0, 1], got {show(value)}"
    elif key in _GEO_KEYS:
        code = "geo.out_of_range"
        message = (
            f"{key}: longitude must be in [-180, 180] and latitude in [-90, 90], got {show(value)}"
        )
    elif "> 0" in what and (key in _SIZE_KEYS or name in _SIZE_KEYS):
        code = "shape.not_positive"
        message = f"{name} must be greater than 0, got {show(value)}"
    elif "Invalid value" in what:
        code = "value.invalid"
        message = f"{name}: {what}"
    elif ">" in what or "<" in what:
        code = "value.out_of_range"
        message = f"{name} {_plain_words(what, value)}"
    else:
        code = "value.invalid"
        message = f"{name}: {what} (got {show(value)})"
    report.problem(code, path, message, at)


def _depth(key: str, path: str) -> int:
    # path depth of the key itself: ".../<index>/<key>"
    return path[: path.index("/" + key) + len(key) + 1].count("/")
