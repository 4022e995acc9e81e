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
    when it has `writes`. The module is imported when first used (a CLI start loads none of
    them). `reads`, `writes` and `notes` are its row of the formats table in docs/convert.md
    (Markdown; tools/doc_tables.py writes the table from them)."""

    name: str
    title: str  # as its users write it, for help texts and the README's list of formats
    # where `export --with-media` puts the media, beside what the writer writes: where the
    # reader looks for them
    media_folder: str
    reads: str  # the layouts its reader takes
    writes: str | None  # the files its writer writes; None: it has no writer
    notes: str  # what goes where, what is lost (counted) and what is a problem

    @property
    def writable(self) -> bool:
        return self.writes is not None

    @property
    def module(self) -> ModuleType:
        return import_module(f"labelport.convert.{self.name}")


# The one table of formats. Detection order matters: the most specific signatures first.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "diffgram",
            "Diffgram",
            media_folder="media",
            reads="Diffgram export JSON",
            writes="`export.json`",
            notes=(
                "every instance type; sequences with keyframes; attribute values named through "
                "`attribute_groups_reference`"
            ),
        ),
        Format(
            "coco",
            "COCO",
            media_folder="images",
            reads=(
                "JSON file or folder of them (an export's root: its `annotations/`): COCO's / "
                "datumaro's "
                "`annotations/<task>_<subset>.json` (`instances`, `person_keypoints`, `stuff`, "
                "`captions`, `image_info`, `labels`, `panoptic`), media in `images/<subset>/`, "
                "`<subset>/` or beside; results files (a JSON list of detections with `score`)"
            ),
            writes="`annotations.json`",
            notes=(
                "bbox -> box, polygons -> polygon (one per part; a part of an odd count of numbers "
                "is `convert.invalid`, one of fewer than 3 points is counted, "
                "`polygon_too_few_points`), keypoints -> keypoints (v=1 "
                "occluded, v=0 counted), RLE -> counted (its bbox kept), `iscrowd` counted, "
                "`score`, `attributes` (CVAT's COCO) -> attributes. Category ids are looked up (0 "
                "is an id like any). An image id given to two images of a file is "
                "`convert.invalid` at each (`images[id=1] (a.jpg)/id`): whose its annotations "
                "are cannot be told, so none is imported. A folder is read as a whole: the "
                "files of one subset are merged image by image (one item per image; a "
                "`person_keypoints` annotation with the id of an `instances` one on the same "
                "image is the same object and adds its "
                "keypoints; category ids are per file); captions are counted (`caption`, with or "
                "without datumaro's category 0); stuff masks are RLE (counted, bbox kept); a "
                "panoptic file (PNG segment maps) is skipped whole and counted (`panoptic_file`), "
                "never a problem: the summary says `not imported: <file>: COCO panoptic "
                "segmentation is not supported` (`source_files_skipped` in `--json`); `image_info` "
                "images are imported without instances; the same file name in two subsets is two "
                "files (key `coco:<subset>/<name>`). A results file names images by id only: it "
                "joins the subset whose image ids it names (a results file without its ground "
                "truth beside it is one `convert.image_unknown` problem); its detections are "
                "machine made (`coco:result:<file>:<n>` ids). Annotations of the other files are "
                "human unless they carry a `score`."
            ),
        ),
        Format(
            "labelstudio",
            "Label Studio",
            media_folder="images",
            reads="JSON export (list of tasks)",
            writes="`tasks.json`, media in `images/` (`/data/local-files/?d=images/NAME`)",
            notes=(
                "percents -> pixels, passed through as they are (a box at 100.43 % is clamped with "
                "a `shape.clamped` warning by the media checks, not by the converter); rectangles, "
                "polygons, keypoints, ellipses, video rectangles (a keyframe with `enabled: false` "
                "keeps its frame and ends the track after it); per-region choices/text -> "
                "attributes; file choices -> tags; `annotations` are human, `predictions` machine "
                "made with `model_version` -> `model_ref` and each region's `score` (else the "
                "prediction's); brushes counted. Writer: human instances in one annotation, "
                "machine-made ones in one prediction per `model_ref` (its score the mean of its "
                "regions'); percents are chosen so the reader gives each float back exactly, and "
                "where no percent does, the pixels go beside them in `value.labelport_px` (used "
                "only while they agree with the percents); video boxes only (other video types "
                "counted as `type_not_in_format`)."
            ),
        ),
        Format(
            "cvat",
            "CVAT",
            media_folder="images",
            reads=(
                "CVAT XML 1.1 (images and video); a task export (`annotations.xml` + `images/`) or "
                "a project export (`<meta><project>`, images with `subset=`, media in "
                "`images/<subset>/`: one file per (subset, name))"
            ),
            writes=(
                "`annotations.xml` (images) + `<video>.xml` per video (tracks), media in `images/`"
            ),
            notes=(
                "box (rotated -> polygon, counted), polygon, polyline -> line, `points` -> one "
                "point, or one `keypoints` instance (nodes 0..n-1) when it has several, ellipse, "
                'cuboid, tag; mask/skeleton counted; `label=""` is `convert.invalid` at its shape. '
                "Tracks -> sequences (`number` = id + 1 when ids start at 0), `outside` frames "
                "left out, interpolated frames imported and counted. `source` manual, file or "
                "absent -> `machine_made: false`; `auto` / `semi-auto` -> true. `<meta>` "
                "attributes -> groups of their kind. Writer: track ids are the sequence numbers "
                "when these are unique across labels (read back as they are), else 0..n-1 (CVAT's "
                "ids are unique across labels; read back as 1..n); every stored frame is a "
                "keyframe and an `outside` shape follows each run that stops before the video's "
                "end; scores and model refs counted as `prediction_details`; keypoints with edges, "
                "names or occluded nodes are written as points and counted as "
                "`type_not_in_format`."
            ),
        ),
        Format(
            "voc",
            "VOC",
            media_folder="JPEGImages",
            reads="`Annotations/*.xml` (+ `JPEGImages/`)",
            writes="same",
            notes=(
                "`bndbox`; `difficult`/`truncated`/`occluded` (when 1), `pose`, CVAT "
                "`<attributes>`; labelport's `<polygon>` extension. VOC2012's person layout: each "
                "`<part>` (head, hand, foot) is a box with its own label plus a `relation` from "
                "the part to its object (`voc:<file>:<n>:part/<k>`, `...:of`); `<actions>` flags "
                "are attributes named by the action (`true`/`false`, every flag the file gives). "
                "Human-made (`machine_made: false`). No 1-pixel shift. Export writes objects only "
                "(parts are boxes of their own; relations are counted as `type_not_in_format`)."
            ),
        ),
        Format(
            "labelme",
            "LabelMe",
            media_folder="media",
            reads="JSON file or folder",
            writes=None,
            notes=(
                "rectangle, polygon, line/linestrip, point, circle -> ellipse; shape flags, "
                "`group_id`, `description` -> attributes; true image flags -> tags; masks counted. "
                "Human-made. Media: the embedded `imageData` (base64) when present, as LabelMe "
                "uses it (decoded into a temporary folder removed when the import ends; named by "
                "`imagePath`'s file name, else the JSON's stem and the image's type; bad base64 is "
                "`convert.invalid` at `imageData`); else `imagePath` beside the JSON or in "
                "`--media`. An `imagePath` naming the JSON itself (or any `.json`) is never the "
                "media: an image with the JSON's stem beside it is used."
            ),
        ),
        Format(
            "mot",
            "MOT",
            media_folder="media",
            reads=(
                "`gt.txt` / `det.txt` / a sequence folder (`seqinfo.ini`, `gt/gt.txt`, datumaro's "
                "`gt/labels.txt`)"
            ),
            writes=None,
            notes=(
                "1-based frames -> 0-based; track id -> `number`; track id -1 (no identity, as "
                "detections and datumaro write it) is a box of its own: a one-box track numbered "
                "after the file's highest id (every video instance is on a track in labelport). "
                "Class names from `labels.txt` in `gt/`, the sequence folder or its parent (line n "
                "is class n); MOT17's classes only when no labels file exists, and a class beyond "
                "the file's names is `convert.class_unknown`, never a MOT17 name. Class -1 / 0 -> "
                '`object`. Visibility and the "consider" flag as attributes; detection confidence '
                "-> score. `gt.txt` is human-made, `det.txt` machine made. Lines are "
                "comma-separated: a space-separated file is one `convert.invalid` problem that "
                "names the separator and counts the lines. The video is `<sequence>.mp4` (MOT "
                "ships frames as images: `ffmpeg -i img1/%06d.jpg NAME.mp4`)."
            ),
        ),
        Format(
            "yolo",
            "YOLO",
            media_folder="images",
            reads=(
                "`labels/<split>/` beside `images/<split>/` (+ `data.yaml` / `classes.txt` / "
                "`obj.names`); Ultralytics/Roboflow `data.yaml` whose `train`/`val`/`test` name "
                "image folders (`images/train`, `train/images`, `../valid/images`) or image lists "
                "(`train.txt`), labels where `images` becomes `labels`, `names` a list or a 0..n-1 "
                'map; Darknet / CVAT "YOLO 1.1": `obj.data`, `obj.names`, `obj_<split>_data/*.txt` '
                "next to the images (and `train.txt`/`valid.txt` lists, `data/` prefix tolerated)"
            ),
            writes="`labels/<split>/`, `data.yaml`, `classes.txt`",
            notes=(
                "`class cx cy w h [score]` and segmentation polygons; sizes from the image header. "
                "Coordinates are fractions of the image (0 to 1): a line with one past 2 is "
                "`convert.invalid` (it holds pixels). Problems name the file and line "
                "(`labels/a.txt:2 > x_max`). "
                "The split stays the file's directory: `images/train/1.jpg`, `train/images/1.jpg` "
                "and `obj_train_data/1.jpg` are all `train/1.jpg`. Label files are ground truth "
                "(`machine_made: false`); a 6th column is a confidence: a prediction with that "
                "score. A folder where no label file is found is a `convert.invalid` problem (exit "
                "1), naming the `data.yaml` splits that are not there. Export: labels read from "
                "YOLO keep their class ids (external ids `yolo:train/1.txt:3:c<id>`) and names (an "
                "id no instance used and no label names is written `class_<id>`); other labels "
                "take the free ids in project order; files keep their split directory "
                "(`labels/train/1.txt`, `images/train/1.jpg` with `--with-media`, `data.yaml` "
                "`train: images/train`), read from the file's name or its YOLO instances (a file "
                "without instances is written at the top level)."
            ),
        ),
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
