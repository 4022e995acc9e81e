"""MOT challenge tracking files: `frame,id,left,top,width,height,conf[,class,visibility]` (gt)
or `frame,id,left,top,width,height,conf,x,y,z` (detections / results), one video per file.

MOT frames are 1-based and become 0-based frame numbers; a track id becomes the sequence
`number` (+ 1 when ids start at 0); id -1 (a box with no identity, as detections and datumaro
write) is a box of its own: a one-box track numbered after the file's highest id. Class names
come from `labels.txt` (in `gt/`, as datumaro writes it, the sequence folder or its parent; one
name a line, line n is class n); MOT17's names only where no labels file exists. Ground truth
is human-made; `det.txt` is a detector's output.

The video is `<sequence name>.mp4` (from `seqinfo.ini`, or the folder's name) in the sequence
folder or `--media`: MOT ships frames as images, which labelport does not assemble into a video
(`ffmpeg -i img1/%06d.jpg <name>.mp4` does).
"""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelport.convert.model import ATTRIBUTES, MACHINE_MADE, Conversion, Item, box, find_media
from labelport.convert.sources import number, peek
from labelport.format import Problem

# MOT17/MOT20 ground-truth classes, 1-based.
MOT_CLASSES = (
    "pedestrian", "person_on_vehicle", "car", "bicycle", "motorbike", "non_motorized_vehicle",
    "static_person", "distractor", "occluder", "occluder_on_ground", "occluder_full", "reflection",
)  # fmt: skip
DEFAULT_LABEL = "object"
UNTRACKED = -1


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = sorted(path.glob("gt/gt.txt")) + sorted(path.glob("*/gt/gt.txt"))
    return found or sorted(path.glob("det/det.txt")) + sorted(path.glob("*.txt"))


def detect(path: Path) -> bool:
    if path.is_dir():
        return (
            (path / "seqinfo.ini").is_file()
            or (path / "gt" / "gt.txt").is_file()
            or bool(sorted(path.glob("*/gt/gt.txt")))
        )
    if path.suffix != ".txt":
        return False
    first = peek(path, 512).split(b"\n", 1)[0].split(b",")
    return len(first) >= 6 and all(number(v.decode(errors="replace")) is not None for v in first)


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    files = _files(path)
    conv.total_files = (conv.total_files or 0) + len(files)
    for source in files:
        yield _read_one(source, path if path.is_dir() else source.parent, conv)


def _sequence_dir(source: Path) -> Path:
    return source.parent.parent if source.parent.name in ("gt", "det") else source.parent


def _read_one(source: Path, root: Path, conv: Conversion) -> Item:
    seq_dir = _sequence_dir(source)
    info = configparser.ConfigParser()
    info.read(seq_dir / "seqinfo.ini")
    name = info.get("Sequence", "name", fallback=seq_dir.name) + ".mp4"
    try:
        shown = source.relative_to(root.parent).as_posix()
    except ValueError:
        shown = source.name
    item = Item(name=name, media_type="video", source=shown, key=f"mot:{shown}")
    item.media_path = find_media(name, conv.media_dir, seq_dir, seq_dir.parent)
    names = _class_names(source, seq_dir, item)
    rows: list[tuple[str, list[Any]]] = []  # values: numbers, checked not None
    spaced: list[int] = []
    for line_number, line in enumerate(
        source.read_text(encoding="utf-8-sig").splitlines(), start=1
    ):
        if not line.strip():
            continue
        where = f"{shown}:{line_number}"
        if "," not in line and len(line.split()) >= 6:
            spaced.append(line_number)
            continue
        values: list[Any] = [number(v) for v in line.replace(" ", "").split(",")]
        if len(values) < 6 or None in values[:6]:
            item.problems.append(
                Problem(
                    "convert.invalid",
                    where,
                    f"{len(values)} values: a MOT line has frame,id,left,top,width,height[,...]"
                    " numbers",
                )
            )
            continue
        rows.append((where, values))
    if spaced:
        # One problem for the file: the cause is the separator, not each line's values.
        item.problems.append(
            Problem(
                "convert.invalid",
                f"{shown}:{spaced[0]}",
                f"{len(spaced)} line(s) separate their values with spaces (first: line"
                f" {spaced[0]}): MOT lines are comma-separated, frame,id,left,top,width,height",
            )
        )
    ids = [int(v[1]) for _w, v in rows if v[1] != UNTRACKED]
    offset = 1 if ids and min(ids) == 0 else 0
    # gt.txt is ground truth and det.txt a detector's output; other files (tracker results)
    # are told by their score, as every reader's instances are
    made_by_machine = {"gt.txt": False, "det.txt": True}.get(source.name)
    # Every video instance belongs to a track in labelport: a box with no identity gets a track
    # of its own, numbered after the file's highest track, so it is never joined to another.
    untracked = max(ids, default=0) + offset
    frames: dict[int, list[dict[str, Any]]] = {}
    for where, values in rows:
        inst = _row(values, names, offset, where, item)
        if inst is not None:
            if "number" not in inst:
                untracked += 1
                inst["number"] = untracked
            if made_by_machine is not None:
                inst[MACHINE_MADE] = made_by_machine
            frames.setdefault(int(values[0]) - 1, []).append(inst)
    item.frames = dict(sorted(frames.items()))
    return item


def _class_names(source: Path, seq_dir: Path, item: Item) -> tuple[str, ...]:
    for candidate in (
        source.parent / "labels.txt",
        seq_dir / "labels.txt",
        seq_dir.parent / "labels.txt",
    ):
        if candidate.is_file():
            # Line n is class n: blank lines inside keep their place, trailing ones are dropped.
            lines = [x.strip() for x in candidate.read_text(encoding="utf-8-sig").splitlines()]
            while lines and not lines[-1]:
                lines.pop()
            if not lines:
                item.problems.append(
                    Problem(
                        "convert.invalid",
                        candidate.name,
                        f"{candidate} has no class names (one a line); MOT17's names are not"
                        " assumed when a labels file exists",
                    )
                )
            return tuple(lines)
    return MOT_CLASSES


def _row(
    values: list[Any], names: tuple[str, ...], offset: int, where: str, item: Item
) -> dict[str, Any] | None:
    frame, track, left, top, width, height = values[:6]
    if (
        frame < 1
        or frame != int(frame)
        or (track < 0 and track != UNTRACKED)
        or track != int(track)
    ):
        item.problems.append(
            Problem(
                "convert.invalid",
                where,
                "frames are integers from 1; ids are integers >= 0, or -1 for no identity",
            )
        )
        return None
    label = DEFAULT_LABEL
    attributes: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    conf = values[6] if len(values) > 6 else None
    if len(values) == 9:  # ground truth: conf is the "consider" flag, then class, visibility
        class_id = values[7]
        if class_id is not None and class_id >= 1:
            if class_id > len(names) or class_id != int(class_id):
                item.problems.append(
                    Problem(
                        "convert.class_unknown",
                        where,
                        f"class {class_id:g} is not one of the {len(names)} classes (1 to"
                        f" {len(names)})",
                    )
                )
                return None
            label = names[int(class_id) - 1]
            if not label:
                item.problems.append(
                    Problem(
                        "convert.class_unknown",
                        where,
                        f"class {class_id:g} is a blank line of the labels file",
                    )
                )
                return None
        if conf == 0:
            attributes["ignored"] = True
        if values[8] is not None:
            attributes["visibility"] = values[8]
    elif conf is not None and 0 <= conf <= 1:
        extra["score"] = conf
    elif conf is not None and conf != -1:
        attributes["confidence"] = conf
    if track == UNTRACKED:
        # no identity: its line keeps its id unique within the frame
        extra["id"] = f"mot:line:{where.rsplit(':', 1)[1]}"
    else:
        extra.update(number=int(track) + offset, id=f"mot:{int(track)}:{int(frame) - 1}")
    inst = box(label, left, top, left + width, top + height, **extra)
    if attributes:
        inst[ATTRIBUTES] = attributes
    return inst
