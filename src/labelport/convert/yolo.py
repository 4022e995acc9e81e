"""YOLO text labels, one object per line: `class cx cy w h` (normalised box centre and size),
`class cx cy w h score` (a prediction), or `class x1 y1 x2 y2 x3 y3 ...` (a segmentation polygon).

Three layouts are read:

- labelport / Ultralytics: `labels/<split>/<stem>.txt` beside `images/<split>/<stem>.<ext>`,
  class names from `data.yaml` (`names`), `classes.txt` or `obj.names`.
- Ultralytics / Roboflow `data.yaml` whose `train` / `val` / `test` name image folders
  (`train/images`, `../valid/images`, `images/train`) or lists of images (`train.txt`); each
  image's labels are in the folder with `images` replaced by `labels`. `names` is a list or a map.
- Darknet (CVAT's "YOLO 1.1"): `obj.data` (`names = data/obj.names`, `train = data/train.txt`),
  `obj.names`, and `obj_<split>_data/<stem>.txt` next to its image.

The split stays the file's directory: `images/train/1.jpg`, `train/images/1.jpg` and
`obj_train_data/1.jpg` all become `train/1.jpg`, so two splits with a `1.jpg` each stay two files.

Normalised numbers are turned into pixels with exact decimal arithmetic (see `numbers`), which
needs each image's size: it is read from the image header. Label files are ground truth
(`machine_made: false`); a line with a sixth number (a confidence) is a prediction with that score.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import Any

from labelport.convert import numbers
from labelport.convert.model import MACHINE_MADE, Conversion, Item, box
from labelport.format import Problem

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
_ALL_SUFFIXES = IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES)
_YAML_FILES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")
_NAME_FILES = (*_YAML_FILES, "classes.txt", "obj.names")
_SPLIT_KEYS = ("train", "val", "valid", "test")
_DARKNET_DIR = re.compile(r"obj_(.+)_data")
_LAYOUTS = (
    "labels/ beside images/; a data.yaml whose train/val name image folders or lists; or "
    "Darknet's obj.data with obj_<split>_data/"
)


@dataclass
class _Entry:
    """One label file and where its image is."""

    label: Path
    image: Path  # without its suffix: the image is this plus one of IMAGE_SUFFIXES
    name: PurePosixPath  # the item's name without suffix, split directories kept


def detect(path: Path) -> bool:
    if path.is_file():
        return path.name in (*_YAML_FILES, "obj.data")
    if not path.is_dir():
        return False
    if (path / "labels").is_dir() or (path / "obj.data").is_file():
        return True
    if (path / "obj.names").is_file() and any(_darknet_dirs(path)):
        return True
    return any(_split_keys(_yaml(path / name)) for name in _YAML_FILES if (path / name).is_file())


def _yaml(path: Path, conv: Conversion | None = None) -> dict[str, Any] | None:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        if conv is not None:
            conv.problem("convert.unreadable", path.name, f"not valid YAML: {exc}")
        return None
    return data if isinstance(data, dict) else None


def _split_keys(data: dict[str, Any] | None) -> list[str]:
    return [k for k in _SPLIT_KEYS if data is not None and data.get(k)]


def _darknet_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and _DARKNET_DIR.fullmatch(p.name))


def _names_from(data: dict[str, Any], shown: str, conv: Conversion) -> list[str] | None:
    names = data.get("names")
    if isinstance(names, dict):
        try:
            by_id = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            by_id = None
        # Ids are positions: a map with a gap would shift every later class.
        if by_id is not None and sorted(by_id) == list(range(len(by_id))):
            return [by_id[k] for k in range(len(by_id))]
        conv.problem(
            "convert.invalid", f"{shown}:names", "`names` as a map needs the ids 0, 1, 2, ..."
        )
        return None
    if isinstance(names, list):
        return [str(n) for n in names]
    conv.problem("convert.invalid", f"{shown}:names", "`names` must be a list or map")
    return None


def class_names(root: Path, conv: Conversion, yaml_file: Path | None = None) -> list[str] | None:
    darknet = _darknet_data(root)
    if darknet.get("names"):
        found = _resolve(root, darknet["names"])
        if found is not None and found.is_file():
            return _lines_of(found)
    candidates = [yaml_file] if yaml_file is not None else []
    candidates += [root / name for name in _NAME_FILES]
    for path in candidates:
        if not path.is_file():
            continue
        if path.suffix in (".yaml", ".yml"):
            before = len(conv.problems)
            data = _yaml(path, conv)
            if data is None:
                if len(conv.problems) == before:
                    conv.problem("convert.invalid", path.name, "not a YAML map")
                return None
            if "names" not in data and path != yaml_file:
                continue
            return _names_from(data, path.name, conv)
        return _lines_of(path)
    conv.problem(
        "convert.invalid",
        str(root),
        "no class names: expected data.yaml (names), classes.txt, obj.names or obj.data",
    )
    return None


def _lines_of(path: Path) -> list[str]:
    return [
        line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()
    ]


def _darknet_data(root: Path) -> dict[str, str]:
    """`key = value` lines of `obj.data` (empty when there is none)."""
    path = root / "obj.data"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _resolve(base: Path, given: str) -> Path | None:
    """A path a dataset file names, found the way its tools meant it: as given (relative to the
    dataset), or without the `data/` or `../` prefix that Darknet and Roboflow write (they are
    relative to the directory the training ran in)."""
    rel = PurePosixPath(given.replace("\\", "/"))
    tries = [rel]
    parts = rel.parts
    while parts and parts[0] in ("..", ".", "data"):
        parts = parts[1:]
        tries.append(PurePosixPath(*parts) if parts else PurePosixPath("."))
    for candidate in tries:
        path = Path(candidate) if candidate.is_absolute() else base / candidate
        if path.exists():
            return path
    return None


def _name_of(root: Path, image: Path) -> PurePosixPath:
    """The item's name: the image's path in the dataset without `images` folders, and with
    Darknet's `obj_<split>_data` as `<split>`."""
    try:
        rel = image.relative_to(root)
    except ValueError:
        rel = Path(image.parent.name) / image.name
    parts = []
    for part in rel.parts:
        if part == "images":
            continue
        match = _DARKNET_DIR.fullmatch(part)
        parts.append(match.group(1) if match else part)
    return PurePosixPath(*parts) if parts else PurePosixPath(image.name)


def _label_dir(images: Path) -> Path:
    """Ultralytics' rule: the last `images` folder of the path becomes `labels`."""
    parts = list(images.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    return images


def _from_image(root: Path, image: Path) -> _Entry:
    base = image.with_suffix("")
    labels = _label_dir(image.parent) / f"{image.stem}.txt"
    return _Entry(labels, base, _name_of(root, base))


def _from_list(root: Path, list_file: Path) -> list[_Entry]:
    entries = []
    for line in _lines_of(list_file):
        image = _resolve(root, line)
        if image is not None and image.is_file():
            entries.append(_from_image(root, image))
    return entries


def _from_image_dir(root: Path, images: Path) -> list[_Entry]:
    labels = _label_dir(images)
    entries = []
    for label in sorted(labels.rglob("*.txt")):
        rel = label.relative_to(labels).with_suffix("")
        entries.append(_Entry(label, images / rel, _name_of(root, images / rel)))
    return entries


def _ultralytics(root: Path, yaml_file: Path, missing: list[str]) -> list[_Entry] | None:
    data = _yaml(yaml_file)
    keys = _split_keys(data)
    if data is None or not keys:
        return None
    base = yaml_file.parent
    if isinstance(data.get("path"), str):
        given = _resolve(base, data["path"])
        base = given if given is not None and given.is_dir() else base
    entries: list[_Entry] = []
    for key in keys:
        values = data[key] if isinstance(data[key], list) else [data[key]]
        for value in values:
            found = _resolve(base, str(value))
            if found is None and base != yaml_file.parent:
                found = _resolve(yaml_file.parent, str(value))
            if found is None:
                # A split that is not shipped (Roboflow often names a test split it leaves
                # out) is not an error while other splits are there.
                missing.append(f"{yaml_file.name} {key}: {value!r}")
            elif found.is_dir():
                entries.extend(_from_image_dir(root, found))
            else:
                entries.extend(_from_list(root, found))
    return entries


def _darknet(root: Path) -> list[Path] | None:
    """Darknet: label files in obj_<split>_data/, and beside the images the split lists name."""
    data = _darknet_data(root)
    if not data and not ((root / "obj.names").is_file() and _darknet_dirs(root)):
        return None
    labels = [label for d in _darknet_dirs(root) for label in sorted(d.rglob("*.txt"))]
    for key in ("train", "valid", "val", "test"):
        found = _resolve(root, data[key]) if data.get(key) else None
        if found is not None and found.is_file():
            labels += [e.image.with_name(e.image.name + ".txt") for e in _from_list(root, found)]
    return labels


def entries(
    root: Path, yaml_file: Path | None = None, missing: list[str] | None = None
) -> list[_Entry]:
    """Every label file of the dataset, once, whichever layout it has (splits a data.yaml names
    that are not there are added to `missing`)."""
    missing = [] if missing is None else missing
    found: list[_Entry] = []
    darknet = _darknet(root)
    if darknet is not None:
        found += [
            _Entry(label, label.with_suffix(""), _name_of(root, label.with_suffix("")))
            for label in darknet
            if label.is_file()
        ]
    for path in [yaml_file] if yaml_file is not None else [root / n for n in _YAML_FILES]:
        if path.is_file():
            found += _ultralytics(root, path, missing) or []
            break
    if (root / "labels").is_dir():
        found += _from_image_dir(root, root / "images")
    unique: dict[Path, _Entry] = {}
    for entry in found:
        if entry.label.is_file():
            unique.setdefault(entry.label.resolve(), entry)
    return list(unique.values())


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    root = path.parent if path.is_file() else path
    yaml_file = path if path.is_file() and path.suffix in (".yaml", ".yml") else None
    missing: list[str] = []
    found = entries(root, yaml_file, missing)
    if not found:
        named = f" ({'; '.join(missing)}: not found)" if missing else ""
        conv.problem(
            "convert.invalid",
            str(path),
            f"no YOLO label files found{named}; looked for {_LAYOUTS}",
        )
        return
    names = class_names(root, conv, yaml_file)
    if names is None:
        return
    conv.labels.extend(n for n in names if n not in conv.labels)
    conv.total_files = (conv.total_files or 0) + len(found)
    for entry in found:
        shown = _shown(root, entry.label)
        stem = entry.name.as_posix()
        image = _image_for(entry, conv)
        name = stem + image.suffix if image is not None else stem
        item = Item(name=name, source=shown, media_path=image, key=f"yolo:{stem}.txt")
        if image is None:
            item.problems.append(
                Problem(
                    "convert.media_missing",
                    shown,
                    f"no image for {shown} (looked for {_shown(root, entry.image)}.jpg, .png, ...)",
                )
            )
            yield item
            continue
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(image) as im:
                item.width, item.height = im.size
        except (OSError, UnidentifiedImageError) as exc:
            item.problems.append(Problem("media.unreadable", str(image), str(exc)))
            yield item
            continue
        item.instances = list(_lines(entry.label, shown, names, item))
        yield item


def _shown(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _image_for(entry: _Entry, conv: Conversion) -> Path | None:
    bases = [entry.image]
    if conv.media_dir is not None:
        bases.insert(0, conv.media_dir / entry.name)
    for base in bases:
        for suffix in _ALL_SUFFIXES:
            candidate = base.with_name(base.name + suffix)
            if candidate.is_file():
                return candidate
    return None


# A coordinate this far past the image's edge (1) is not a rounding: the file holds pixels.
_MAX_FRACTION = 2


def _lines(path: Path, shown: str, names: list[str], item: Item) -> Iterator[dict[str, Any]]:
    width, height = item.width, item.height
    assert width is not None and height is not None  # read from the image before the labels
    # each instance's line, for the problems found later (importer, server)
    item.places = places = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{shown}:{number}"
        try:
            values = [Decimal(f) for f in fields[1:]]
            if not all(v.is_finite() for v in values):
                raise InvalidOperation
            class_id = int(fields[0])
        except (InvalidOperation, ValueError):
            item.problems.append(
                Problem("convert.invalid", where, f"not numbers: {line.strip()!r}")
            )
            continue
        if not 0 <= class_id < len(names):
            item.problems.append(
                Problem(
                    "convert.class_unknown",
                    where,
                    f"class id {class_id} is not one of the {len(names)} classes (0 to"
                    f" {len(names) - 1})",
                )
            )
            continue
        name = names[class_id]
        # The class id rides in the external id so that an export keeps the source's numbering.
        ext = f"yolo:{item.key[5:]}:{number}:c{class_id}"
        coordinates = values[:4] if len(values) in (4, 5) else values
        if coordinates and max(coordinates) > _MAX_FRACTION:
            item.problems.append(
                Problem(
                    "convert.invalid",
                    where,
                    "YOLO coordinates are fractions of the image's width and height (0 to 1): "
                    f"{max(coordinates)} looks like pixels",
                )
            )
            continue
        if len(values) in (4, 5):
            cx, cy, bw, bh = values[:4]
            x_min, y_min, x_max, y_max = numbers.box_from_yolo(cx, cy, bw, bh, width, height)
            # A label file is what people drew; only a detector writes a confidence.
            if len(values) == 5:
                extra = {"score": float(values[4]), MACHINE_MADE: True}
            else:
                extra = {MACHINE_MADE: False}
            places.append(where)
            yield box(name, x_min, y_min, x_max, y_max, id=ext, **extra)
        elif len(values) >= 6 and len(values) % 2 == 0:
            points = [
                {
                    "x": numbers.from_unit(values[i], width),
                    "y": numbers.from_unit(values[i + 1], height),
                }
                for i in range(0, len(values), 2)
            ]
            places.append(where)
            yield {
                "type": "polygon",
                "name": name,
                "points": points,
                "id": ext,
                MACHINE_MADE: False,
            }
        else:
            item.problems.append(
                Problem(
                    "convert.invalid",
                    where,
                    f"{len(fields)} values: a box line has 5 (class cx cy w h) or 6 (with a"
                    " score), a polygon line a class and at least 3 x y pairs",
                )
            )


# -- write -----------------------------------------------------------------------------------

# An instance read from YOLO: `yolo:<label file>:<line>:c<class id>`.
_EXTERNAL = re.compile(r"yolo:(?P<file>.+):\d+:c(?P<cls>\d+)")
_SPLITS = {"train": "train", "val": "val", "valid": "val", "test": "test"}
_PENDING = "\0"  # brackets a label name whose class id is not known yet


def write(export: Any, out_dir: Path) -> Path:
    """`data.yaml`, `classes.txt`, `labels/<dir>/<stem>.txt` (and `images/<dir>/` with
    --with-media).

    Labels that came from a YOLO import keep their class ids (the `:c<N>` of the instances'
    external ids) and files keep their split directory; other labels take the free ids in the
    project's order, so a project from elsewhere is numbered 0, 1, 2, ... as its labels are.
    """
    labels_dir = out_dir / "labels"
    labels_dir.mkdir(parents=True, exist_ok=True)
    ids: dict[str, int] = {}
    owners: dict[int, str] = {}
    pending: list[Path] = []  # label files with lines whose class id is decided at the end
    waiting: dict[str, None] = {}  # the names those lines wait for, in order of appearance
    used: set[PurePosixPath] = set()
    tops: set[str] = set()
    for f in export.files():
        if f.file["media_type"] != "image":
            export.lose("type_not_in_format", len(f.instances))
            continue
        place = _place(f, used)
        tops.add(place.parts[0] if len(place.parts) > 1 else "")
        width, height = f.file["width"], f.file["height"]
        lines = []
        waits = False
        for inst in f.instances:
            name = inst.get("label_name")
            if name is None or inst["type"] not in ("box", "polygon"):
                export.lose("type_not_in_format")
                continue
            found = _EXTERNAL.fullmatch(inst.get("external_id") or "")
            if found and name not in ids and int(found["cls"]) not in owners:
                ids[name] = int(found["cls"])
                owners[ids[name]] = name
            values: tuple[Decimal, ...]
            if inst["type"] == "box":
                values = numbers.yolo_box(
                    inst["x_min"], inst["y_min"], inst["x_max"], inst["y_max"], width, height
                )
            else:
                values = tuple(
                    numbers.to_unit(p[axis], size)
                    for p in inst["points"]
                    for axis, size in (("x", width), ("y", height))
                )
            text = " ".join(numbers.text(v) for v in values)
            if inst["type"] == "box" and inst.get("score") is not None:
                text += f" {inst['score']!r}"
            if name in ids:
                lines.append(f"{ids[name]} {text}\n")
            else:
                lines.append(f"{_PENDING}{name}{_PENDING} {text}\n")
                waiting[name] = None
                waits = True
        target = labels_dir / f"{place}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(lines))
        if waits:
            pending.append(target)
        if export.media_dir is not None:
            _move_media(export.media_dir, f.media_name, place)
    project = [label["name"] for label in export.labels]
    names = _number_the_rest(ids, owners, project + [n for n in waiting if n not in project])
    for path in pending:
        text = path.read_text()
        for name, n in ids.items():
            text = text.replace(f"{_PENDING}{name}{_PENDING}", str(n))
        path.write_text(text)
    import yaml

    data: dict[str, Any] = {"path": ".", **_split_keys_for(tops), "names": dict(enumerate(names))}
    (out_dir / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (out_dir / "classes.txt").write_text("".join(f"{n}\n" for n in names))
    return out_dir


def _place(f: Any, used: set[PurePosixPath]) -> PurePosixPath:
    """Where a file's labels go, without suffix: its directory in the source (from its name, or
    from the label file its YOLO instances were read from) and its own stem."""
    media = PurePosixPath(f.media_name)
    directory = PurePosixPath(f.file.get("original_filename") or "").parent
    if directory == PurePosixPath("."):
        for inst in f.instances:
            found = _EXTERNAL.fullmatch(inst.get("external_id") or "")
            if found:
                directory = PurePosixPath(found["file"]).parent
                break
    if directory.is_absolute() or ".." in directory.parts:
        directory = PurePosixPath(".")
    # The file's own name, unless two files of one directory share it: then the export's
    # unique name (the file id in front).
    own = PurePosixPath(f.file.get("original_filename") or media.name).name
    place = directory / PurePosixPath(own).stem
    if place in used:
        place = directory / media.stem
    used.add(place)
    return place


def _move_media(media_dir: Path, media_name: str, place: PurePosixPath) -> None:
    """The export copied the media flat into `images/`; it goes beside its labels' place."""
    copied = media_dir / media_name
    target = media_dir / f"{place}{Path(media_name).suffix}"
    if copied.is_file() and copied != target:
        target.parent.mkdir(parents=True, exist_ok=True)
        copied.replace(target)


def _number_the_rest(ids: dict[str, int], owners: dict[int, str], labels: list[str]) -> list[str]:
    """Give every label without a class id the lowest free one; the class names by id."""
    free = (n for n in range(len(ids) + len(labels) + 1) if n not in owners)
    for name in labels:
        if name not in ids:
            ids[name] = next(free)
            owners[ids[name]] = name
    top = max(owners, default=-1)
    # A source class no instance used and the project has no label for keeps its place.
    return [owners.get(n, f"class_{n}") for n in range(top + 1)]


def _split_keys_for(tops: set[str]) -> dict[str, str]:
    """data.yaml's train / val / test: the split folders when every file is in one."""
    if tops and all(top in _SPLITS for top in tops):
        keys: dict[str, str] = {}
        for top in sorted(tops):
            keys.setdefault(_SPLITS[top], f"images/{top}")
        keys.setdefault("train", keys.get("val") or keys.get("test") or "images")
        keys.setdefault("val", keys["train"])
        return dict(sorted(keys.items(), key=lambda kv: ("train", "val", "test").index(kv[0])))
    return {"train": "images", "val": "images"}
