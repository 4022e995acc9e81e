"""Converters between labelport and the formats people have annotations in.

One module per format, each with `detect(path) -> bool`, `read(path, conv) -> Iterator[Item]`
(streamed, media file by media file) and, where the format can hold it,
`write(export, out_dir)`. `importer.run` sends what a reader yields to a project.
`FORMATS` is the table of them; the CLI, its messages and the tests read the names from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import ModuleType

from labelport.convert.model import LOSS_KINDS, AttributeSpec, Conversion, Item


@dataclass(frozen=True)
class Format:
    """One format: its module `labelport.convert.<name>` has `detect` and `read`, and `write`
    when `writable`. The module is imported when first used (a CLI start loads none of them)."""

    name: str
    title: str  # as its users write it, for help texts
    writable: bool
    # where `export --with-media` puts the media, beside what the writer writes: where the
    # reader looks for them
    media_folder: str

    @property
    def module(self) -> ModuleType:
        return import_module(f"labelport.convert.{self.name}")


# The one table of formats. Detection order matters: the most specific signatures first.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("diffgram", "Diffgram", writable=True, media_folder="media"),
        Format("coco", "COCO", writable=True, media_folder="images"),
        Format("labelstudio", "Label Studio", writable=True, media_folder="images"),
        Format("cvat", "CVAT", writable=True, media_folder="images"),
        Format("voc", "VOC", writable=True, media_folder="JPEGImages"),
        Format("labelme", "LabelMe", writable=False, media_folder="media"),
        Format("mot", "MOT", writable=False, media_folder="media"),
        Format("yolo", "YOLO", writable=True, media_folder="images"),
    )
}
WRITABLE: tuple[str, ...] = tuple(name for name, f in FORMATS.items() if f.writable)


def media_folder(name: str) -> str:
    return FORMATS[name].media_folder


def module(name: str) -> ModuleType:
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}: one of {', '.join(FORMATS)}")
    return FORMATS[name].module


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
    "Format",
    "Item",
    "detect_format",
    "media_folder",
    "module",
]
