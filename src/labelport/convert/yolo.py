"""YOLO text labels: `labels/<stem>.txt` beside `images/<stem>.<ext>`, one object per line,
`class cx cy w h [score]` (normalised box centres) or `class x1 y1 x2 y2 x3 y3 ...` (YOLO
segmentation polygons). Class names from `data.yaml` (`names`), `classes.txt` or `obj.names`.

Normalised numbers are turned into pixels with exact decimal arithmetic (see `numbers`), which
needs each image's size: it is read from the image header.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from labelport.convert import numbers
from labelport.convert.model import Conversion, Item, box
from labelport.format import Problem

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
_NAME_FILES = ("data.yaml", "data.yml", "dataset.yaml", "classes.txt", "obj.names")


def detect(path: Path) -> bool:
    if path.is_file():
        return path.name in _NAME_FILES and path.suffix in (".yaml", ".yml")
    return path.is_dir() and (path / "labels").is_dir()


def class_names(root: Path, conv: Conversion) -> list[str] | None:
    for name in _NAME_FILES:
        path = root / name
        if not path.is_file():
            continue
        if path.suffix in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError) as exc:
                conv.problem("convert.unreadable", path.name, f"not valid YAML: {exc}")
                return None
            names = data.get("names") if isinstance(data, dict) else None
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names)]
            if isinstance(names, list):
                return [str(n) for n in names]
            conv.problem("convert.invalid", f"{path.name}:names", "`names` must be a list or map")
            return None
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    conv.problem(
        "convert.invalid",
        str(root),
        "no class names: expected data.yaml (names), classes.txt or obj.names",
    )
    return None


def read(path: Path, conv: Conversion) -> Iterator[Item]:
    root = path.parent if path.is_file() else path
    names = class_names(root, conv)
    if names is None:
        return
    conv.labels.extend(n for n in names if n not in conv.labels)
    labels_dir = root / "labels"
    label_files = sorted(labels_dir.rglob("*.txt"))
    conv.total_files = (conv.total_files or 0) + len(label_files)
    for label_file in label_files:
        rel = label_file.relative_to(labels_dir)
        shown = f"labels/{rel.as_posix()}"
        image = _image_for(root, rel, conv)
        name = image.relative_to(root / "images").as_posix() if image else rel.stem
        item = Item(name=name, source=shown, media_path=image, key=f"yolo:{rel.as_posix()}")
        if image is None:
            item.problems.append(
                Problem(
                    "convert.media_missing",
                    shown,
                    f"no image for {shown} under images/ (looked for {rel.stem}.jpg, .png, ...)",
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
        item.instances = list(_lines(label_file, shown, names, item))
        yield item


def _image_for(root: Path, rel: Path, conv: Conversion) -> Path | None:
    for base in (conv.media_dir, root / "images"):
        if base is None:
            continue
        for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
            candidate = base / rel.with_suffix(suffix)
            if candidate.is_file():
                return candidate
    return None


def _lines(path: Path, shown: str, names: list[str], item: Item) -> Iterator[dict[str, Any]]:
    width, height = item.width, item.height
    for number, line in enumerate(path.read_text().splitlines(), start=1):
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
        ext = f"yolo:{item.key[5:]}:{number}"
        if len(values) in (4, 5):
            x_min, y_min, x_max, y_max = numbers.box_from_yolo(*values[:4], width, height)
            extra = {"score": float(values[4])} if len(values) == 5 else {}
            yield box(name, x_min, y_min, x_max, y_max, id=ext, **extra)
        elif len(values) >= 6 and len(values) % 2 == 0:
            points = [
                {
                    "x": numbers.from_unit(values[i], width),
                    "y": numbers.from_unit(values[i + 1], height),
                }
                for i in range(0, len(values), 2)
            ]
            yield {"type": "polygon", "name": name, "points": points, "id": ext}
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


def write(export: Any, out_dir: Path) -> Path:
    """`data.yaml`, `classes.txt`, `labels/<stem>.txt` (and `images/` with --with-media)."""
    labels_dir = out_dir / "labels"
    labels_dir.mkdir(parents=True, exist_ok=True)
    names = [label["name"] for label in export.labels]
    ids = {name: n for n, name in enumerate(names)}
    for f in export.files():
        if f.file["media_type"] != "image":
            export.lose("type_not_in_format", len(f.instances))
            continue
        width, height = f.file["width"], f.file["height"]
        lines = []
        for inst in f.instances:
            class_id = ids.get(inst.get("label_name"))
            if class_id is None or inst["type"] not in ("box", "polygon"):
                export.lose("type_not_in_format")
                continue
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
            lines.append(f"{class_id} {text}\n")
        stem = Path(f.media_name).with_suffix(".txt")
        (labels_dir / stem).write_text("".join(lines))
    import yaml

    data = {"path": ".", "train": "images", "val": "images", "names": dict(enumerate(names))}
    (out_dir / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (out_dir / "classes.txt").write_text("".join(f"{n}\n" for n in names))
    return out_dir
