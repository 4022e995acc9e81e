"""Evaluations read from the database (SQLite and PostgreSQL): the same figures as COCOeval on the
same boxes, per-file counts, a run as the reference, staleness after a later import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from coco_data import generate, to_coco
from eval_helpers import box, build, coco_rows
from test_coco_differential import cocoeval

from labelport.errors import Invalid, NotFound
from labelport.evaluate.run import Params, evaluate_and_store, find_run, public
from labelport.service import Service
from labelport.store.evaluations import EvaluationStore

IMAGES, LABELS = 16, 4


@pytest.fixture
def service(database, tmp_path: Path) -> Iterator[Service]:
    media = tmp_path / "media"
    media.mkdir()
    svc = Service.open(
        data_dir=tmp_path / "data", database_url=database.url, media_roots=[media], workers=2
    )
    svc.media_dir = media  # type: ignore[attr-defined]
    try:
        yield svc
    finally:
        svc.close()


def _data(seed: int):
    gts, dts = generate(seed, IMAGES, LABELS)
    gts = [g for g in gts if not g["crowd"]]  # the format has no crowd flag
    return gts, dts


def test_figures_from_the_database_equal_cocoeval(service: Service) -> None:
    gts, dts = _data(3)
    built = build(service, service.media_dir, IMAGES, gts, {"r1": dts}, LABELS)
    ev = evaluate_and_store(service.store, built.project_id, built.run_ids["r1"],
                            params=Params(scope="project"))  # fmt: skip
    cg, cd = coco_rows(gts, dts)
    ref = cocoeval(*to_coco(cg, cd, IMAGES, LABELS), 100)
    p = ref.eval["precision"][:, :, :, 0, 0]
    r = ref.eval["recall"][:, :, 0, 0]
    out = public(service.store, ev)
    assert abs(out["overall"]["ap"] - p[p > -1].mean()) < 1e-6
    assert abs(out["overall"]["ap50"] - p[0][p[0] > -1].mean()) < 1e-6
    by_name = {row["label_name"]: row for row in out["labels"]}
    for k in range(LABELS + 1):
        pk = p[:, :, k]
        row = by_name[f"l{k}"]
        if (pk > -1).any():
            assert abs(row["ap"] - pk.mean()) < 1e-6
            # recall at 0.5 is the recall of the P/R/F1 counts at iou 0.5, score_min 0
            assert abs(row["recall"] - r[0, k]) < 1e-6
        else:
            assert row["ap"] is None and row["references"] == 0
    # per file: every reference is found or missed, every prediction right or wrong
    es = EvaluationStore(service.store)
    queue, total = es.review_queue(ev.id, limit=1000)
    assert total == ev.file_count
    assert sum(f.tp + f.fn for f in queue) == len(gts)
    assert sum(f.tp + f.fp for f in queue) == len(dts)
    errors = [f.errors for f in queue]
    assert errors == sorted(errors, reverse=True)
    assert out["stale"] is False and ev.imports_seen >= 1


def test_scope_run_covers_only_the_files_the_run_predicted_on(service: Service) -> None:
    gts, dts = _data(4)
    dts = [d for d in dts if d["image"] != 2]
    assert any(g["image"] == 2 for g in gts)
    built = build(service, service.media_dir, IMAGES, gts, {"r1": dts}, LABELS)
    es = EvaluationStore(service.store)
    ev = evaluate_and_store(service.store, built.project_id, built.run_ids["r1"])
    queue, _ = es.review_queue(ev.id, limit=1000)
    assert built.files[2] not in {f.file_id for f in queue}
    wide = evaluate_and_store(service.store, built.project_id, built.run_ids["r1"],
                              params=Params(scope="project"))  # fmt: skip
    queue, _ = es.review_queue(wide.id, limit=1000)
    assert built.files[2] in {f.file_id for f in queue}


def test_another_run_as_the_reference_and_run_lookup(service: Service) -> None:
    gts, dts = _data(5)
    built = build(service, service.media_dir, IMAGES, gts, {"r1": dts, "r2": dts}, LABELS)
    pid, r1, r2 = built.project_id, built.run_ids["r1"], built.run_ids["r2"]
    assert find_run(service.store, pid, "r1") == r1
    assert find_run(service.store, pid, "det/r2") == r2
    assert find_run(service.store, pid, str(r2)) == r2
    with pytest.raises(NotFound):
        find_run(service.store, pid, "nope")
    ev = evaluate_and_store(service.store, pid, r1, reference_run_id=r2)
    out = public(service.store, ev)
    # the same boxes on both sides: everything kept under maxDets is found
    assert out["overall"]["fp"] == 0 and out["overall"]["fn"] == 0
    assert out["reference"] == "run" and out["reference_run_id"] == r2
    with pytest.raises(Invalid):
        evaluate_and_store(service.store, pid, r1, reference_run_id=r1)
    with pytest.raises(Invalid):
        evaluate_and_store(service.store, pid, r1, params=Params(iou=1.5))


def test_a_later_import_into_its_files_makes_it_stale(service: Service) -> None:
    gts, dts = _data(6)
    dts = [d for d in dts if d["image"] != 3]
    built = build(service, service.media_dir, IMAGES, gts, {"r1": dts}, LABELS)
    pid = built.project_id
    es = EvaluationStore(service.store)
    ev = evaluate_and_store(service.store, pid, built.run_ids["r1"])
    assert not es.evaluation_is_stale(ev)
    # an import into a file it did not cover (no prediction there): still fresh
    extra = {"type": "box", "name": "l1", "x_min": 1, "y_min": 1, "x_max": 50, "y_max": 50,
             "machine_made": False}  # fmt: skip
    done = service.wait_import(
        pid,
        service.submit_packet(
            pid, {"file_id": built.files[3], "mode": "update", "instance_list": [extra]}
        )["id"],
    )
    assert done["status"] == "success", done
    assert not es.evaluation_is_stale(ev)
    # one into a file it covered: stale, and recomputing sees the new reference
    file_id = next(f for i, f in built.files.items() if any(d["image"] == i for d in dts))
    done = service.wait_import(
        pid,
        service.submit_packet(
            pid, {"file_id": file_id, "mode": "update", "instance_list": [extra]}
        )["id"],
    )
    assert done["status"] == "success", done
    assert es.evaluation_is_stale(ev)
    again = evaluate_and_store(service.store, pid, built.run_ids["r1"])
    assert not es.evaluation_is_stale(again)
    assert again.results["overall"]["references"] == ev.results["overall"]["references"] + 1


def test_polygons_are_compared_as_masks(service: Service) -> None:
    pid = service.create_project("Polygons")["id"]
    service.create_labels(pid, ["shape"])
    path = service.media_dir / "poly.png"
    from media_factory import make_png

    make_png(path, 200, 200)

    def poly(points, **extra):
        return {"type": "polygon", "name": "shape",
                "points": [{"x": x, "y": y} for x, y in points], **extra}  # fmt: skip

    square = [(10, 10), (110, 10), (110, 110), (10, 110)]
    triangle = [(10, 10), (110, 10), (10, 110)]  # half the square: IoU 0.5 as masks, 1 as boxes
    packet = {
        "media": {"url": path.resolve().as_uri(), "type": "image"},
        "instance_list": [
            poly(square, machine_made=False),
            poly(triangle, model_ref="m", model_run_ref="r", score=0.9),
            box({"x": 150, "y": 150, "w": 20, "h": 20}, "shape", model_ref="m",
                model_run_ref="r", score=0.8),
        ],
    }  # fmt: skip
    done = service.wait_import(pid, service.submit_packet(pid, packet)["id"])
    assert done["status"] == "success", done
    run = find_run(service.store, pid, "r")
    masks = evaluate_and_store(service.store, pid, run, params=Params(iou=0.45))
    assert masks.results["iou_type"] == "mask"
    assert (masks.results["overall"]["tp"], masks.results["overall"]["fp"]) == (1, 1)
    strict = evaluate_and_store(service.store, pid, run, params=Params(iou=0.6))
    assert strict.results["overall"]["tp"] == 0
    boxes = evaluate_and_store(service.store, pid, run, params=Params(iou=0.9, iou_type="box"))
    assert boxes.results["iou_type"] == "box" and boxes.results["overall"]["tp"] == 1
    assert np.isclose(boxes.results["overall"]["recall"], 1.0)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_video_per_frame_and_where_the_predicted_track_is_lost_or_switches(
    service: Service,
) -> None:
    from media_factory import make_mp4

    pid = service.create_project("Video")["id"]
    service.create_labels(pid, ["car"])
    clip = service.media_dir / "clip.mp4"
    make_mp4(clip, frames=12, fps=10, width=160, height=120)

    def car(frame: int, number: int, **extra):
        x = 10 + frame * 5
        return {"type": "box", "name": "car", "number": number, "x_min": x, "y_min": 20,
                "x_max": x + 40, "y_max": 60, **extra}  # fmt: skip

    fpm: dict[str, list] = {}
    for frame in range(10):  # the reference track, frames 0-9
        fpm[str(frame)] = [car(frame, 1, machine_made=False)]
        pred = dict(model_ref="m", model_run_ref="r", score=0.9)
        if frame <= 3:  # predicted track 2 finds it on 0-3, nothing on 4-5, track 3 from 6
            fpm[str(frame)].append(car(frame, 2, **pred))
        elif frame == 7:  # shifted: IoU 25/55 = 0.45, found at IoU 0.42 but not at 0.5
            fpm[str(frame)].append({**car(frame, 3, **pred), "x_min": 10 + 7 * 5 + 15,
                                    "x_max": 10 + 7 * 5 + 55})  # fmt: skip
        elif frame >= 6:
            fpm[str(frame)].append(car(frame, 3, **pred))
    packet = {"media": {"url": clip.resolve().as_uri(), "type": "video"}, "frame_packet_map": fpm}
    done = service.wait_import(pid, service.submit_packet(pid, packet)["id"])
    assert done["status"] == "success", done
    run = find_run(service.store, pid, "r")
    # a threshold of one's own (not one of COCO's ten): the tracks follow it too
    own = evaluate_and_store(service.store, pid, run, params=Params(iou=0.42))
    [seq] = own.results["tracks"]["sequences"]
    assert seq["lost_frames"] == [4] and seq["switch_frames"] == [6] and seq["found"] == 8
    ev = evaluate_and_store(service.store, pid, run)
    o = ev.results["overall"]
    assert (o["tp"], o["fp"], o["fn"]) == (7, 1, 3)  # per frame: 4 and 5 missed, 7 too far
    tracks = ev.results["tracks"]
    assert (tracks["sequence_count"], tracks["lost"], tracks["switches"]) == (1, 2, 1)
    [seq] = tracks["sequences"]
    assert seq["lost_frames"] == [4, 7] and seq["switch_frames"] == [6]
    assert (seq["frames"], seq["found"]) == (10, 7)

    # the viewer's data for a video comes a window of frames at a time
    from labelport.evaluate.run import file_outcome

    file_id = service.list_files(pid)[0][0]["id"]
    window = file_outcome(service.store, pid, ev.id, file_id, 3, 6)
    assert window["frames"] == [3, 6]
    assert sorted({p["frame"] for p in window["predictions"]}) == [3, 6]  # none on 4-5
    assert [r["outcome"] for r in window["references"]] == ["tp", "fn", "fn", "tp"]
    assert file_outcome(service.store, pid, ev.id, file_id)["frames"] == [0, 299]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_keypoints_are_compared_by_oks(service: Service) -> None:
    pid = service.create_project("People")["id"]
    service.create_labels(pid, ["person"])
    path = service.media_dir / "people.png"
    from media_factory import make_png

    make_png(path, 300, 300)
    skeleton = [(100, 50), (100, 90), (100, 150), (80, 200), (120, 200)]

    def person(shift: float, **extra):
        return {"type": "keypoints", "name": "person",
                "nodes": [{"id": str(k), "x": x + shift, "y": y}
                          for k, (x, y) in enumerate(skeleton)], **extra}  # fmt: skip

    packet = {
        "media": {"url": path.resolve().as_uri(), "type": "image"},
        "instance_list": [
            person(0, machine_made=False),
            person(1.5, model_ref="m", model_run_ref="r", score=0.9),  # close: found
            person(60, model_ref="m", model_run_ref="r", score=0.8),  # far: a false positive
        ],
    }
    done = service.wait_import(pid, service.submit_packet(pid, packet)["id"])
    assert done["status"] == "success", done
    run = find_run(service.store, pid, "r")
    ev = evaluate_and_store(service.store, pid, run)
    assert ev.results["iou_type"] == "keypoints"
    o = ev.results["overall"]
    assert (o["tp"], o["fp"], o["fn"]) == (1, 1, 0)
    assert o["ap50"] == pytest.approx(1.0)
