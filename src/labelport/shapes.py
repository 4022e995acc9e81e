"""Every answer's shape, declared once: what the `Service` returns, what the native routes answer
(their response models, so /openapi.json says exactly what is sent), what the compat mapping
reads and what the SDK's results hold (tests/api/test_response_shapes.py compares them).

They are TypedDicts: the Service builds plain dicts with these keys (`record_keys` for the
ones copied from a store record) without importing pydantic, and the routes name them as
response models, which pydantic validates and documents. Shapes the Service builds refuse keys
they do not declare (`extra="forbid"`): a key added on one side only fails the route's tests
instead of drifting. Shapes read back from stored JSON (problems, their groups, tokens) drop what
they do not declare, so an old row never turns an answer into a 500.

Outside `labelport.api`: the Service imports this, and the API package imports the Service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, NotRequired, cast

# typing_extensions': pydantic reads TypedDicts of `typing` only from Python 3.12 on.
from typing_extensions import TypedDict, TypeIs

Timestamp = datetime | str | None


def record_keys(shape: type) -> tuple[str, ...]:
    """The shape's keys, in order (a base's first): those the Service copies from a record."""
    return tuple(shape.__annotations__)


# -- problems --------------------------------------------------------------------------------


class ProblemOut(TypedDict):
    code: str
    path: str
    message: str


def problem_dict(problem: Any) -> ProblemOut:
    """A problem or warning as JSON: a `format.Problem` (or anything with code, path, message)
    or a stored dict; a missing part is ""."""
    if isinstance(problem, Mapping):
        return {
            "code": str(problem.get("code", "")),
            "path": str(problem.get("path", "")),
            "message": str(problem.get("message", "")),
        }
    return {
        "code": str(getattr(problem, "code", "")),
        "path": str(getattr(problem, "path", "")),
        "message": str(getattr(problem, "message", problem)),
    }


def problems_out(problems: Iterable[Any] | None) -> list[ProblemOut]:
    return [problem_dict(p) for p in problems or ()]


def problem_dicts(problems: Iterable[Any] | None) -> list[dict[str, str]]:
    """`problems_out` as plain dicts: the jobs and the store keep their lists typed so
    (ingest/'s signatures)."""
    return [
        {"code": d["code"], "path": d["path"], "message": d["message"]}
        for d in problems_out(problems)
    ]


class ExampleOut(TypedDict):
    path: str
    message: str


class ProblemGroupOut(TypedDict):
    """Problems of one code whose messages read alike (format/problem_groups.py)."""

    code: str
    message: str
    count: int
    examples: list[ExampleOut]
    unlisted: bool


# -- projects, keys, labels, attributes, directories -------------------------------------------


class ProjectOut(TypedDict):
    id: int
    string_id: str
    name: str
    created_at: Timestamp


class KeyOut(TypedDict):
    client_id: str
    client_secret: NotRequired[str]  # only when the key is created
    role: str
    project_id: int


class KeyHolder(TypedDict):
    """Whom an API key authenticates (`Service.authenticate`): not an answer of its own."""

    client_id: str
    role: str
    project_id: int
    project_string_id: str


class SchemaOut(TypedDict):
    id: int
    name: str
    is_default: bool


class LabelRow(TypedDict):
    id: int
    name: str
    colour: str | None
    schema_id: int | None


class LabelOut(LabelRow):
    colour_is_default: bool  # the colour shown is the palette's: none was set for the label


class OptionOut(TypedDict):
    id: int
    name: str
    display_name: str | None
    parent_id: int | None


class AttributeGroupOut(TypedDict):
    id: int
    name: str
    kind: str
    prompt: str | None
    min_value: float | None
    max_value: float | None
    is_root: bool
    label_ids: list[int]
    options: list[OptionOut]


class DirectoryOut(TypedDict):
    id: int
    nickname: str
    is_default: bool


# -- files -----------------------------------------------------------------------------------


class FileOut(TypedDict):
    id: int
    directory_id: int | None
    media_type: str | None
    original_filename: str | None
    sha256: str | None
    size: int | None
    width: int | None
    height: int | None
    frame_count: int | None
    fps: float | None
    duration: float | None
    token_count: int | None
    source_url: str | None
    parent_file_id: int | None
    ordinal: int | None
    created_at: Timestamp


class FilePage(TypedDict):
    items: list[FileOut]
    total: int
    page: int
    per_page: int


class TokenOut(TypedDict):
    text: str
    start_char: int
    end_char: int
    sentence: int


# -- imports ---------------------------------------------------------------------------------


class ImportRow(TypedDict):
    id: int
    file_id: int | None
    directory_id: int | None
    # queued .. success | failed | rejected (a packet refused when sent)
    status: str
    percent: float | None
    source: str | None
    media_type: str | None
    mode: str | None
    idempotency_key: str | None
    error: str | None
    created_at: Timestamp
    started_at: Timestamp
    finished_at: Timestamp
    media_name: str | None  # the media as sent: its file name, its URL
    media_url: str | None


class ImportOut(ImportRow):
    counts: dict[str, Any]
    problem_count: int
    # every problem's code counted; `problems` holds one page of the first 1,000
    problem_counts_by_code: dict[str, int]
    problems: list[ProblemOut]
    # Absent where imports are listed or found (fetch the import for them).
    problem_groups: NotRequired[list[ProblemGroupOut]]
    warning_count: int
    warnings: list[ProblemOut]


class ImportPage(TypedDict):
    items: list[ImportOut]
    total: int
    page: int
    per_page: int


class ImportFound(TypedDict):
    found: ImportOut | None


class ImportsFound(TypedDict):
    keys: dict[str, ImportOut]  # key -> its import, for the keys found
    latest: dict[str, ImportOut]  # stem -> the newest import of a key STEM#VERSION
    latest_success: dict[str, ImportOut]  # stem -> the newest of those that succeeded


class DryRunOut(TypedDict):
    status: Literal["dry_run"]
    problem_count: int
    problems: list[ProblemOut]
    problem_groups: list[ProblemGroupOut]
    warning_count: int
    warnings: list[ProblemOut]
    problems_listed_at_most: int
    problems_not_listed: int
    problem_counts_by_code: dict[str, int]
    warnings_not_listed: int
    warning_counts_by_code: dict[str, int]
    counts: dict[str, Any]


def is_dry_run(answer: ImportOut | DryRunOut) -> TypeIs[DryRunOut]:
    """Whether `Service.submit_packet` answered a dry run (a packet may ask for one itself)."""
    return answer["status"] == "dry_run"


# -- batches ---------------------------------------------------------------------------------


class BatchLineOut(TypedDict):
    line: int  # from 0, in the order sent (blank lines are not counted)
    import_id: int
    duplicate: bool  # the line repeated an idempotency key: this is the first import's outcome
    status: str
    file_id: int | None
    media_type: str | None
    idempotency_key: str | None
    media_name: str | None
    media_url: str | None
    counts: dict[str, Any]
    problem_count: int
    problems: list[ProblemOut]  # the first 20
    warning_count: int
    warnings: list[ProblemOut]  # the first 20
    error: str | None


class BatchRow(TypedDict):
    id: int
    project_id: int
    status: Literal["queued", "running", "success", "partial", "failed"]
    on_error: str
    media: str
    source: str | None
    file_count: int
    error: str | None
    created_at: Timestamp
    finished_at: Timestamp


class BatchOut(BatchRow):
    counts: dict[str, int]  # lines per import status, `duplicate` and `warned`
    percent: float
    files: list[BatchLineOut]  # one page of per-line outcomes ([] in a list of batches)
    files_total: int


class BatchPage(TypedDict):
    batches: list[BatchOut]
    total: int


# -- instances and sequences -----------------------------------------------------------------


class InstanceRow(TypedDict):
    id: int
    file_id: int
    frame: int | None
    type: str
    label_id: int | None
    sequence_id: int | None
    machine_made: bool | None
    model_id: int | None
    model_run_id: int | None
    score: float | None
    external_id: str | int | None


class InstanceOut(InstanceRow):
    """An instance, with its type's geometry keys as sent (x_min.., points, ...: one set per
    type, docs/instance-format.md), which is why this one shape takes keys it does not name."""

    label_name: str | None
    number: int | None
    attribute_groups: dict[str, Any]


class InstancePage(TypedDict):
    items: list[InstanceOut]
    total: int
    page: int
    per_page: int


class SequenceRow(TypedDict):
    id: int
    project_id: int
    file_id: int
    label_id: int | None
    number: int
    instance_count: int | None
    first_frame: int | None
    last_frame: int | None
    keyframes: list[int]


class SequenceOut(SequenceRow):
    label_name: str | None


# -- evaluations (labelport.evaluate, docs/evaluate.md) ----------------------------------------


class EvaluationParams(TypedDict):
    iou: float
    score_min: float
    iou_type: str
    max_dets: int | None
    scope: str


class Figures(TypedDict):
    """Counts at the evaluation's IoU and score_min; AP (COCO's 0.50:0.95) and AP50 over all
    scores. A ratio without a denominator is null."""

    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None
    f1: float | None
    references: int
    predictions: int
    ap: float | None
    ap50: float | None


class OverallFigures(Figures):
    dropped_over_max_dets: int  # predictions past max_dets per file, frame and label


class StoredLabelFigures(Figures):
    """A label's row as `Evaluation.results` keeps it."""

    label_id: int | None
    # [[recall, precision, score], ...] at the evaluation's IoU; absent where evaluations
    # are listed
    curve: NotRequired[list[list[float]]]


class LabelFigures(StoredLabelFigures):
    label_name: str | None


class ConfusionOut(TypedDict):
    """How many predictions of one label matched references of another (null: unmatched)."""

    prediction: int | None
    prediction_name: str | None
    reference: int | None
    reference_name: str | None
    count: int


class TrackOut(TypedDict):
    sequence_id: int
    file_id: int
    label_id: int
    frames: int
    found: int
    lost_frames: list[int]
    switch_frames: list[int]


class TracksOut(TypedDict):
    """Video: where a referenced sequence's track is lost or switches to another one."""

    sequences: list[TrackOut]
    lost: int
    switches: int
    sequence_count: int


class ModelRunOut(TypedDict):
    id: int
    model: str
    run: str


class EvaluationTimings(TypedDict):
    load: float
    match_and_measure: float


class EvaluationOut(TypedDict):
    id: int
    model_run_id: int
    reference_run_id: int | None
    parameters: EvaluationParams
    file_count: int
    last_import_id: int | None
    imports_seen: int
    took: float
    created_at: str
    stale: bool  # an import into its files came since
    model_run: ModelRunOut
    reference: Literal["human", "run"]
    iou_type: str  # the kind compared: box, mask or keypoints
    overall: OverallFigures
    labels: list[LabelFigures]
    confusion: list[ConfusionOut]
    tracks: TracksOut
    files_with_errors: int
    timings: EvaluationTimings


# How each shape takes keys it does not declare (see the module's docstring). Set here: a
# TypedDict's body holds its keys only. A nested shape without one would take its parent's.
_EXTRA = {
    "forbid": (
        ProjectOut, KeyOut, SchemaOut, LabelRow, LabelOut, OptionOut, AttributeGroupOut,
        DirectoryOut, FileOut, FilePage, ImportRow, ImportOut, ImportPage, ImportFound,
        ImportsFound, DryRunOut, BatchLineOut, BatchRow, BatchOut, BatchPage, InstanceRow,
        InstancePage, SequenceRow, SequenceOut, EvaluationOut,
    ),
    # An evaluation's figures are stored JSON (`Evaluation.results`), read back as they are.
    "ignore": (
        ProblemOut, ExampleOut, ProblemGroupOut, TokenOut, EvaluationParams, Figures,
        OverallFigures, StoredLabelFigures, LabelFigures, ConfusionOut, TrackOut, TracksOut,
        ModelRunOut, EvaluationTimings,
    ),
    "allow": (InstanceOut,),
}  # fmt: skip
for _extra, _shapes in _EXTRA.items():
    for _shape in _shapes:
        cast(Any, _shape).__pydantic_config__ = {"extra": _extra}
