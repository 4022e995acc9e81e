"""Converters between labelport and the formats people have annotations in.

One module per format, each with `detect(path) -> bool`, `read(path, conv) -> Iterator[Item]`
(streamed, media file by media file) and, where the format can hold it,
`write(export, out_dir)`. `importer.run` sends what a reader yields to a project.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from types import ModuleType

from labelport.convert.model import LOSS_KINDS, AttributeSpec, Conversion, Item

# Detection order matters: the most specific signatures first.
FORMATS: tuple[str, ...] = (
    "diffgram", "coco", "labelstudio", "cvat", "voc", "labelme", "mot", "yolo",
)  # fmt: skip
WRITABLE: tuple[str, ...] = ("diffgram", "coco", "yolo", "voc", "cvat", "labelstudio")
# Where `export --with-media` puts the media, beside what the writer writes: a writer may name
# its own with a module-level MEDIA_FOLDER; else this table, else "media".
_MEDIA_FOLDERS = {"coco": "images", "yolo": "images", "voc": "JPEGImages"}


def media_folder(name: str) -> str:
    return getattr(module(name), "MEDIA_FOLDER", None) or _MEDIA_FOLDERS.get(name, "media")


def module(name: str) -> ModuleType:
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}: one of {', '.join(FORMATS)}")
    return import_module(f"labelport.convert.{name}")


def detect_format(path: Path) -> str | None:
    for name in FORMATS:
        try:
            if module(name).detect(path):
                return name
        except OSError:
            continue
    return None


__all__ = [
    "FORMATS",
    "LOSS_KINDS",
    "WRITABLE",
    "AttributeSpec",
    "Conversion",
    "Item",
    "detect_format",
    "media_folder",
    "module",
]
