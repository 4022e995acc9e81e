"""The one catalogue of problem and warning codes, and the `Report` every check writes to.

Codes are stable and dotted; `docs/problems.md` documents each one (a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec

PROBLEM = "problem"
WARNING = "warning"

# code -> (severity, one-line summary). A warning keeps the data; `strict` makes it a problem.
CATALOGUE: dict[str, tuple[str, str]] = {
    # the packet as a whole
    "packet.not_json": (PROBLEM, "the body is not JSON (or not UTF-8, or nested too deeply)"),
    "packet.not_object": (PROBLEM, "the body is JSON but not an object"),
    "packet.invalid_value": (PROBLEM, "a packet key has a value of the wrong kind or range"),
    "packet.conflicting_keys": (PROBLEM, "keys that exclude each other were given together"),
    "packet.wrong_container": (
        PROBLEM,
        "instance_list for a video, or frame_packet_map for non-video",
    ),
    "packet.mode_without_file": (PROBLEM, "`mode` was given without `file_id`"),
    # frames (video)
    "frame.key_invalid": (PROBLEM, "a frame_packet_map key is not a plain non-negative integer"),
    "frame.not_list": (PROBLEM, "a frame_packet_map value is not a list of instances"),
    "frame.out_of_range": (PROBLEM, "the frame is beyond the video's last frame"),
    # instances, generic
    "instance.null": (PROBLEM, "an instance is null (diffgram SDK 0.15.0 with label_file_id)"),
    "instance.not_object": (PROBLEM, "an instance is not a JSON object"),
    "instance.type_missing": (PROBLEM, "an instance has no `type`"),
    "instance.type_unknown": (PROBLEM, "`type` is not one of the 19 instance types"),
    "instance.missing_key": (PROBLEM, "a key the type requires is missing"),
    "instance.type_not_for_media": (PROBLEM, "the instance type does not fit the media type"),
    "instance.id_duplicate": (PROBLEM, "two instances of one file share an external `id`"),
    "value.wrong_kind": (PROBLEM, "a value has the wrong kind (e.g. a string where a number goes)"),
    "value.not_finite": (PROBLEM, "a number is NaN or infinite"),
    "value.out_of_range": (PROBLEM, "a number is outside the range its key allows"),
    "value.invalid": (PROBLEM, "a value is not acceptable for another reason"),
    "value.invalid_text": (
        PROBLEM,
        "a string holds a lone UTF-16 surrogate (an escape such as \\ud800 without its pair) or "
        "a NUL character (\\u0000)",
    ),
    "value.too_long": (
        PROBLEM,
        "a string is longer than its key allows (255 characters for names, references, ids, "
        "idempotency keys)",
    ),
    "number.invalid": (PROBLEM, "a sequence `number` is not an integer >= 1"),
    "score.out_of_range": (PROBLEM, "`score` is not a number in [0, 1]"),
    "model.run_without_model": (PROBLEM, "`model_run_ref` without `model_ref` or `model_id`"),
    # labels and sequences
    "label.missing": (
        PROBLEM,
        "the instance has neither `name` nor `label_file_id`, or its `name` is blank",
    ),
    "label.unknown": (PROBLEM, "`name` is not a label of the project"),
    "label.id_unknown": (PROBLEM, "`label_file_id` is not a label of the project"),
    "label.name_list": (WARNING, "`name` was a list of one string; the string is used"),
    "label.colour_invalid": (PROBLEM, "a label colour is not `#rrggbb` (six hex digits)"),
    "sequence.duplicate_in_frame": (PROBLEM, "the same (label, number) twice in one frame"),
    # geometry
    "box.empty": (PROBLEM, "a box has zero width or zero height"),
    "box.inverted": (WARNING, "a box had min > max; the two were swapped"),
    "points.count": (PROBLEM, "too few (or, for point, too many) points"),
    "polygon.collinear": (WARNING, "all points of a polygon lie on one line"),
    "shape.not_positive": (PROBLEM, "a size (width, height, depth, radius) is not > 0"),
    "keypoints.node_id_duplicate": (PROBLEM, "two nodes of one keypoints instance share an id"),
    "keypoints.edge_unknown_node": (PROBLEM, "an edge end is not a node id"),
    "cuboid_3d.missing_center": (PROBLEM, "a cuboid_3d has neither center_3d nor position_3d"),
    "text_token.order": (PROBLEM, "start_token > end_token"),
    "audio.order": (PROBLEM, "start_time is not before end_time"),
    "relation.missing_end": (PROBLEM, "a relation lacks `from` or `to`"),
    "relation.unknown_end": (PROBLEM, "a relation end is not the `id` of an instance of the file"),
    "relation.self": (PROBLEM, "a relation goes from an instance to itself"),
    "geo.out_of_range": (PROBLEM, "a longitude or latitude is outside its range"),
    "geo.count": (PROBLEM, "too few coordinates (geo_polyline >= 2, geo_polygon >= 3)"),
    "geo_box.order": (PROBLEM, "bounds_lonlat min is not below max"),
    # attributes
    "attribute.group_invalid": (PROBLEM, "an attribute_groups key is not a group id"),
    "attribute.group_unknown": (PROBLEM, "the attribute group does not exist"),
    "attribute.not_for_label": (PROBLEM, "the attribute group does not apply to this label"),
    "attribute.value_invalid": (PROBLEM, "the value does not fit the attribute group's kind"),
    # against the media
    "shape.outside_media": (PROBLEM, "geometry lies outside the image or video frame"),
    "shape.clipped": (WARNING, "geometry outside the media was clipped to it (clip_to_media)"),
    "shape.clamped": (
        WARNING,
        "a coordinate less than 1 px outside the media (sub-pixel rounding) was clamped to it",
    ),
    "text_token.out_of_range": (PROBLEM, "a token index is beyond the text's tokens"),
    "audio.out_of_range": (PROBLEM, "a time is beyond the audio's duration"),
    # checked by ingest against the project (references) and the fetched media
    "import.write_refused": (
        PROBLEM,
        "the database refused the import's write (e.g. an external id sent twice)",
    ),
    "packet.media_source": (
        PROBLEM,
        "a packet needs exactly one of media.url, file_id, text_data or an uploaded file",
    ),
    "file.not_found": (PROBLEM, "`file_id` is not a file of this project"),
    "directory.not_found": (PROBLEM, "`directory_id` is not a directory of this project"),
    "model.unknown": (PROBLEM, "`model_id` is not a model of this project"),
    "model_run.unknown": (PROBLEM, "`model_run_id` is not a model run of this project"),
    "model_run.other_model": (PROBLEM, "`model_run_id` belongs to another model than `model_id`"),
    "sequence.unknown": (PROBLEM, "`sequence_id` is not a sequence of this video"),
    "sequence.other_label": (PROBLEM, "`sequence_id` tracks another label than the instance's"),
    "media.url_invalid": (PROBLEM, "the media URL cannot be parsed or has no host"),
    "media.url_refused": (
        PROBLEM,
        "a private/loopback address (allow with --allow-private-urls), file:// outside the local "
        "media roots, s3:// not enabled, or another scheme",
    ),
    "media.fetch_failed": (
        PROBLEM,
        "the media could not be fetched (connection, timeout, DNS) after retries",
    ),
    "media.http_error": (PROBLEM, "the media server answered with an error status"),
    "media.too_many_redirects": (PROBLEM, "the media URL redirected too many times"),
    "media.too_large": (PROBLEM, "the media is over the size limit"),
    "media.too_many_pixels": (PROBLEM, "the image is over the decompression-bomb pixel limit"),
    "media.unreadable": (PROBLEM, "the media is corrupt, truncated or not the format it claims"),
    "media.type_mismatch": (PROBLEM, "the declared media type contradicts the content"),
    "media.unsupported_type": (
        PROBLEM,
        "the media type cannot be told from the content and was not declared",
    ),
    "media.blob_key_invalid": (PROBLEM, "a stored media key is malformed"),
    "media.blob_not_found": (PROBLEM, "stored media is missing"),
    "media.file_not_found": (
        PROBLEM,
        "a local file (an upload or file:// media) or an s3:// object does not exist",
    ),
    # converters (labelport import): the path is "source file:place" or "source file:line"
    "convert.unreadable": (PROBLEM, "a source file cannot be read or parsed (e.g. truncated JSON)"),
    "convert.invalid": (PROBLEM, "a source record is not what its format allows"),
    "convert.image_unknown": (PROBLEM, "an annotation refers to an image the source does not list"),
    "convert.class_unknown": (PROBLEM, "a class id, category or label the source does not declare"),
    "convert.media_missing": (PROBLEM, "the media file of an annotated item is not found"),
    "convert.media_outside": (
        PROBLEM,
        "a media file the source names lies outside the folders an import reads media from",
    ),
    "convert.format_unknown": (PROBLEM, "the source's format cannot be told; pass --format"),
    # evaluations of model runs (labelport evaluate, POST /evaluations): answers, not packets
    "evaluate.bad_parameter": (PROBLEM, "an evaluation parameter is out of range (iou, score...)"),
    "evaluate.same_run": (PROBLEM, "a model run cannot be its own reference"),
    "evaluate.ambiguous_run": (PROBLEM, "several models have a run of that name: give model/run"),
}

DEFAULT_LIMIT = 1000


class Problem(msgspec.Struct, frozen=True):
    code: str
    path: str
    message: str


class RejectedIndexes:
    """The (frame or None, index) of every instance with a problem, as one byte per index of
    each list that has any (1: rejected), not a set of tuples: a set cost ~150 bytes a bad item
    (930 MB for 5,000,000 one-digit integers), this costs 1. Reads like a set of pairs: `in`,
    `len`, iteration, `==` with a set. `mark` takes a whole list's flags at once."""

    __slots__ = ("_maps",)

    def __init__(self) -> None:
        self._maps: dict[int | None, bytearray] = {}

    def add(self, at: tuple[int | None, int]) -> None:
        frame, index = at
        flags = self._maps.get(frame)
        if flags is None:
            flags = self._maps[frame] = bytearray(index + 1)
        elif index >= len(flags):
            flags.extend(bytes(max(index + 1, 2 * len(flags)) - len(flags)))
        flags[index] = 1

    def mark(self, frame: int | None, flags: bytes | bytearray) -> None:
        """Add every index `i` of list `frame` with `flags[i]` set (1)."""
        if 1 not in flags:
            return
        mine = self._maps.get(frame)
        if mine is None:
            self._maps[frame] = bytearray(flags)
            return
        if len(mine) < len(flags):
            mine.extend(bytes(len(flags) - len(mine)))
        merged = int.from_bytes(mine, "little") | int.from_bytes(flags, "little")
        mine[:] = merged.to_bytes(len(mine), "little")

    def __contains__(self, at: object) -> bool:
        if not isinstance(at, tuple) or len(at) != 2:
            return False
        frame, index = at
        flags = self._maps.get(frame)
        return flags is not None and 0 <= index < len(flags) and flags[index] == 1

    def __len__(self) -> int:
        return sum(len(flags) - flags.count(0) for flags in self._maps.values())

    def __bool__(self) -> bool:
        return bool(self._maps)  # a list is kept only once one of its indexes is

    def __iter__(self) -> Iterator[tuple[int | None, int]]:
        for frame, flags in self._maps.items():
            index = flags.find(1)
            while index >= 0:
                yield frame, index
                index = flags.find(1, index + 1)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RejectedIndexes):
            return set(self) == set(other)
        if isinstance(other, set | frozenset):
            return set(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RejectedIndexes({sorted(self, key=repr)!r})"


class Report(msgspec.Struct, kw_only=True):
    """Everything the checks found. Lists are capped at `limit`; the counts are not.

    A packet of a million bad instances has a million problems: the first `limit` are listed
    with their paths, and every one is counted, in total and per code. Past the cap a check
    need not build a path or a message: it asks `lists_problems` first and, when False, calls
    `count_problem` instead, so each further bad item costs a dict increment.
    """

    problems: list[Problem] = msgspec.field(default_factory=list)
    warnings: list[Problem] = msgspec.field(default_factory=list)
    problem_count: int = 0
    warning_count: int = 0
    # code -> how many, listed or not (their sum is problem_count / warning_count).
    problem_counts_by_code: dict[str, int] = msgspec.field(default_factory=dict)
    warning_counts_by_code: dict[str, int] = msgspec.field(default_factory=dict)
    counts: dict[str, Any] = msgspec.field(default_factory=dict)
    # (frame or None, index) of every instance with a problem; ingest skips these under
    # on_error="skip_instances". One byte an index of a list with any.
    rejected: RejectedIndexes = msgspec.field(default_factory=RejectedIndexes)
    limit: int = DEFAULT_LIMIT
    strict: bool = False

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def problems_not_listed(self) -> int:
        return self.problem_count - len(self.problems)

    @property
    def warnings_not_listed(self) -> int:
        return self.warning_count - len(self.warnings)

    @property
    def lists_problems(self) -> bool:
        """Whether the next problem would be listed (else only its code is counted)."""
        return len(self.problems) < self.limit

    @property
    def lists_warnings(self) -> bool:
        """Whether the next warning would be listed; under `strict` a warning is a problem."""
        if self.strict:
            return self.lists_problems
        return len(self.warnings) < self.limit

    def problem(
        self, code: str, path: str, message: str, at: tuple[int | None, int] | None = None
    ) -> None:
        if len(self.problems) < self.limit:
            assert code in CATALOGUE, code
            self.problems.append(Problem(code, printable(path), printable(message)))
        self.count_problem(code, at)

    def count_problem(self, code: str, at: tuple[int | None, int] | None = None) -> None:
        """A problem past the cap: counted, not listed."""
        self.problem_count += 1
        by_code = self.problem_counts_by_code
        if code in by_code:
            by_code[code] += 1
        else:
            assert code in CATALOGUE, code
            by_code[code] = 1
            # Kept in `counts` too, the one mapping a failed import stores whole (check_packet
            # carries it over when it sets `counts`).
            self.counts["problem_counts_by_code"] = by_code
        if at is not None:
            self.rejected.add(at)

    def problem_of(
        self,
        code: str,
        path: str | Callable[[], str],
        message: str | Callable[[], str],
        at: tuple[int | None, int] | None = None,
    ) -> None:
        """A problem whose path and message (either may be a callable) are built only if it is
        listed: past the cap it costs a count."""
        if len(self.problems) >= self.limit:
            self.count_problem(code, at)
            return
        path = path if isinstance(path, str) else path()
        self.problem(code, path, message if isinstance(message, str) else message(), at)

    def warning_of(
        self,
        code: str,
        path: str | Callable[[], str],
        message: str | Callable[[], str],
        at: tuple[int | None, int] | None = None,
    ) -> None:
        """A warning built only if it is listed (see `problem_of`)."""
        if not self.lists_warnings:
            self.count_warning(code, at)
            return
        path = path if isinstance(path, str) else path()
        self.warning(code, path, message if isinstance(message, str) else message(), at)

    def count_problems(self, code: str, count: int) -> None:
        """`count` problems past the cap at once (their instances marked apart, `rejected.mark`)."""
        if count <= 0:
            return
        self.problem_count += count
        by_code = self.problem_counts_by_code
        if code in by_code:
            by_code[code] += count
        else:
            assert code in CATALOGUE, code
            by_code[code] = count
            self.counts["problem_counts_by_code"] = by_code

    def warning(
        self, code: str, path: str, message: str, at: tuple[int | None, int] | None = None
    ) -> None:
        if self.strict:
            self.problem(code, path, message + " (strict: warnings are problems)", at)
            return
        if len(self.warnings) < self.limit:
            assert code in CATALOGUE, code
            self.warnings.append(Problem(code, printable(path), printable(message)))
        self.count_warning(code, at)

    def count_warning(self, code: str, at: tuple[int | None, int] | None = None) -> None:
        """A warning past the cap: counted, not listed (a problem under `strict`)."""
        if self.strict:
            self.count_problem(code, at)
            return
        self.warning_count += 1
        by_code = self.warning_counts_by_code
        if code in by_code:
            by_code[code] += 1
        else:
            assert code in CATALOGUE, code
            by_code[code] = 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the CLI and the API answer with."""
        return {
            "problems": [msgspec.structs.asdict(p) for p in self.problems],
            "warnings": [msgspec.structs.asdict(p) for p in self.warnings],
            "problem_count": self.problem_count,
            "warning_count": self.warning_count,
            **self.summary(),
            "counts": {k: v for k, v in self.counts.items() if k != "problem_counts_by_code"},
        }

    def summary(self) -> dict[str, Any]:
        """What the capped lists leave out: how many, and every code's count."""
        return {
            "problems_listed_at_most": self.limit,
            "problems_not_listed": self.problems_not_listed,
            "problem_counts_by_code": dict(self.problem_counts_by_code),
            "warnings_not_listed": self.warnings_not_listed,
            "warning_counts_by_code": dict(self.warning_counts_by_code),
        }


def is_text(value: str) -> bool:
    """False for a string with a lone UTF-16 surrogate: Python's json reads "\\ud800" into one,
    and no database, JSON encoder or HTTP answer can write it; false too for one with a NUL
    character ("\\u0000"), which PostgreSQL cannot store in text. ASCII is tested first, in C,
    so the usual string costs no encode."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """`text` with any lone surrogate written as its escape (\\ud800), so that a path or a
    message quoting the caller's bad string can itself be sent."""
    return text if is_text(text) else text.encode("utf-8", "backslashreplace").decode()


def invalid_text_message(path: str) -> str:
    return (
        f"the text at {path} holds a lone UTF-16 surrogate (\\ud800-\\udfff without its pair) "
        "or a NUL character (\\u0000): it cannot be stored"
    )


def too_long_message(name: str, value: str, limit: int) -> str:
    return f"{name} is {len(value)} characters long; at most {limit} are allowed ({show(value)})"


def key_unusable(report: Report) -> bool:
    """The packet's idempotency key was refused: such a packet is refused whole, whatever its
    `on_error`, since imported without its key a retry would import it again. Packet keys are
    reported before any instance, so the capped list always holds this problem."""
    return any(p.path == "idempotency_key" for p in report.problems)


_INF = float("inf")


def show(value: Any, limit: int = 60) -> str:
    """The offending value for a message: JSON-ish and short."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, float) and value in (_INF, -_INF):
        return "Infinity" if value > 0 else "-Infinity"  # JSON would write null
    if isinstance(value, str):
        text = '"' + value + '"'
    else:
        try:
            text = msgspec.json.encode(value).decode()
        except (TypeError, ValueError, OverflowError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind_of(value: Any) -> str:
    """The JSON name of a value's kind, for "expected a number, got a string"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
