"""Bytes -> `Packet`, fast when the packet is right and thorough when it is not.

The fast path reads the packet's own keys typed and keeps each instance list as `msgspec.Raw`
(a slice of the input, no objects), then decodes each list typed in one pass. A list that fails
is decoded again item by item, and an item that fails is taken apart key by key, so that every
problem is reported with its path. Nothing here raises for bad input.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import mmap
import re
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from labelport._gc import paused
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
_UNKNOWN: Any = object()


class _Outer(Packet, kw_only=True):
    """The packet with its instance lists left undecoded."""

    # Not `Raw | None`: msgspec takes a Raw in a union for null only, so every packet with an
    # instance list failed this fast decode and went key by key. A missing key reads as null.
    instance_list: msgspec.Raw = _NULL  # type: ignore[assignment]  # the lists stay raw here
    frame_packet_map: dict[FrameNumber, msgspec.Raw] | None = None  # type: ignore[assignment]


_FIELDS = {f.name: f for f in msgspec.structs.fields(Packet) if f.name not in _LIST_KEYS}


_PLAIN = msgspec.json.Decoder()


def _parse_int(digits: str) -> int | float:
    # Python refuses to read an integer of more than 4,300 digits (ValueError, which no caller
    # expected: a 500). Past 300 digits it is beyond any float anyway: read as +-inf, reported
    # as not finite.
    if len(digits) <= 300:
        return int(digits)
    return float(digits)


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_int=_parse_int)


@functools.cache
def _decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    # `msgspec.json.decode(node, type=...)` builds its type plan on every call: 12 us for the
    # 19-way instance union, against 0.4 us to decode one instance. Item by item (the slow path,
    # a list per video frame) that plan was most of the work.
    return msgspec.json.Decoder(type_)


class _RawJson:
    """Nodes are `msgspec.Raw` slices of the input."""

    @staticmethod
    def typed(node: Any, type_: Any) -> Any:
        return _decoder(type_).decode(node)

    instance = msgspec.json.Decoder(Instance).decode
    plain_fast = _PLAIN.decode  # may raise: then `plain`

    @staticmethod
    def plain(node: Any) -> Any:
        try:
            return _PLAIN.decode(node)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            # 1e400, an integer of 5,000 digits: the standard library reads them (as inf).
            return _loads(bytes(node))

    @classmethod
    def as_list(cls, node: Any) -> list[Any] | None:
        try:
            nodes: list[Any] = _decoder(_RAW_LIST).decode(node)
        except msgspec.ValidationError:
            return None
        return nodes

    @classmethod
    def as_dict(cls, node: Any) -> dict[str, Any] | None:
        try:
            nodes: dict[str, Any] = _decoder(_RAW_DICT).decode(node)
        except msgspec.ValidationError:
            return None
        return nodes


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
    def plain_fast(node: Any) -> Any:
        return node

    @staticmethod
    def instance(node: Any) -> Any:
        # Converted to the one struct its `type` names: converting to the union of all 19
        # costs ~18 us a call (msgspec plans the union each time), to one struct under 1 us.
        type_ = node.get("type") if isinstance(node, dict) else None
        cls = INSTANCE_CLASSES.get(type_) if isinstance(type_, str) else None
        if cls is None:  # not an instance at all: _diagnose says why
            raise msgspec.ValidationError("not an instance")
        return _convert(node, cls)

    @staticmethod
    def plain(node: Any) -> Any:
        return node

    @staticmethod
    def as_list(node: Any) -> list[Any] | None:
        return node if isinstance(node, list) else None

    @staticmethod
    def as_dict(node: Any) -> dict[str, Any] | None:
        return node if isinstance(node, dict) else None


# Windows tools (Notepad, PowerShell's Out-File, some exporters) start UTF-8 text with a byte
# order mark; JSON readers may ignore it (RFC 8259, 8.1), and msgspec would not.
BOM = b"\xef\xbb\xbf"


def decode_packet(
    data: bytes | str | msgspec.Raw | mmap.mmap, *, limit: int = DEFAULT_LIMIT
) -> tuple[Packet | None, Report]:
    """Decode a packet. The packet is None only if the input is not a JSON object at all.

    Otherwise bad instances are left as None in their lists (so every index stays the one the
    caller sent) and reported; the report's `rejected` holds their (frame, index).
    """
    with paused():
        return _decode_packet(data, limit)


def _decode_packet(
    data: bytes | str | msgspec.Raw | mmap.mmap, limit: int
) -> tuple[Packet | None, Report]:
    report = Report(limit=limit)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if bytes(memoryview(data)[: len(BOM)]) == BOM:  # rare: copied past
        data = bytes(memoryview(data)[len(BOM) :])
    if _maybe_nul(data):  # rare: read leniently, where every string is looked at
        return _lenient(data, ValueError("a NUL character"), report)
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


def _lenient(
    data: bytes | msgspec.Raw | mmap.mmap, error: Exception, report: Report
) -> tuple[Packet | None, Report]:
    obj = _lenient_loads(data, error, report)
    if obj is None:
        return None, report
    top = obj[0]
    # Only here can a string hold a lone surrogate: msgspec refuses "\ud800" without its pair
    # (the fast path never sees one), Python's json reads it; and a NUL comes here (see
    # _maybe_nul). Their escapes are in the text, so input without one (most of what comes
    # here: NaN, Infinity) skips the walk.
    suspect = isinstance(top, dict) and (_maybe_surrogate(data) or _maybe_nul(data))
    if suspect:
        bad_keys = _packet_text(top, report)
    packet = _slow(_ObjJson, top, report)
    if suspect and packet is not None:
        for name in bad_keys:
            setattr(packet, name, None)
        _instances_text(top, packet, report)
    return packet, report


def _maybe_nul(data: Any) -> bool:
    """Whether the JSON may hold a NUL character ("\\u0000"; raw control characters are not
    JSON): msgspec reads one into a string like any other, and PostgreSQL cannot store it, so
    such input goes the lenient way, whose text checks name each string that holds one. One
    scan in C of the bytes (~10 ms for 100 MB)."""
    find = getattr(data, "find", None)
    return find is not None and find(b"\\u0000") >= 0


def _maybe_surrogate(data: Any) -> bool:
    try:
        return bool(data.find(b"\\ud") >= 0 or data.find(b"\\uD") >= 0)
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


def _is_text(value: Any) -> bool:
    """True if no string in `value` (keys too) holds a lone surrogate or a NUL: msgspec's
    encoder, in C, refuses the one and writes the other as \\u0000 (which a string holding
    that text itself would also show, escaped: then its strings are looked at). False also for
    what it cannot encode (nesting, a huge integer): then walk it."""
    try:
        encoded = _ENCODE(value)
    except UnicodeEncodeError:
        return False
    except (TypeError, ValueError, OverflowError, RecursionError):
        return False
    return b"\\u0000" not in encoded or not _holds_nul(value)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


_ENCODE = msgspec.json.Encoder().encode


def _count_bad_text(value: Any) -> int:
    """How many strings `_bad_text` would name in `value`, with no path built."""
    if isinstance(value, str):
        return 0 if is_text(value) else 1
    if isinstance(value, dict):
        return sum(
            (not is_text(key)) + _count_bad_text(item)
            for key, item in value.items()
            if not _is_text({key: item})
        )
    if isinstance(value, list):
        return sum(_count_bad_text(item) for item in value if not _is_text(item))
    return 0


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
            if item.__class__ is not dict or _is_text(item):  # one C call for most instances
                continue
            type_ = item.get("type")
            cls = INSTANCE_CLASSES.get(type_) if type_.__class__ is str else None
            if cls is None:
                continue
            at = (frame, index)
            bad = False
            for key in cls.__struct_encode_fields__:
                if key not in item or _is_text(item[key]):
                    continue
                bad = True
                if not report.lists_problems:  # past the cap: no path, each bad string counted
                    report.count_problems("value.invalid_text", _count_bad_text(item[key]))
                    continue
                for path in _bad_text(item[key], f"{prefix}/{index}/{key}"):
                    _text_problem(path, at, report)
            if bad:
                report.rejected.add(at)
                if decoded is not None and index < len(decoded):
                    decoded[index] = None


def _lenient_loads(
    data: bytes | msgspec.Raw | mmap.mmap, error: Exception, report: Report
) -> tuple[Any] | None:
    """Python's json reads NaN and Infinity (which its json.dumps writes); msgspec does not."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as bad:
        report.problem(
            "packet.not_json", "", f"the body is not UTF-8 text (bad byte at position {bad.start})"
        )
        return None
    try:
        obj = _loads(text)
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
    # null is no list, as in the fast decode; compared as a Raw (by length first), a large
    # list or map is not decoded to find out.
    raw_list = top.get("instance_list")
    if raw_list is not None and raw_list != _NULL:
        packet.instance_list = _decode_list(j, raw_list, None, report, names)
    raw_map = top.get("frame_packet_map")
    if raw_map is not None and raw_map != _NULL:
        entries = j.as_dict(raw_map)
        if entries is None:
            report.problem(
                "packet.invalid_value",
                "frame_packet_map",
                "frame_packet_map must be an object {frame: instance_list}, got "
                + _shown(j, raw_map),
            )
        else:
            frames = {}
            for key, raw in entries.items():
                if not _FRAME_KEY.fullmatch(key):
                    report.problem_of(
                        "frame.key_invalid",
                        lambda: f"frame_packet_map/{key}",  # noqa: B023
                        lambda: (
                            f"frame key {show(key)} is not a plain non-negative integer "  # noqa: B023
                            '(write frames as 0, 6 or "6"; not "06", "1.0" or -1)'
                        ),
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
    instances: list[Any] | None
    if j is _RawJson and _no_object(node):
        # No object in it, so no instance (a frame's [1]): not the typed decode's failure (an
        # exception per list, most of the cost of a million tiny frames).
        return _decode_items(j, node, frame, report)
    try:
        instances = j.typed(node, _LIST)
    except msgspec.ValidationError as error:
        instances = _decode_items(j, node, frame, report, _first_bad(str(error)))
    except (msgspec.DecodeError, RecursionError):
        instances = None
        report.problem_of(
            "packet.not_json", lambda: _prefix(frame), "this list cannot be read as JSON"
        )
    if instances:
        _intern_names(instances, names)
    return instances


def _no_object(node: Any) -> bool:
    """A small list (a frame's) with no object in it and not empty; False for any other."""
    if len(node) > 64:
        return False
    raw = bytes(node)
    return b"{" not in raw and raw.startswith(b"[") and raw[1:].strip() != b"]"


def _intern_names(instances: list[Any], names: dict[str, str]) -> None:
    # A million instances of 50 labels would otherwise hold a million equal strings; sharing
    # them right after each list is decoded keeps peak memory near the size of the input.
    if instances[0] is None and instances.count(None) == len(instances):
        return  # all refused (dense junk): not a pass in Python over millions of None
    setdefault = names.setdefault
    for instance in instances:
        name = instance.name if instance is not None else None
        if name.__class__ is str:
            instance.name = setdefault(name, name)


def _shown(j: Any, node: Any, limit: int = 60) -> str:
    """`show` of a value, from its first bytes when it is a Raw: a 90 MB object is not decoded
    for the 60 characters a message quotes."""
    if j is not _RawJson:
        return show(j.plain(node), limit)
    view = memoryview(node)
    if view.nbytes <= 4 * limit:
        return show(j.plain(node), limit)
    text = bytes(view[: 4 * limit]).decode("utf-8", "replace")
    return text[: limit - 1] + "…"


def _prefix(frame: int | None) -> str:
    return "instance_list" if frame is None else f"frame_packet_map/{frame}"


def _first_bad(message: str) -> int:
    """The index msgspec's error about a list names ("... - at `$[1234].x_min`"), else 0."""
    match = _FIRST_BAD.search(message)
    return int(match.group(1)) if match else 0


_FIRST_BAD = re.compile(r" - at `\$\[(\d+)\]")


def _looks_good(node: Any, first_bad: int) -> bool:
    """A list of many real instances with a few bad ones: a thousand good ones before the
    first bad, and items of real size (>= 12 bytes a comma; dense junk is 2-15). Item by item
    its good instances decode at half the cost of the hook's conversion from plain objects, and
    a msgspec.Raw per item is small beside each instance's struct."""
    if first_bad < 1000:
        return False
    commas = sum(chunk.count(b",") for chunk in _chunks(node))
    return memoryview(node).nbytes >= 12 * commas


def _decode_items(
    j: Any, node: Any, frame: int | None, report: Report, first_bad: int = 0
) -> list[Any] | None:
    if j is _RawJson:
        read = _read_scalars(node, frame, report)
        if read is None and not _looks_good(node, first_bad):
            read = _read_items(node, frame, report)
        if read is not None:
            return read
    items = j.as_list(node)
    prefix = _prefix(frame)
    if items is None:
        if frame is None:
            report.problem(
                "packet.invalid_value",
                prefix,
                f"instance_list must be a list of instances, got {_shown(j, node)}",
            )
        else:
            report.problem_of(
                "frame.not_list",
                prefix,
                lambda: f"frame {frame} must map to a list of instances, got {_shown(j, node)}",
            )
        return None
    if j is _ObjJson:  # read leniently (NaN, a lone surrogate): items are objects already
        hook, finish = _item_reader(frame, report)
        for item in items:
            hook(None, item)
        return finish()
    out: list[Any] = []
    instance, plain, plain_fast = j.instance, j.plain, j.plain_fast
    listed, limit = report.problems, report.limit
    for index, item in enumerate(items):
        try:
            out.append(instance(item))
        except msgspec.ValidationError as error:
            out.append(None)
            message = str(error)
            try:
                obj = plain_fast(item)
            except (msgspec.DecodeError, RecursionError):
                obj = plain(item)
            if len(listed) < limit:
                _diagnose(obj, f"{prefix}/{index}", (frame, index), report, message)
            elif not _count_one_bad_key(obj, message, (frame, index), report):
                # Past the cap no path is built: only the codes are counted.
                _diagnose(obj, "", (frame, index), report, message)
        except (msgspec.DecodeError, RecursionError):
            out.append(None)
            report.problem_of(
                "value.invalid",
                lambda: f"{prefix}/{index}",  # noqa: B023
                "this instance cannot be read",
                (frame, index),
            )
    return out


class _Item:
    """What `_read_items` has msgspec decode each item to: the instance is kept aside."""

    __slots__ = ()


_ITEM = _Item()
_ITEMS = list[_Item]
_BATCH = 1 << 20


def _chunks(node: Any) -> Iterator[bytes]:
    view = memoryview(node)
    for start in range(0, view.nbytes, _BATCH):
        yield bytes(view[start : start + _BATCH])


def _read_scalars(node: Any, frame: int | None, report: Report) -> list[Any] | None:
    """A list with no string and no inner list: numbers, nulls, booleans and objects, which
    with no string have no key (`{}`). Every item is bad, and none need be decoded past the
    first ones the report lists: the items are counted in the bytes (commas; an `n` a null, a
    `{` an empty object), in C, so 10 MB of one-digit integers costs a few ms and no object per
    item. None for any other list."""
    commas = nulls = objects = opened = 0
    for chunk in _chunks(node) if len(node) > _BATCH else (bytes(node),):
        if b'"' in chunk:
            return None
        opened += chunk.count(b"[")
        commas += chunk.count(b",")
        nulls += chunk.count(b"n")
        objects += chunk.count(b"{")
    if opened != 1:  # not a list, or one with lists in it
        return None
    count = commas + 1  # valid JSON (msgspec read it as Raw) and not empty: the typed decode failed
    room = max(0, report.limit - len(report.problems))
    first: list[Any] = []
    if room:
        view = memoryview(node)
        end = view.nbytes - 1
        for seen, match in enumerate(_COMMA.finditer(view)):
            if seen == room:
                end = match.start()
                break
        try:
            first = _RawJson.plain(bytes(view[:end]).rstrip() + b"]")
        except ValueError:
            return None
    prefix = _prefix(frame)
    for index, obj in enumerate(first):
        _diagnose(obj, f"{prefix}/{index}", (frame, index), report)
        if obj is None:
            nulls -= 1
        elif obj.__class__ is dict:
            objects -= 1
    report.count_problems("instance.null", nulls)
    report.count_problems("instance.type_missing", objects)
    report.count_problems("instance.not_object", count - len(first) - nulls - objects)
    report.rejected.mark(frame, b"\x01" * count)
    return [None] * count


_COMMA = re.compile(rb",")


def _read_items(node: Any, frame: int | None, report: Report) -> list[Any] | None:
    """A list that failed the typed decode, read in one pass with no object kept per bad item.

    msgspec builds each item as plain objects and hands it to the hook of `_item_reader`. None
    if the list cannot be read this way (not a list, a number out of range, nested too deeply):
    then item by item, as before. The report is written only once the whole list is read."""
    hook, finish = _item_reader(frame, report)
    try:
        _decoder_with_hook(hook).decode(node)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return finish()


def _item_reader(
    frame: int | None, report: Report
) -> tuple[Callable[[Any, Any], _Item], Callable[[], list[Any]]]:
    """(hook, finish). The hook takes each item of a list as plain objects, keeps the instance
    (converted to the struct its `type` names) and a flag byte (1: bad), and keeps aside the
    first bad items, which `finish` lists with their paths; past those, a bad item is only
    counted by code and dropped. `finish` writes the report and gives the list, a bad item's
    place holding None."""
    room = max(0, report.limit - len(report.problems))
    kept: list[Any] = []
    flags = bytearray()
    first: list[tuple[int, Any, str]] = []
    tally = dict.fromkeys(_TALLIED, 0)
    counted = Report(limit=0)  # past the cap, the codes _diagnose works out
    classes, convert, invalid = INSTANCE_CLASSES, msgspec.convert, msgspec.ValidationError
    keep, flag = kept.append, flags.append
    shapes: dict[type, list[tuple[str, type, type, str]]] = {}

    def hook(_type: Any, obj: Any) -> _Item:
        message = ""
        if obj.__class__ is dict:
            type_ = obj.get("type")
            cls = classes.get(type_) if type_.__class__ is str else None
            if cls is None:
                if len(first) < room:
                    first.append((len(flags), obj, message))
                else:
                    tally[_MISSING if type_ is None else _UNKNOWN_TYPE] += 1
                flag(1)
                return _ITEM
            required, loose = _plan_of(cls)
            past = len(first) >= room
            if past and (missing := len(required) - sum(map(obj.__contains__, required))):
                # Past the cap, with required keys missing: the conversion would fail (and an
                # exception costs more than the rest of the item). If the keys it has are fine,
                # each missing one is counted; else _diagnose says what else is wrong.
                try:
                    convert(obj, loose)
                    tally["instance.missing_key"] += missing
                except (invalid, RecursionError, UnicodeEncodeError):
                    _diagnose(obj, "", None, counted, _MISSING_FIELD)
                flag(1)
                return _ITEM
            if past:
                # The shapes of wrong kind met before (x_min a string, ...): if this has one and
                # its other keys are fine, it is that one problem, with no failing conversion.
                for key, kind, unchecked, code in shapes.get(cls, ()):
                    if obj.get(key, _UNKNOWN).__class__ is kind:
                        try:
                            convert(obj, unchecked)
                        except (invalid, RecursionError, UnicodeEncodeError):
                            break
                        tally[code] = tally.get(code, 0) + 1
                        flag(1)
                        return _ITEM
            try:
                keep(convert(obj, cls))
                flag(0)
                return _ITEM
            except invalid as error:
                message = str(error)
            except UnicodeEncodeError:  # a lone surrogate (read leniently): see _NotText
                message = "a string is not Unicode text"
            except RecursionError:
                pass
            if len(first) < room:
                first.append((len(flags), obj, message))
            elif not _count_one_bad_key(obj, message, None, counted):
                _diagnose(obj, "", None, counted, message)
            elif len(known := shapes.setdefault(cls, [])) < 8:
                shape = _kind_shape(cls, obj, message)
                if shape is not None and shape not in known:
                    known.append(shape)
        elif len(first) < room:
            first.append((len(flags), obj, message))
        else:
            tally["instance.null" if obj is None else "instance.not_object"] += 1
        flag(1)
        return _ITEM

    def finish() -> list[Any]:
        prefix = _prefix(frame)
        for index, obj, message in first:
            at = (frame, index)
            if report.lists_problems:
                _diagnose(obj, f"{prefix}/{index}", at, report, message)
            elif not _count_one_bad_key(obj, message, at, report):
                _diagnose(obj, "", at, report, message)
        for code, count in tally.items():
            report.count_problems(code, count)
        for code, count in counted.problem_counts_by_code.items():
            report.count_problems(code, count)
        report.rejected.mark(frame, flags)
        if not kept:
            return [None] * len(flags)
        good = iter(kept).__next__
        return [None if bad else good() for bad in flags]

    return hook, finish


def _kind_shape(cls: type, obj: Any, message: str) -> tuple[str, type, type, str] | None:
    """(key, kind of its value, `cls` with that key unchecked, code) when msgspec's `message`
    says a top-level key has a value of the wrong kind ("Expected `float`, got `str` - at
    `$.x_min`"): then every value of that kind is wrong there, whatever it is. Scalars only."""
    match = _TOP_KEY.search(message)
    if match is None or match.group(2) or ", got `" not in message:
        return None
    key = match.group(1)
    value = obj.get(key, _UNKNOWN)
    if value.__class__ not in (str, int, bool, type(None)):
        return None
    code = _code_of(key, message[: match.start()], value, False)
    return key, value.__class__, _loose(cls, key), code


_MISSING, _UNKNOWN_TYPE = "instance.type_missing", "instance.type_unknown"
_TALLIED = (
    "instance.null",
    "instance.not_object",
    "instance.type_missing",
    "instance.type_unknown",
    "instance.missing_key",
)


def _decoder_with_hook(hook: Callable[[Any, Any], Any]) -> msgspec.json.Decoder[list[_Item]]:
    return msgspec.json.Decoder(_ITEMS, dec_hook=hook)


_NULL_MESSAGE = (
    "the instance is null. The diffgram SDK 0.15.0 replaces every instance that has a "
    "label_file_id with null; send the label's name in `name` instead of label_file_id"
)


def _count_one_bad_key(
    obj: Any, error: str, at: tuple[int | None, int] | None, report: Report
) -> bool:
    """Past the cap, the usual bad instance (one key whose value is wrong as a whole, maybe
    required keys missing): count its problems and say True. False for any other (_diagnose
    then counts it). This is _diagnose cut down to what a million such instances need: what
    follows from the instance's type and msgspec's error is worked out once per pair."""
    if obj.__class__ is not dict:
        return False
    type_ = obj.get("type")
    if type_.__class__ is not str:
        return False
    shape = _SHAPES.get((type_, error))
    if shape is None:
        shape = _shape(type_, error)
        # A caller's made-up types must not fill the memo; msgspec's errors about a known type
        # are few (one per key and kind).
        if type_ in INSTANCE_CLASSES and len(_SHAPES) < _MEMO_MAX:
            _SHAPES[(type_, error)] = shape
    if shape is False:
        return False
    key, message, listy, required, loose, codes = shape
    if key is None:  # only required keys missing, if the others are fine
        try:
            msgspec.convert(obj, loose)
        except (msgspec.ValidationError, RecursionError, UnicodeEncodeError):
            return False
        missing = len(required) - sum(map(obj.__contains__, required))
        if missing and at is not None:
            report.rejected.add(at)
        report.count_problems("instance.missing_key", missing)
        return missing > 0
    value = obj.get(key, _UNKNOWN)
    if value is _UNKNOWN or (listy and value.__class__ is list):
        return False  # a list of points: each bad point is a problem of its own
    try:  # are the other keys fine?
        msgspec.convert(obj, loose)
    except (msgspec.ValidationError, RecursionError, UnicodeEncodeError):
        return False
    if required and not all(map(obj.__contains__, required)):
        for name in required:
            if name not in obj:
                report.count_problem("instance.missing_key", at)
    kind = (value.__class__, value.__class__ is float and not math.isfinite(value))
    code = codes.get(kind)
    if code is None:
        code = codes[kind] = _code_of(key, message, value, False)
    report.count_problem(code, at)
    return True


_SHAPES: dict[tuple[str, str], Any] = {}


@functools.cache
def _required_of(cls: type) -> tuple[str, ...]:
    return tuple(name for name, _t, required, _i in _fields_of(cls) if required)


@functools.cache
def _plan_of(cls: type) -> tuple[tuple[str, ...], type]:
    """The required keys of an instance type, and its struct with every key optional."""
    return _required_of(cls), _loose(cls)


_MISSING_FIELD = "Object missing required field `"
_MEMO_MAX = 4096


def _shape(type_: str, error: str) -> Any:
    """For _count_one_bad_key: the bad key msgspec's error names, its words without the path,
    whether the key holds a list of items, the required keys, the struct with every key
    optional and that key unchecked, and a memo of codes by value kind; False if the error
    names no key's value."""
    cls = INSTANCE_CLASSES.get(type_)
    if cls is not None and error.startswith(_MISSING_FIELD) and " - at `" not in error:
        return None, "", False, _required_of(cls), _loose(cls), {}
    match = _TOP_KEY.search(error) if cls is not None else None
    if cls is None or match is None or match.group(2):
        return False
    key = match.group(1)
    items = {name: item_type for name, _t, _r, item_type in _fields_of(cls)}
    if key not in items:
        return False
    required = tuple(name for name, _t, required, _i in _fields_of(cls) if required)
    codes: dict[tuple[type, bool], str] = {}
    loose = _loose(cls, key)
    return key, error[: match.start()], items[key] is not None, required, loose, codes


def _diagnose(
    obj: Any, path: str, at: tuple[int | None, int] | None, report: Report, error: str = ""
) -> None:
    """Report every problem of one instance that failed the typed decode (`error`: its message).
    Once the report lists no more problems, each is only counted by code: no message, no path
    (`path` is then "")."""
    before = report.problem_count
    if obj is None:
        _problem(report, "instance.null", at, path, _NULL_MESSAGE)
        return
    if not isinstance(obj, dict):
        _problem(
            report,
            "instance.not_object",
            at,
            path,
            lambda: f"an instance must be an object, got {show(obj)}",
        )
        return
    type_ = obj.get("type")
    if type_ is None:
        _problem(report, "instance.type_missing", at, path, "the instance has no `type`", "type")
        return
    cls = INSTANCE_CLASSES.get(type_) if isinstance(type_, str) else None
    if cls is None:
        _problem(
            report,
            "instance.type_unknown",
            at,
            path,
            lambda: f"type {show(type_)} is not an instance type{_type_hint(type_)}",
            "type",
        )
        return
    bad = _bad_keys(obj, cls, error)
    fields = _fields_of(cls)
    if bad is not None and not path:  # past the cap: in any order, with no paths
        index, required = _field_positions(cls)
        for key, _i in required:
            if key not in obj:
                report.count_problem("instance.missing_key", at)
        for key, message in bad.items():
            _key, field_type, _required, item_type = fields[index[key]]
            _check_value(obj[key], field_type, key, "", at, report, message, item_type)
        if report.problem_count == before:  # as below: msgspec refused it for another reason
            report.count_problem("value.invalid", at)
        return
    if bad is None:
        keys: Any = fields
    else:  # only the keys with a problem, in the order of the fields
        keys = [fields[i] for i in sorted(_field_index(cls, bad, obj))]
    for key, field_type, required, item_type in keys:
        if key not in obj:
            if required:
                _problem(
                    report,
                    "instance.missing_key",
                    at,
                    path,
                    lambda: f"a {type_} needs `{key}`, and it is missing",  # noqa: B023
                    key,
                )
        else:
            said = None if bad is None else bad[key]
            _check_value(obj[key], field_type, key, f"{path}/{key}", at, report, said, item_type)
    if report.problem_count == before:
        # Should not happen: the typed decode failed, so say what msgspec said.
        try:
            _convert(obj, cls)
        except msgspec.ValidationError as error:
            report.problem_of("value.invalid", path, str(error), at)


def _problem(
    report: Report,
    code: str,
    at: tuple[int | None, int] | None,
    path: str,
    message: str | Callable[[], str],
    key: str | None = None,
) -> None:
    """One problem of a bad instance; its message (a callable: built only if it is listed)."""
    if not report.lists_problems:
        report.count_problem(code, at)
        return
    text = message if isinstance(message, str) else message()
    report.problem(code, path if key is None else f"{path}/{key}", text, at)


def _type_hint(type_: Any) -> str:
    # A list or an object as `type` cannot be a key of the memo (TypeError: a 500).
    return _str_type_hint(type_) if isinstance(type_, str) else ""


@functools.lru_cache(maxsize=256)
def _str_type_hint(type_: str) -> str:
    # difflib costs ~30 us a call; a packet of bad types repeats the same few.
    close = difflib.get_close_matches(type_.lower(), list(INSTANCE_CLASSES), n=1)
    return f'; did you mean "{close[0]}"?' if close else ""


def _bad_keys(obj: dict[str, Any], cls: type, first: str = "") -> dict[str, str] | None:
    """key -> msgspec's error for its value (with a path from the value), for every key of `obj`
    whose value does not fit `cls`; None when that cannot be told this way.

    One conversion of the whole object to a struct with every key optional (0.7 us) finds the
    first bad key; without it the next. Converting key by key instead cost ~2 us a key, every
    key of every bad instance. `first` is the typed decode's error, which names the first."""
    loose = _loose(cls)
    work = obj
    bad: dict[str, str] = {}
    message = first
    while True:
        if not message:
            try:
                _convert(work, loose)
                return bad
            except (_NotText, RecursionError):
                return None
            except msgspec.ValidationError as error:
                message = str(error)
        match = _TOP_KEY.search(message)
        if match is None and not bad and message is first:
            message = ""  # e.g. a missing key: the loose conversion says what else is wrong
            continue
        if match is None or match.group(1) not in work:
            return None
        key, rest = match.group(1), match.group(2)
        bad[key] = message[: match.start()] + (f" - at `${rest}`" if rest else "")
        if work is obj:
            work = dict(obj)
        del work[key]
        message = ""


# " - at `$.x_min`", " - at `$.points[3].x`": the instance's key, then the path in its value.
_TOP_KEY = re.compile(r" - at `\$\.([A-Za-z_][A-Za-z0-9_]*)(.*)`$")


@functools.cache
def _loose(cls: type, unchecked: str | None = None) -> type:
    """`cls` with every key optional (what is missing is reported apart), and the key
    `unchecked` taking any value."""
    fields = msgspec.structs.fields(cls)
    return msgspec.defstruct(
        f"_Loose{cls.__name__}",
        [(f.name, Any if f.encode_name == unchecked else f.type, None) for f in fields],
        kw_only=True,
        rename={f.name: f.encode_name for f in fields},
    )


def _check_value(
    value: Any,
    type_: Any,
    key: str,
    path: str,
    at: tuple[int | None, int] | None,
    report: Report,
    message: str | None = None,
    item_type: Any = _UNKNOWN,
) -> None:
    """Report what is wrong with one key's value; `message` is msgspec's error for it when
    already known (else the value is converted to find out, and may turn out fine)."""
    if message is None:
        try:
            _convert(value, type_)
            return
        except _NotText:
            return
        except msgspec.ValidationError as error:
            message = str(error)
        except RecursionError:
            report.problem_of("value.invalid", path, lambda: f"{key} is nested too deeply", at)
            return
    if item_type is _UNKNOWN:
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
                if not report.lists_problems:
                    report.count_problem(_code_of(key, str(error), item, True), at)
                    continue
                suffix, what = _split_error(str(error))
                _value_problem(key, f"{path}/{i}{suffix}", what, _at(item, suffix), at, report)
        if found:
            return
    if not report.lists_problems:
        report.count_problem(_code_of(key, message, value, False), at)
        return
    suffix, what = _split_error(message)
    _value_problem(key, path + suffix, what, _at(value, suffix), at, report)


def _code_of(key: str, message: str, value: Any, in_list: bool) -> str:
    """The code _value_problem gives msgspec's `message` about `value` (an item of the key's
    list if `in_list`), with no message built. It follows from the key, the message (with its
    path in the value) and the offending part's kind, so each such tuple is worked out once."""
    suffix, what = _split_error(message)
    part = _at(value, suffix) if suffix else value
    kind = part.__class__
    memo = (key, message, in_list, kind, kind is float and not math.isfinite(part))
    code = _CODES.get(memo)
    if code is None:
        # A stand-in path as deep as the real one: geo codes depend on the depth under the key.
        path = f"/{key}/0{suffix}" if in_list else f"/{key}{suffix}"
        code = _value_problem(key, path, what, part, None, None)
        if len(_CODES) < _MEMO_MAX:
            _CODES[memo] = code
    return code


# (key, msgspec's message, in a list, kind of the offending part, NaN or infinite) -> code.
_CODES: dict[tuple[str, str, bool, type, bool], str] = {}


def _field_index(cls: type, bad: dict[str, str], obj: dict[str, Any]) -> list[int]:
    """The positions in `_fields_of(cls)` of the bad keys and of the required keys missing."""
    index, required = _field_positions(cls)
    return [index[key] for key in bad] + [i for key, i in required if key not in obj]


@functools.cache
def _field_positions(cls: type) -> tuple[dict[str, int], tuple[tuple[str, int], ...]]:
    fields = _fields_of(cls)
    index = {key: i for i, (key, _t, _r, _i) in enumerate(fields)}
    return index, tuple((key, i) for i, (key, _t, required, _i) in enumerate(fields) if required)


@functools.cache
def _fields_of(cls: type) -> tuple[tuple[str, Any, bool, Any], ...]:
    """(key, type, required, item type if a list) of each key of an instance type but `type`.
    msgspec.structs.fields evaluates the class's annotations on every call (~0.4 ms): done per
    bad instance, it was most of the cost of a packet of bad instances."""
    return tuple(
        (f.encode_name, f.type, f.required, _list_item_type(f.type))
        for f in msgspec.structs.fields(cls)
        if f.encode_name != "type"
    )


def _list_item_type(type_: Any) -> Any:
    try:
        return _cached_item_type(type_)
    except TypeError:  # an unhashable annotation
        return _item_type(type_)


@functools.cache
def _cached_item_type(type_: Any) -> Any:
    return _item_type(type_)


def _item_type(type_: Any) -> Any:
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


@functools.lru_cache(maxsize=4096)
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
    key: str,
    path: str,
    what: str,
    value: Any,
    at: tuple[int | None, int] | None,
    report: Report | None,
) -> str:
    """Report the problem of a value msgspec refused (`what`: its words) and return its code;
    with no report, only the code."""
    message: Callable[[], str]
    not_finite = isinstance(value, float) and not math.isfinite(value)
    if _too_long(what, value):
        code = "value.too_long"
        message = lambda: _too_long_message(_name(key, path), value)  # noqa: E731
    elif not_finite or "Number out of range" in what:
        code = "number.invalid" if key == "number" else "value.not_finite"
        message = lambda: f"{_name(key, path)} must be a finite number, got {value!r}"  # noqa: E731
    elif what.startswith("Object missing required field"):
        code = "instance.missing_key"
        name = _name(key, path)  # of the object, before the path names its missing key
        message = lambda: f"{name}: {_plain_words(what, value)}"  # noqa: E731
        path = path + "/" + what.rsplit("`", 2)[-2]
    elif key == "number":
        code = "number.invalid"
        message = lambda: f"number must be an integer >= 1 (or absent), got {show(value)}"  # noqa: E731
    elif " got `" in what:
        code = "value.wrong_kind"
        message = lambda: f"{_name(key, path)} {_plain_words(what, value)}"  # noqa: E731
    elif "of length" in what:
        code = "geo.count" if key in _GEO_KEYS else "points.count"
        if key == "lonlat" or (key in _GEO_KEYS and path.count("/") > _depth(key, path)):
            code = "value.invalid"
        message = lambda: f"{key} {_plain_words(what, value)}"  # noqa: E731
    elif key == "score":
        code = "score.out_of_range"
        message = lambda: f"score must be a number in [0, 1], got {show(value)}"  # noqa: E731
    elif key in _GEO_KEYS:
        code = "geo.out_of_range"
        message = lambda: (  # noqa: E731
            f"{key}: longitude must be in [-180, 180] and latitude in [-90, 90], got {show(value)}"
        )
    elif "> 0" in what and (key in _SIZE_KEYS or _name(key, path) in _SIZE_KEYS):
        code = "shape.not_positive"
        message = lambda: f"{_name(key, path)} must be greater than 0, got {show(value)}"  # noqa: E731
    elif "Invalid value" in what:
        code = "value.invalid"
        message = lambda: f"{_name(key, path)}: {what}"  # noqa: E731
    elif ">" in what or "<" in what:
        code = "value.out_of_range"
        message = lambda: f"{_name(key, path)} {_plain_words(what, value)}"  # noqa: E731
    else:
        code = "value.invalid"
        message = lambda: f"{_name(key, path)}: {what} (got {show(value)})"  # noqa: E731
    if report is None:
        pass
    elif report.lists_problems:
        report.problem(code, path, message(), at)
    else:
        report.count_problem(code, at)
    return code


def _name(key: str, path: str) -> str:
    # The key named in a message: the last segment of the path unless that is a list index.
    last = path.rsplit("/", 1)[-1]
    return key if last.isdigit() else last


def _depth(key: str, path: str) -> int:
    # path depth of the key itself: ".../<index>/<key>"
    return path[: path.index("/" + key) + len(key) + 1].count("/")
