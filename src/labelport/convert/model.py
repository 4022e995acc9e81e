"""What every reader yields and shares: one `Item` per media file, and the `Conversion` it reports
problems and losses to.

An item's instances are plain packet dicts (the instance format), plus one private key,
`_attributes` (`{attribute name: value}`): attribute groups are project ids the reader cannot
know, so the importer resolves names to groups (creating them with `--create-labels`).

Ground truth or prediction (`machine_made`): a reader sets `machine_made` on every instance dict
whose origin the source states: False for human annotations, True where the source says it is a
prediction (a results file, a `predictions` block, `source="auto"`). An instance without the key
gets `default_machine_made(inst)`: True when it carries a score (only predictions have one), else
False. The packet format's own default (True when absent) never applies to converted data, and
`labelport import --machine-made/--human` overrides every instance.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelport.format import Problem

ATTRIBUTES = "_attributes"
MACHINE_MADE = "machine_made"

# Kinds of loss, with the plain words the summary shows. A loss is data the source has and the
# target cannot carry; it is counted, never dropped silently.
LOSS_KINDS: dict[str, str] = {
    "rle_mask": "RLE masks (labelport has no mask type)",
    "attribute_without_group": "attribute values without an attribute group (use --create-labels)",
    "attribute_value_unmapped": "attribute values that do not fit their group's kind",
    "crowd_flag": "COCO iscrowd flags",
    "caption": "captions / free-text annotations without a place",
    "unsupported_shape": "shapes of a kind labelport has no type for",
    "keypoint_unlabelled": "keypoints marked not labelled (v=0)",
    "rounding": "coordinates the target format could only store rounded",
    "interpolated": "CVAT interpolated track frames (imported as frames; keyframe flag lost)",
    "type_not_in_format": "instances of a type the target format cannot hold",
    "z_order": "z-order / layer values",
    "rotation": "rotations of boxes (kept as polygons)",
    "prediction_details": "scores and model references (the target format has no place for them)",
    "panoptic_file": "COCO panoptic files (PNG segment maps are not supported; skipped whole)",
    "polygon_too_few_points": "polygon parts of fewer than 3 points (COCO: the box is kept)",
}


@dataclass
class Item:
    """One media file and its instances, as read from the source."""

    name: str  # the media's name as the source gives it (file_name, path, URL basename)
    media_type: str = "image"
    instances: list[dict[str, Any]] | None = None
    frames: dict[int, list[dict[str, Any]]] | None = None  # video
    source: str = ""  # where in the source: "instances.json:images/3", "labels/a.txt"
    media_path: Path | None = None  # a local candidate for the media, found by the reader
    media_url: str | None = None  # the source names a URL (Label Studio, Diffgram)
    width: int | None = None
    height: int | None = None
    problems: list[Problem] = field(default_factory=list)
    losses: Counter[str] = field(default_factory=Counter)
    key: str = ""  # idempotency key, deterministic from the source
    # Where each instance came from (in all_instances() order), when the reader can say better
    # than an index: "instances.json:annotations[id=17] (image 000123.jpg)" (COCO).
    places: list[str] | None = None

    def instance_count(self) -> int:
        if self.frames is not None:
            return sum(len(v) for v in self.frames.values())
        return len(self.instances or ())

    def all_instances(self) -> Iterator[dict[str, Any]]:
        if self.frames is not None:
            for instances in self.frames.values():
                yield from instances
        yield from self.instances or ()


@dataclass
class AttributeSpec:
    """An attribute the source declares (CVAT does); others are inferred from their values."""

    name: str
    kind: str  # select, radio, multiple_select, text, slider
    options: list[str] = field(default_factory=list)
    min_value: float | None = None
    max_value: float | None = None


@dataclass
class Conversion:
    """Shared by a reader and its caller: settings in, problems and losses out."""

    media_dir: Path | None = None
    problems: list[Problem] = field(default_factory=list)  # not tied to one item
    losses: Counter[str] = field(default_factory=Counter)
    attribute_specs: dict[str, AttributeSpec] = field(default_factory=dict)
    total_files: int | None = None  # set by a reader once it knows, for progress bars
    labels: list[str] = field(default_factory=list)  # label names the source declares
    # Source files passed over whole, each with why ("panoptic segmentation is not supported"):
    # said once per file, and not a problem (the rest of the source imports).
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    # Folders the reader wrote media into itself (LabelMe's embedded images): the import may
    # read their files, which are the source's own, though they lie outside its folders.
    made_media: list[Path] = field(default_factory=list)

    def problem(self, code: str, path: str, message: str) -> None:
        self.problems.append(Problem(code, path, message))

    def skip_file(self, path: str, why: str) -> None:
        self.skipped_files.append((path, why))

    def lose(self, item: Item | None, kind: str, n: int = 1) -> None:
        assert kind in LOSS_KINDS, kind
        self.losses[kind] += n
        if item is not None:
            item.losses[kind] += n


def default_machine_made(inst: dict[str, Any]) -> bool:
    """Whether an instance whose reader did not say is a prediction: a score is what
    annotation formats add to predictions (COCO results, YOLO's sixth column, MOT detections);
    an annotation without one was drawn or checked by a person."""
    return inst.get("score") is not None


def mark_origin(inst: dict[str, Any], override: bool | None = None) -> dict[str, Any]:
    """Set `machine_made` on an instance: `override` (--machine-made/--human) when given, else
    what the reader set, else `default_machine_made`."""
    if override is not None:
        inst[MACHINE_MADE] = override
    elif MACHINE_MADE not in inst:
        inst[MACHINE_MADE] = default_machine_made(inst)
    return inst


def box(
    name: str, x_min: float, y_min: float, x_max: float, y_max: float, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "box",
        "name": name,
        "x_min": x_min,
        "y_min": y_min,
        "x_max": x_max,
        "y_max": y_max,
        **extra,
    }


def points_of(flat: list[float]) -> list[dict[str, float]]:
    return [{"x": flat[i], "y": flat[i + 1]} for i in range(0, len(flat) - 1, 2)]


def finite_numbers(values: list[Any]) -> bool:
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def find_media(name: str, *dirs: Path | None) -> Path | None:
    """The first existing file for `name` under `dirs` (as given, then by its basename)."""
    base = Path(name).name
    candidates = [name, base] if base != name else [name]
    for directory in dirs:
        if directory is None:
            continue
        for candidate in candidates:
            path = directory / candidate
            if path.is_file():
                return path
    return None
