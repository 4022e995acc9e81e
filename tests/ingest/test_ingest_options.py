"""Packet options: skip_instances, dry_run, idempotency keys, auto_create_labels, model refs."""

from __future__ import annotations

from ingest_helpers import IMAGE_SIZE, box, codes, row_counts
from sqlalchemy import select

from labelport.store import tables
from thread_helpers import run_together


def test_skip_instances_keeps_the_good_ones_and_lists_the_rest(project, media) -> None:
    width, _height = IMAGE_SIZE
    instances = [
        box("cat", 1, 1, 10, 10),
        box("bird", 1, 1, 10, 10),  # unknown label: found at submit
        box("dog", 1, 1, width + 50, 10),  # outside the image: found against the media
        box("dog", 2, 2, 20, 20),
        {"type": "audio", "name": "cat", "start_time": 0, "end_time": 1},  # wrong media type
    ]
    packet = media.packet("image.png", "image", instance_list=instances, on_error="skip_instances")
    done = project.run(packet)
    assert done["status"] == "success", done
    assert {
        (p["code"], p["path"].rsplit("/", 1)[0] if "x_max" in p["path"] else p["path"])
        for p in done["problems"]
    } >= {("shape.outside_media", "instance_list/2")}
    assert {p["path"].split("/")[1] for p in done["problems"]} == {"1", "2", "4"}
    assert done["counts"]["instances_skipped"] == 3
    assert done["counts"]["added"] == 2
    stored = project.instances(done["file_id"])
    assert sorted((i["label_name"], i["x_max"]) for i in stored) == [("cat", 10), ("dog", 20)]


def test_reject_is_the_default(project, media) -> None:
    instances = [box("cat", 1, 1, 10, 10), box("bird", 1, 1, 10, 10)]
    before = row_counts(project.service)
    problems = project.rejected(media.packet("image.png", "image", instance_list=instances))
    assert codes(problems) == {("label.unknown", "instance_list/1/name")}
    assert row_counts(project.service) == before
    # nothing stored but the record of the refusal (docs/imports.md)
    listed, _ = project.service.list_imports(project.id)
    assert [i["status"] for i in listed] == ["rejected"]


def test_dry_run_stores_nothing_and_reports_media_problems(project, media) -> None:
    width, _height = IMAGE_SIZE
    before = row_counts(project.service)
    instances = [box("cat", 1, 1, 10, 10), box("cat", 1, 1, width + 1, 10)]
    shown = project.submit(
        media.packet("image.png", "image", instance_list=instances, dry_run=True)
    )
    assert shown["status"] == "dry_run"
    assert codes(shown["problems"]) == {("shape.outside_media", "instance_list/1/x_max")}

    missing = media.packet("gone.png", "image", instance_list=instances[:1])
    shown = project.submit(missing, dry_run=True)
    assert [(p["code"], p["path"]) for p in shown["problems"]] == [("media.http_error", "media")]

    fine = project.submit(
        media.packet("image.png", "image", instance_list=instances[:1]), dry_run=True
    )
    assert (fine["status"], fine["problem_count"]) == ("dry_run", 0)
    assert fine["counts"]["instances_per_type"] == {"box": 1}

    unknown = media.packet(
        "image.png",
        "image",
        instance_list=[box("owl", 1, 1, 2, 2)],
        auto_create_labels=True,
        dry_run=True,
    )
    assert project.submit(unknown)["problem_count"] == 0
    assert "owl" not in {label["name"] for label in project.service.list_labels(project.id)}
    assert row_counts(project.service) == before
    assert project.service.list_imports(project.id)[1] == 0


def test_repeated_idempotency_key_returns_the_first_import(project, media) -> None:
    packet = media.packet(
        "image.png",
        "image",
        instance_list=[box("cat", 1, 1, 10, 10)],
        idempotency_key="batch-7/0001",
    )
    first = project.run(packet)
    again = project.submit(packet)
    assert again["id"] == first["id"] and again["status"] == "success"
    changed = {**packet, "instance_list": [box("dog", 1, 1, 10, 10)] * 3}
    assert project.submit(changed)["id"] == first["id"]
    assert row_counts(project.service)["instance"] == 1
    assert project.service.list_imports(project.id)[1] == 1


def test_idempotency_race_makes_one_import(project, media) -> None:
    packet = media.packet(
        "image.png", "image", instance_list=[box("cat", 1, 1, 10, 10)], idempotency_key="racy"
    )
    answers = run_together(*[lambda: project.submit(packet)] * 2)
    assert len(answers) == 2 and answers[0]["id"] == answers[1]["id"]
    done = project.service.wait_import(project.id, answers[0]["id"], timeout=30)
    assert done["status"] == "success"
    assert project.service.list_imports(project.id)[1] == 1
    assert row_counts(project.service)["instance"] == 1
    # the loser's staged packet is gone: only the winner's is kept
    packets = list((project.service.blobs.root / "packets").iterdir())
    assert len(packets) == 1


def test_auto_create_labels(project, media) -> None:
    packet = media.packet(
        "image.png",
        "image",
        instance_list=[box("cat", 1, 1, 10, 10), box("owl", 1, 1, 10, 10), box("Owl", 2, 2, 9, 9)],
    )
    assert codes(project.rejected(packet)) == {
        ("label.unknown", "instance_list/1/name"),
        ("label.unknown", "instance_list/2/name"),
    }
    done = project.run({**packet, "auto_create_labels": True})
    assert done["status"] == "success", done
    names = {label["name"] for label in project.service.list_labels(project.id)}
    assert names == {"cat", "dog", "owl", "Owl"}
    assert done["counts"]["instances_per_label"] == {"cat": 1, "owl": 1, "Owl": 1}
    again = project.run({**packet, "auto_create_labels": True})  # existing ones are reused
    assert again["status"] == "success"
    assert len(project.service.list_labels(project.id)) == 4


def test_model_refs_are_got_or_created(project, media) -> None:
    def packet(run_ref: str) -> dict:
        return media.packet(
            "image.png",
            "image",
            instance_list=[
                box("cat", 1, 1, 10, 10, model_ref="yolo", model_run_ref=run_ref, score=0.5),
                box("dog", 1, 1, 10, 10, model_ref="yolo"),
                box("dog", 1, 1, 10, 10, model_ref="detr", model_run_ref=run_ref),
            ],
        )

    first = project.run(packet("run-1"))
    second = project.run(packet("run-2"))
    assert first["status"] == second["status"] == "success"
    with project.service.store.engine.connect() as conn:
        models = dict(conn.execute(select(tables.model.c.reference, tables.model.c.id)).all())
        runs = conn.execute(select(tables.model_run.c.model_id, tables.model_run.c.reference)).all()
    assert set(models) == {"yolo", "detr"}
    assert sorted(runs) == sorted(
        (models[m], r) for m in ("yolo", "detr") for r in ("run-1", "run-2")
    )
    stored = project.instances(second["file_id"])
    yolo = [i for i in stored if i["model_id"] == models["yolo"]]
    assert len(yolo) == 2 and sum(i["model_run_id"] is not None for i in yolo) == 1
    third = project.run(
        media.packet(
            "other.png",
            "image",
            instance_list=[
                box("cat", 1, 1, 10, 10, model_id=models["detr"], model_run_ref="run-1")
            ],
        )
    )
    assert third["status"] == "success", third
    (inst,) = project.instances(third["file_id"])
    assert inst["model_id"] == models["detr"]
    assert inst["model_run_id"] in {
        rid
        for (mid, ref), rid in _run_ids(project).items()
        if mid == models["detr"] and ref == "run-1"
    }
    assert row_counts(project.service)["model_run"] == 4


def _run_ids(project) -> dict[tuple[int, str], int]:
    t = tables.model_run
    with project.service.store.engine.connect() as conn:
        return {(m, r): i for m, r, i in conn.execute(select(t.c.model_id, t.c.reference, t.c.id))}


def test_unknown_model_id_is_rejected(project, media) -> None:
    packet = media.packet(
        "image.png", "image", instance_list=[box("cat", 1, 1, 10, 10, model_id=999)]
    )
    assert codes(project.rejected(packet)) == {("model.unknown", "instance_list/0/model_id")}
