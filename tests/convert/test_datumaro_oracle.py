"""datumaro as an independent reader of the formats pycocotools and globox do not read: the same
MOT and CVAT files, read by labelport's readers and by `datumaro.Dataset.import_from`, give the
same shapes (label, coordinates to 1e-6), polygon / polyline / points vertices and, on video, the
same track per frame. Where the two differ on purpose, the difference is asserted on its own.

datumaro 1.13 has no reader of LabelMe JSON (its `label_me` is MIT LabelMe's XML) nor of Label
Studio: `test_datumaro_reads_neither_labelme_json_nor_label_studio` says so, and starts failing
the day datumaro gains one, so that an oracle can be added here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from labelport.convert import module
from labelport.convert.model import Conversion, Item
from media_factory import make_png as _make_png

datumaro = pytest.importorskip("datumaro")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FIXTURES = Path(__file__).parent / "fixtures"
TOLERANCE = 1e-6
# datumaro stores every shape coordinate as float32 rounded to 2 decimals
# (datumaro.components.annotation.COORDINATE_ROUNDING_DIGITS): the shapes compared to 1e-6 have
# coordinates that survive that (multiples of 1/4); `test_datumaro_rounds_coordinates` shows
# the rounding on coordinates that do not.

# A shape as both readers are reduced to it: (track or None, kind, label, vertices, flags).
# kind is box (vertices: (x_min, y_min), (x_max, y_max)), polygon, line, points or tag; flags
# are the attributes the comparison checks, as sorted (name, value) pairs.
Shape = tuple[int | None, str, str | None, tuple[tuple[float, float], ...], tuple]


def make_png(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return _make_png(path, width, height)


def _pairs(flat: Iterable[float]) -> tuple[tuple[float, float], ...]:
    values = [float(v) for v in flat]
    return tuple(zip(values[0::2], values[1::2], strict=True))


def _xy(points: list[dict[str, float]]) -> tuple[tuple[float, float], ...]:
    return tuple((float(p["x"]), float(p["y"])) for p in points)


def read_labelport(path: Path, fmt: str) -> tuple[list[Item], Conversion]:
    conv = Conversion()
    return list(module(fmt).read(path, conv)), conv


def _flags(inst: dict[str, Any], flags: tuple[str, ...]) -> tuple:
    # labelport keeps a flag (ignored, occluded) only where it is true; datumaro writes False on
    # every other shape: an absent flag and a false one say the same
    attributes = inst.get("_attributes") or {}
    return tuple(sorted((f, attributes[f]) for f in flags if attributes.get(f, False) is not False))


def labelport_shape(inst: dict[str, Any], flags: tuple[str, ...]) -> Shape:
    kind = inst["type"]
    if kind == "box":
        vertices = ((inst["x_min"], inst["y_min"]), (inst["x_max"], inst["y_max"]))
    elif kind in ("polygon", "line"):
        vertices = _xy(inst["points"])
    elif kind == "point":  # a CVAT points shape of one point; datumaro keeps it as Points
        kind, vertices = "points", _xy(inst["points"])
    elif kind == "keypoints":  # a CVAT points shape of several points: one instance, as Points
        kind, vertices = "points", _xy(inst["nodes"])
    elif kind == "tag":
        vertices = ()
    else:
        raise AssertionError(f"no datumaro counterpart for {kind}: {inst}")
    return (inst.get("number"), kind, inst["name"], tuple(vertices), _flags(inst, flags))


def datumaro_shape(ann: Any, names: Any, flags: tuple[str, ...], track: bool) -> Shape:
    from datumaro.components.annotation import RotatedBbox

    kinds = datumaro.AnnotationType
    if ann.type == kinds.bbox:
        x1, y1, x2, y2 = ann.points
        kind, vertices = "box", ((x1, y1), (x2, y2))
    elif isinstance(ann, RotatedBbox):
        kind, vertices = "polygon", tuple(ann.as_polygon())
    elif ann.type == kinds.polygon:
        kind, vertices = "polygon", _pairs(ann.points)
    elif ann.type == kinds.polyline:
        kind, vertices = "line", _pairs(ann.points)
    elif ann.type == kinds.points:
        kind, vertices = "points", _pairs(ann.points)
    elif ann.type == kinds.label:
        kind, vertices = "tag", ()
    else:
        raise AssertionError(f"unexpected datumaro annotation {ann}")
    label = names[ann.label].name if ann.label is not None else None
    number = ann.attributes.get("track_id") if track else None
    return (number, kind, label, vertices, _flags({"_attributes": ann.attributes}, flags))


def _matches(a: Shape, b: Shape) -> bool:
    if a[:3] != b[:3] or a[4] != b[4] or len(a[3]) != len(b[3]):
        return False
    return all(
        abs(p[0] - q[0]) <= TOLERANCE and abs(p[1] - q[1]) <= TOLERANCE
        for p, q in zip(a[3], b[3], strict=True)
    )


def assert_same_shapes(ours: dict[Any, list[Shape]], theirs: dict[Any, list[Shape]]) -> None:
    """Per media file (or frame): the same multiset of shapes, vertices in the same order."""
    assert sorted(ours, key=str) == sorted(theirs, key=str)
    for key, shapes in ours.items():
        left = list(theirs[key])
        for shape in shapes:
            found = next((s for s in left if _matches(shape, s)), None)
            assert found is not None, (key, shape, left)
            left.remove(found)
        assert not left, (key, "datumaro has more", left)


def import_datumaro(path: Path, fmt: str) -> tuple[Any, Any]:
    dataset = datumaro.Dataset.import_from(str(path), fmt)
    return dataset, dataset.categories()[datumaro.AnnotationType.label]


# --- MOT -------------------------------------------------------------------------------------

MOT_FLAGS = ("ignored", "visibility")


def mot_frames(path: Path) -> tuple[dict[int, list[Shape]], dict[int, list[Shape]]]:
    """(labelport, datumaro) shapes per 0-based frame of the one sequence under `path`."""
    [item], conv = read_labelport(path, "mot")
    assert not item.problems and not conv.problems, (item.problems, conv.problems)
    ours = {
        frame: [labelport_shape(i, MOT_FLAGS) for i in instances]
        for frame, instances in (item.frames or {}).items()
    }
    dataset, names = import_datumaro(path, "mot_seq")
    theirs: dict[int, list[Shape]] = {}
    for entry in dataset:
        shapes = [datumaro_shape(a, names, MOT_FLAGS, track=True) for a in entry.annotations]
        if shapes:  # MOT frames are 1-based, labelport's 0-based
            theirs[int(entry.id) - 1] = shapes
    return ours, theirs


def _without_tracks(frames: dict[int, list[Shape]]) -> dict[int, list[Shape]]:
    return {k: [(None, *s[1:]) for s in v] for k, v in frames.items()}


def test_mot_datumaro_layout(tmp_path: Path) -> None:
    """gt/gt.txt with gt/labels.txt, ids -1 among them (the fixture in datumaro's layout)."""
    root = tmp_path / "mot"
    shutil.copytree(FIXTURES / "mot_datumaro", root)
    ours, theirs = mot_frames(root)
    # Class names come from gt/labels.txt for both; boxes, the ignored flag (conf 0) and the
    # visibility column agree once track ids are set aside.
    assert_same_shapes(_without_tracks(ours), _without_tracks(theirs))
    assert sum(len(v) for v in ours.values()) == 5
    tracked = {(f, s[3]): s[0] for f, shapes in theirs.items() for s in shapes if s[0]}
    assert len(tracked) == 3
    for frame, shapes in ours.items():
        for shape in shapes:
            if (frame, shape[3]) in tracked:  # ids >= 1 are kept as they are
                assert shape[0] == tracked[(frame, shape[3])]
    # On purpose: id -1 (no identity) has no track_id in datumaro; labelport gives each such
    # box a one-box track of its own, numbered after the file's highest id (2), as mot.py says.
    untracked = sorted(
        s[0] for f, shapes in ours.items() for s in shapes if (f, s[3]) not in tracked
    )
    assert untracked == [3, 4]


def _mot17_sequence(root: Path, lines: list[str]) -> Path:
    seq = root / "MOT17-02"
    (seq / "gt").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text(
        "[Sequence]\nname=MOT17-02\nimDir=img1\nframeRate=30\nseqLength=4\nimWidth=1920\n"
        "imHeight=1080\nimExt=.jpg\n"
    )
    (seq / "gt" / "gt.txt").write_text("".join(line + "\n" for line in lines))
    return seq


def test_mot17_layout_without_labels_file(tmp_path: Path) -> None:
    """seqinfo.ini and gt/gt.txt only: both fall back to MOT17's twelve classes."""
    seq = _mot17_sequence(
        tmp_path,
        [
            "1,1,912,484,97,109,0,7,1",
            "1,2,1338,418,167,379,1,1,0.86",
            "2,1,912.5,484.25,97,109,0,7,1",
            "2,3,585,446,85,263,1,2,0.33",
            "3,3,586,447,85,263,1,3,0.25",
            "4,4,1.5,2.5,10.25,20.5,1,12,0",
        ],
    )
    ours, theirs = mot_frames(seq)
    # On purpose: the same MOT17 class table, named with underscores by labelport (label names
    # that survive command lines and YAML) and with spaces by datumaro.
    spaced = {
        f: [(s[0], s[1], s[2].replace(" ", "_") if s[2] else None, *s[3:]) for s in v]
        for f, v in theirs.items()
    }
    assert {s[2] for v in theirs.values() for s in v} >= {"static person", "person on vehicle"}
    assert_same_shapes(ours, spaced)  # ids start at 1: track numbers are the ids


def test_mot_zero_based_ids(tmp_path: Path) -> None:
    seq = _mot17_sequence(
        tmp_path, ["1,0,10,10,5,5,1,1,1", "2,0,11,10,5,5,1,1,1", "2,1,30,30,4,4,1,3,1"]
    )
    ours, theirs = mot_frames(seq)
    assert_same_shapes(_without_tracks(ours), _without_tracks(theirs))
    # On purpose: datumaro takes id 0 as "no identity" (only ids > 0 become track_id); labelport
    # reads 0-based ids as tracks and numbers them id + 1, so track 0 stays one track.
    assert [[s[0] for s in theirs[f]] for f in (0, 1)] == [[None], [None, 1]]
    assert [[s[0] for s in ours[f]] for f in (0, 1)] == [[1], [1, 2]]


# --- CVAT ------------------------------------------------------------------------------------

CVAT_FLAGS = ("occluded",)


def cvat_images(root: Path) -> tuple[dict[str, list[Shape]], dict[str, list[Shape]], list]:
    """(labelport, datumaro) shapes per image name of the CVAT images export in `root`
    (media under images/, where datumaro looks), and labelport's problems."""
    items, conv = read_labelport(root, "cvat")
    ours = {i.name: [labelport_shape(x, CVAT_FLAGS) for x in i.instances or ()] for i in items}
    problems = [p for i in items for p in i.problems] + conv.problems
    dataset, names = import_datumaro(root, "cvat")
    theirs: dict[str, list[Shape]] = {}
    for entry in dataset:
        name = Path(entry.media.path).relative_to(root / "images").as_posix()
        shapes = [datumaro_shape(a, names, CVAT_FLAGS, track=False) for a in entry.annotations]
        theirs[name] = shapes
    return ours, theirs, problems


def test_cvat_images_every_shape_kind(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        make_png(tmp_path / "images" / name, 64, 48)
    (tmp_path / "annotations.xml").write_text("""<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><task><id>1</id><name>kinds</name><size>2</size>
<mode>annotation</mode><labels><label><name>car</name><attributes/></label>
<label><name>person</name><attributes/></label><label><name>sunny</name><attributes/></label>
</labels></task></meta>
<image id="0" name="a.png" width="64" height="48">
  <box label="car" source="manual" occluded="1" xtl="2.25" ytl="3.5" xbr="20.75" ybr="17.5"
       z_order="0"/>
  <box label="car" source="manual" occluded="0" xtl="10" ytl="10" xbr="30" ybr="20" rotation="30"
       z_order="0"/>
  <polygon label="person" source="manual" occluded="0" points="1.5,1;30,1.25;15,20.75"
           z_order="0"/>
  <polyline label="person" source="manual" occluded="0" points="5,5;10,6;15,4.5" z_order="0"/>
  <points label="person" source="manual" occluded="0" points="40,40" z_order="0"/>
  <points label="person" source="auto" occluded="0" points="10,10;12.5,14;15,10" z_order="0"/>
  <tag label="sunny" source="manual"/>
</image>
<image id="1" name="b.png" width="64" height="48">
  <box label="car" source="manual" occluded="0" xtl="0" ytl="0" xbr="64" ybr="48" z_order="0"/>
</image></annotations>""")
    ours, theirs, problems = cvat_images(tmp_path)
    assert not problems
    # a rotated box is a polygon of its corners in labelport (loss `rotation`) and a RotatedBbox
    # in datumaro: its as_polygon() corners are the same points, in the same order
    assert_same_shapes(ours, theirs)
    assert sorted(len(v) for v in ours.values()) == [1, 7]


def test_cvat_images_export_fixture(tmp_path: Path) -> None:
    """tests/convert/fixtures/cvat_images_sources: shapes of every `source`, and a label=""."""
    shutil.copy(FIXTURES / "cvat_images_sources" / "annotations.xml", tmp_path)
    for name in ("a.png", "b.png"):
        make_png(tmp_path / "images" / name, 64, 48)
    ours, theirs, problems = cvat_images(tmp_path)
    # On purpose: a shape with label="" (its label was deleted in CVAT) is a box without a label
    # in datumaro and a problem, not an instance, in labelport (issue 12, kind 4).
    [empty] = [s for s in theirs["b.png"] if s[2] is None]
    assert empty[3] == ((1.0, 1.0), (5.0, 5.0))
    assert [p.path for p in problems] == ["annotations.xml:image/1/box/0"]
    theirs["b.png"].remove(empty)
    assert_same_shapes(ours, theirs)


def test_cvat_project_export_fixture(tmp_path: Path) -> None:
    """tests/convert/fixtures/cvat_project: subsets Train and Validation repeat a name; media
    under images/<subset>/. Both readers keep one file per (subset, name)."""
    shutil.copy(FIXTURES / "cvat_project" / "annotations.xml", tmp_path)
    make_png(tmp_path / "images" / "Train" / "frame_01.png", 64, 48)
    make_png(tmp_path / "images" / "Train" / "frame_02.png", 64, 48)
    make_png(tmp_path / "images" / "Validation" / "frame_01.png", 80, 60)
    ours, theirs, problems = cvat_images(tmp_path)
    assert not problems
    assert sorted(ours) == [
        "Train/frame_01.png",
        "Train/frame_02.png",
        "Validation/frame_01.png",
    ]
    assert_same_shapes(ours, theirs)


def cvat_video(path: Path) -> tuple[dict[int, list[Shape]], dict[int, list[Shape]], set]:
    """(labelport, datumaro) shapes per frame of a CVAT for video file, and datumaro's
    (track id, frame) of `outside` shapes."""
    [item], conv = read_labelport(path, "cvat")
    assert item.media_type == "video"
    assert not item.problems and not conv.problems
    ours = {
        frame: [labelport_shape(i, CVAT_FLAGS) for i in instances]
        for frame, instances in (item.frames or {}).items()
    }
    dataset, names = import_datumaro(path.parent, "cvat")
    theirs: dict[int, list[Shape]] = {}
    outside = set()
    for entry in dataset:
        frame = entry.attributes["frame"]
        for ann in entry.annotations:
            if ann.attributes["outside"]:
                outside.add((ann.attributes["track_id"], frame))
                continue
            theirs.setdefault(frame, []).append(datumaro_shape(ann, names, CVAT_FLAGS, True))
    return ours, theirs, outside


def _renumbered(frames: dict[int, list[Shape]], offset: int) -> dict[int, list[Shape]]:
    return {k: [(s[0] + offset, *s[1:]) for s in v] for k, v in frames.items()}


def test_cvat_video_tracks(tmp_path: Path) -> None:
    (tmp_path / "clip.xml").write_text("""<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><task><id>4</id><name>clip</name><size>5</size>
<mode>interpolation</mode><labels><label><name>car</name><attributes/></label>
<label><name>person</name><attributes/></label><label><name>hand</name><attributes/></label>
</labels><original_size><width>64</width><height>48</height></original_size></task>
<source>clip.mp4</source></meta>
<track id="0" label="car" source="manual">
  <box frame="0" keyframe="1" outside="0" occluded="0" xtl="1" ytl="1" xbr="9" ybr="9"
       z_order="0"/>
  <box frame="1" keyframe="0" outside="0" occluded="0" xtl="2.5" ytl="1.25" xbr="10.5"
       ybr="9.25" z_order="0"/>
  <box frame="2" keyframe="1" outside="1" occluded="0" xtl="2.5" ytl="1.25" xbr="10.5"
       ybr="9.25" z_order="0"/>
</track>
<track id="1" label="person" source="auto">
  <polygon frame="1" keyframe="1" outside="0" occluded="0" points="1,1;9,1;5,7" z_order="0"/>
  <polygon frame="2" keyframe="1" outside="0" occluded="1" points="2,1;10,1;6,7.5" z_order="0"/>
</track>
<track id="2" label="car" source="manual">
  <box frame="3" keyframe="1" outside="0" occluded="0" xtl="20" ytl="20" xbr="40" ybr="30"
       rotation="45" z_order="0"/>
  <box frame="4" keyframe="1" outside="1" occluded="0" xtl="20" ytl="20" xbr="40" ybr="30"
       rotation="45" z_order="0"/>
</track>
<track id="5" label="person" source="manual">
  <polyline frame="0" keyframe="1" outside="0" occluded="0" points="5,5;10,6;15,4.5"
            z_order="0"/>
</track>
<track id="6" label="hand" source="manual">
  <points frame="4" keyframe="1" outside="0" occluded="0" points="10,10;14,12;18,10"
          z_order="0"/>
</track></annotations>""")
    ours, theirs, outside = cvat_video(tmp_path / "clip.xml")
    # On purpose: labelport numbers tracks id + 1 when the file's ids start at 0 (mot.py and
    # cvat.py say why: a sequence number 0 is not one); datumaro keeps CVAT's ids.
    assert_same_shapes(_renumbered(ours, -1), theirs)
    # On purpose: datumaro keeps `outside` shapes (flagged); labelport leaves those frames out,
    # so a track ends there. The non-keyframe (interpolated) frame 1 is in both.
    assert outside == {(0, 2), (2, 4)}
    assert all(s[0] - 1 != t for (t, f) in outside for s in ours.get(f, ()))
    assert {f: sorted(s[0] for s in v) for f, v in ours.items()} == {
        0: [1, 6],
        1: [1, 2],
        2: [2],
        3: [3],
        4: [7],
    }


def test_cvat_video_points_fixture(tmp_path: Path) -> None:
    """tests/convert/fixtures/cvat_video_points: a points track (several points a frame) ending
    with an outside shape, and a box track."""
    shutil.copy(FIXTURES / "cvat_video_points" / "annotations.xml", tmp_path)
    ours, theirs, outside = cvat_video(tmp_path / "annotations.xml")
    assert_same_shapes(_renumbered(ours, -1), theirs)
    assert outside == {(0, 2)}
    assert sorted(ours) == [0, 1]


def test_cvat_ellipse_is_read_by_labelport_only(tmp_path: Path) -> None:
    make_png(tmp_path / "images" / "a.png", 64, 48)
    (tmp_path / "annotations.xml").write_text("""<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><task><id>1</id><name>e</name><mode>annotation</mode>
<labels><label><name>ball</name><attributes/></label></labels></task></meta>
<image id="0" name="a.png" width="64" height="48">
  <ellipse label="ball" source="manual" occluded="0" cx="20" cy="15" rx="6" ry="4" z_order="0"/>
  <box label="ball" source="manual" occluded="0" xtl="1" ytl="2" xbr="3" ybr="4" z_order="0"/>
</image></annotations>""")
    [item], _conv = read_labelport(tmp_path, "cvat")
    dataset, _names = import_datumaro(tmp_path, "cvat")
    [entry] = list(dataset)
    # On purpose: datumaro's CVAT importer has no ellipse (it skips the element); labelport
    # reads it as an ellipse. The box beside it is read alike.
    assert [a.type.name for a in entry.annotations] == ["bbox"]
    assert [i["type"] for i in item.instances or ()] == ["ellipse", "box"]
    ellipse = (item.instances or [])[0]
    assert [ellipse[k] for k in ("center_x", "center_y", "width", "height")] == [20, 15, 6, 4]


# --- rounding ------------------------------------------------------------------------------


def _datumaro_rounded(value: float) -> float:
    import numpy as np

    return np.array([value], dtype=np.float32).round(2).tolist()[0]


def test_datumaro_rounds_coordinates(tmp_path: Path) -> None:
    """On purpose: labelport keeps a source's coordinates as written (a box's far corner is
    left + width in float64); datumaro rounds them to 2 decimals in float32."""
    seq = _mot17_sequence(tmp_path / "mot", ["1,1,1.5,2.5,10.125,20.0625,1,1,1"])
    [[ours]], [[theirs]] = (list(f.values()) for f in mot_frames(seq))
    assert ours[3] == ((1.5, 2.5), (11.625, 22.5625))
    assert theirs[3] == ((1.5, 2.5), (_datumaro_rounded(11.625), _datumaro_rounded(22.5625)))
    assert abs(theirs[3][1][0] - 11.625) > TOLERANCE

    root = tmp_path / "cvat"
    make_png(root / "images" / "a.png", 64, 48)
    (root / "annotations.xml").write_text("""<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><task><id>1</id><name>r</name><mode>annotation</mode>
<labels><label><name>car</name><attributes/></label></labels></task></meta>
<image id="0" name="a.png" width="64" height="48">
  <polygon label="car" source="manual" occluded="0" points="1.125,2.0625;30.3333,1;15,20"
           z_order="0"/>
</image></annotations>""")
    got, seen, _problems = cvat_images(root)
    assert got["a.png"][0][3] == ((1.125, 2.0625), (30.3333, 1.0), (15.0, 20.0))
    assert seen["a.png"][0][3] == tuple(
        (_datumaro_rounded(x), _datumaro_rounded(y)) for x, y in got["a.png"][0][3]
    )
    assert abs(seen["a.png"][0][3][1][0] - 30.3333) > TOLERANCE


# --- not covered ---------------------------------------------------------------------------


def test_datumaro_reads_neither_labelme_json_nor_label_studio() -> None:
    from datumaro.components.environment import Environment

    env = Environment()
    assert not [n for n in env.importers if "studio" in n or n == "labelme"]
    # `label_me` is MIT LabelMe's XML layout: it finds nothing in a folder of LabelMe JSON
    for fixture in ("labelme_embedded", "labelme_self_path", "labelstudio_export"):
        assert env.detect_dataset(str(FIXTURES / fixture)) == []
