"""The contract between ingest (which plans an import) and store (which writes it in one
transaction).

Ingest resolves everything that needs no write: label ids, attribute values, which sequences and
models the packet names. Store gets or creates the sequences, models and runs *inside* the write
transaction (so a failed import leaves none behind and concurrent imports share one row), then
asks the plan for its instance rows with those ids filled in and writes them in bulk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

# Column order of the tuples `WritePlan.rows` yields; the bulk writers insert in exactly this order.
INSTANCE_COLUMNS: tuple[str, ...] = (
    "frame",  # int | None: video frame; None for every other media type
    "label_id",  # int | None: None only for `global` and `relation`
    "sequence_id",  # int | None: video only
    "type",  # str: one of the 19 instance types
    "machine_made",  # bool
    "model_id",  # int | None
    "model_run_id",  # int | None
    "score",  # float | None
    "x_min",  # float | None: the box columns (box only; min <= max already normalised)
    "y_min",
    "x_max",
    "y_max",
    "geometry",  # str | None: JSON text of every other geometric key of the type
    "attributes",  # str | None: JSON text of {group_id: value}
    "external_id",  # str | None: the caller's `id`, unique within the file
    "content_hash",  # str: stable hash of everything above, or NO_DIGEST (see below)
)

# `content_hash` of a row whose digest was not computed: a file's first import has nothing to
# compare with, and hashing a million rows costs ~0.5 s. A merge compares such rows by their
# columns instead (store/write.py). The column is NOT NULL, hence a value rather than NULL.
NO_DIGEST = ""

Mode = Literal["create", "update", "update_with_existing"]


@dataclass(frozen=True)
class SequencePlan:
    """One (label, number) track the packet puts instances into, and the frames it touches."""

    label_id: int
    number: int
    frames: tuple[int, ...]  # sorted, distinct keyframes this import adds


@dataclass(frozen=True)
class Resolved:
    """Ids the store fixed inside the transaction, handed to `WritePlan.rows`."""

    sequence_ids: dict[tuple[int, int], int]  # (label_id, number) -> sequence.id
    model_ids: dict[str, int]  # model reference -> model.id
    model_run_ids: dict[tuple[str, str], int]  # (model reference, run reference) -> model_run.id
    # Whether the rows need their content digest: only rows that may meet existing rows of
    # their file (a merge) are compared. Without, `content_hash` may be NO_DIGEST.
    digest: bool = True


@dataclass
class WritePlan:
    """Everything one import writes. `store.write_import(plan)` applies it atomically."""

    project_id: int
    import_id: int
    file_id: int | None  # None with `new_file`: the file row is created inside the transaction
    mode: Mode
    sequences: list[SequencePlan]
    model_refs: list[str]  # get-or-create, unique per project
    model_run_refs: list[tuple[str, str]]  # (model ref, run ref); the model ref is in model_refs
    rows: Callable[[Resolved], Iterable[tuple[Any, ...]]]  # tuples in INSTANCE_COLUMNS order
    instance_count: int
    counts: dict[str, Any] = field(default_factory=dict)  # ingest's counts, stored on the import
    warnings: list[dict[str, str]] = field(default_factory=list)  # stored on the import
    # Columns of the file row to create in the same transaction (so a failed import leaves no
    # file behind); `file_id` is set from it.
    new_file: dict[str, Any] | None = None
    # Problems of instances skipped under on_error="skip_instances": stored on the import.
    problems: list[dict[str, str]] = field(default_factory=list)
    problem_count: int = 0


@dataclass(frozen=True)
class WriteResult:
    """What the transaction did; merged into the import's counts."""

    added: int  # rows inserted new (paired with no existing row)
    unchanged: int  # rows that paired with an existing row of equal content: left as they were
    removed: int  # existing rows deleted: update_with_existing only
    sequences_created: int
    sequences_extended: int
    # Rows that paired with an existing row (by external id) of other content and overwrote it
    # in place. Always: added + unchanged + replaced == rows sent.
    replaced: int = 0

    def counts(self) -> dict[str, int]:
        """The fields, for the import's counts (dataclasses.asdict deep-copies each value: a
        few percent of a chunk of small images)."""
        return dict(self.__dict__)
