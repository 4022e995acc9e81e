"""Imports running at the same time share model and sequence rows; a queued import is run by
whichever process runs jobs, decoding the packet it was sent."""

from __future__ import annotations

import functools

from ingest_helpers import IMAGE_SIZE, box, row_counts
from sqlalchemy import func, select

from labelport.service import Service
from labelport.store import tables
from thread_helpers import run_together


def _queue_only(database, tmp_path) -> Service:
    """A Service that queues imports and runs none: the test runs the jobs itself."""
    return Service.open(
        data_dir=tmp_path / "queue", database_url=database.url, allow_private_urls=True, workers=0
    )


def test_concurrent_imports_share_one_model_and_one_sequence(database, tmp_path, media) -> None:
    with _queue_only(database, tmp_path) as svc:
        project_id = svc.create_project("Race")["id"]
        svc.create_labels(project_id, ["cat"])
        video = svc.submit_packet(
            project_id,
            media.packet(
                "clip.mp4", "video", frame_packet_map={0: [box("cat", 1, 1, 5, 5, number=1)]}
            ),
        )
        svc.job.run(video["id"])
        file_id = svc.get_import(project_id, video["id"])["file_id"]

        def packet(frame: int) -> dict:
            return {
                "file_id": file_id,
                "frame_packet_map": {
                    frame: [
                        box("cat", 1, 1, 5, 5, number=4, model_ref="shared", model_run_ref="r1")
                    ]
                },
            }

        for _round in range(3):
            first, second = (svc.submit_packet(project_id, packet(f)) for f in (2 + _round, 20))
            run_together(*(functools.partial(svc.job.run, i["id"]) for i in (first, second)))
            for imp in (first, second):
                assert svc.get_import(project_id, imp["id"])["status"] == "success"
        with svc.store.engine.connect() as conn:
            models = conn.execute(select(func.count()).select_from(tables.model)).scalar_one()
            runs = conn.execute(select(func.count()).select_from(tables.model_run)).scalar_one()
        assert (models, runs) == (1, 1)
        sequences = {
            (s["label_name"], s["number"]): s for s in svc.list_sequences(project_id, file_id)
        }
        assert set(sequences) == {("cat", 1), ("cat", 4)}
        assert sequences[("cat", 4)]["keyframes"] == [2, 3, 4, 20]
        assert sequences[("cat", 4)]["instance_count"] == 6


def test_concurrent_new_files_share_one_model(database, tmp_path, media) -> None:
    with _queue_only(database, tmp_path) as svc:
        project_id = svc.create_project("Race")["id"]
        svc.create_labels(project_id, ["cat"])
        imports = [
            svc.submit_packet(
                project_id,
                media.packet(
                    name,
                    "image",
                    instance_list=[
                        box("cat", 1, 1, 5, 5, model_ref=f"m{n}", model_run_ref="r")
                        for n in range(50)
                    ],
                ),
            )
            for name in ("image.png", "other.png")
        ]
        run_together(*(lambda i=i: svc.job.run(i["id"]) for i in imports))
        for imp in imports:
            assert svc.get_import(project_id, imp["id"])["status"] == "success"
        counts = row_counts(svc)
        assert (counts["model"], counts["model_run"], counts["instance"]) == (50, 50, 100)


def test_queued_import_runs_from_its_stored_packet(database, tmp_path, media) -> None:
    """No in-process handoff: the job decodes and checks the packet as sent, options included."""
    with _queue_only(database, tmp_path) as svc:
        project_id = svc.create_project("Later")["id"]
        svc.create_labels(project_id, ["cat"])
        packet = media.packet(
            "image.png",
            "image",
            auto_create_labels=True,
            on_error="skip_instances",
            instance_list=[
                box("cat", 1, 1, 5, 5),
                box("owl", 1, 1, 5, 5),
                box("cat", 1, 1, IMAGE_SIZE[0] + 9, 5),
                box("cat", 1, 1, 5, 5, label_file_id=4242),
            ],
        )
        queued = svc.submit_packet(project_id, packet)
        assert queued["status"] == "queued"
    with Service.open(
        data_dir=tmp_path / "queue", database_url=database.url, allow_private_urls=True, workers=1
    ) as runner:
        done = runner.wait_import(project_id, queued["id"], timeout=30)
        assert done["status"] == "success", done
        assert {p["path"].split("/")[1] for p in done["problems"]} == {"2", "3"}
        names = sorted(
            i["label_name"] for i in runner.list_instances(project_id, done["file_id"])[0]
        )
        assert names == ["cat", "owl"]
