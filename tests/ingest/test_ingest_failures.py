"""A failed import stores nothing: problems found against the media, a broken write, bad media."""

from __future__ import annotations

import json
import threading
import time

import pytest
from ingest_helpers import IMAGE_SIZE, VIDEO, box, codes, row_counts

from labelport.errors import Rejected
from labelport.ingest import rows as ingest_rows


def assert_failed_cleanly(project, done, before) -> None:
    assert done["status"] == "failed", done
    assert done["file_id"] is None
    assert row_counts(project.service) == before
    assert_no_traceback(done)


def assert_no_traceback(shown) -> None:
    text = json.dumps(shown)
    assert "Traceback" not in text and 'File "' not in text and ".py" not in text, text


def test_frames_beyond_the_video(project, media) -> None:
    before = row_counts(project.service)
    last = VIDEO["frames"] - 1
    fpm = {
        last: [box("cat", 1, 1, 5, 5)],
        last + 1: [box("cat", 1, 1, 5, 5)],
        1000: [box("dog", 1, 1, 5, 5), box("cat", 1, 1, 5, 5, number=2)],
    }
    done = project.run(media.packet("clip.mp4", "video", frame_packet_map=fpm))
    assert_failed_cleanly(project, done, before)
    found = codes(done["problems"])
    assert found == {
        ("frame.out_of_range", f"frame_packet_map/{last + 1}/0"),
        ("frame.out_of_range", "frame_packet_map/1000/0"),
        ("frame.out_of_range", "frame_packet_map/1000/1"),
    }
    assert str(VIDEO["frames"]) in done["problems"][0]["message"]
    # counted under the names a successful import uses
    assert done["counts"]["instances_per_label"] == {"cat": 3, "dog": 1}
    assert done["counts"]["frames_with_instances"] == 3
    assert done["counts"]["sequences_expected"] == 3


def test_coordinates_outside_the_image(project, media) -> None:
    before = row_counts(project.service)
    width, height = IMAGE_SIZE
    instances = [
        box("cat", 0, 0, width, height),  # the edge is inside
        box("cat", 10, 10, width + 1.5, 20),  # past the sub-pixel tolerance (< 1 px)
        {
            "type": "polygon",
            "name": "dog",
            "points": [{"x": 1, "y": 1}, {"x": 5, "y": -2}, {"x": 9, "y": 9}],
        },
        {"type": "point", "name": "dog", "points": [{"x": 3, "y": height + 1}]},
    ]
    done = project.run(media.packet("image.png", "image", instance_list=instances))
    assert_failed_cleanly(project, done, before)
    assert codes(done["problems"]) == {
        ("shape.outside_media", "instance_list/1/x_max"),
        ("shape.outside_media", "instance_list/2/points/1/y"),
        ("shape.outside_media", "instance_list/3/points/0/y"),
    }
    assert done["problem_count"] == 3


def test_token_range_beyond_the_text(project) -> None:
    before = row_counts(project.service)
    packet = {
        "text_data": "one two three",
        "instance_list": [
            {"type": "text_token", "name": "cat", "start_token": 0, "end_token": 2},
            {"type": "text_token", "name": "cat", "start_token": 1, "end_token": 3},
            {"type": "text_token", "name": "dog", "start_token": 7, "end_token": 9},
        ],
    }
    done = project.run(packet)
    assert_failed_cleanly(project, done, before)
    paths = {path for code, path in codes(done["problems"]) if code == "text_token.out_of_range"}
    assert {p.rsplit("/", 1)[0] for p in paths} == {"instance_list/1", "instance_list/2"}


def test_times_beyond_the_audio(project, media) -> None:
    before = row_counts(project.service)
    segments = [
        {"type": "audio", "name": "cat", "start_time": 0, "end_time": 2.0},
        {"type": "audio", "name": "cat", "start_time": 1.0, "end_time": 2.5},
        {"type": "audio", "name": "dog", "start_time": 3, "end_time": 4},
    ]
    done = project.run(media.packet("tone.wav", "audio", instance_list=segments))
    assert_failed_cleanly(project, done, before)
    found = codes(done["problems"])
    assert ("audio.out_of_range", "instance_list/1/end_time") in found
    assert {p.split("/")[1] for _c, p in found} == {"1", "2"}


def test_missing_media_fails_at_path_media(project, media) -> None:
    before = row_counts(project.service)
    done = project.run(media.packet("nowhere.png", "image", instance_list=[box("cat", 1, 1, 5, 5)]))
    assert_failed_cleanly(project, done, before)
    assert [(p["code"], p["path"]) for p in done["problems"]] == [("media.http_error", "media")]


def test_private_url_refused_by_default(database, tmp_path, media) -> None:
    from labelport.service import Service

    fetched_before = len(media.server.requests)
    with Service.open(data_dir=tmp_path / "strict", database_url=database.url, workers=1) as svc:
        project_id = svc.create_project("Strict")["id"]
        svc.create_labels(project_id, ["cat"])
        packet = media.packet("image.png", "image", instance_list=[box("cat", 1, 1, 5, 5)])
        # A loopback address literal is refused at submit (issue 13, item 10), not as a failed
        # import; tests/ingest/test_url_refused_early.py has the cases.
        with pytest.raises(Rejected) as refused:
            svc.submit_packet(project_id, packet)
        assert [(p.code, p.path) for p in refused.value.report.problems] == [
            ("media.url_refused", "media/url")
        ]
        # nothing stored but the record of the refusal (docs/imports.md)
        assert [i["status"] for i in svc.list_imports(project_id)[0]] == ["rejected"]
        assert row_counts(svc)["file"] == 0
    assert len(media.server.requests) == fetched_before  # refused before connecting


def test_write_that_breaks_midway_stores_nothing(project, media, monkeypatch) -> None:
    """Instances, sequences, models, runs and the file row roll back together."""
    real = ingest_rows.RowBuilder.__call__

    def breaking(self, resolved):
        for n, row in enumerate(real(self, resolved)):
            if n == 150:
                raise RuntimeError("disk on fire")
            yield row

    monkeypatch.setattr(ingest_rows.RowBuilder, "__call__", breaking)
    before = row_counts(project.service)
    fpm = {
        frame: [
            box("cat", 1, 1, 5, 5, number=n + 1, model_ref="m1", model_run_ref="r1")
            for n in range(20)
        ]
        for frame in range(10)
    }
    done = project.run(media.packet("clip.mp4", "video", frame_packet_map=fpm))
    assert_failed_cleanly(project, done, before)
    assert done["error"] == "internal error: RuntimeError"
    assert "disk on fire" not in json.dumps(done)


def test_success_is_never_visible_before_the_instances(project, media) -> None:
    """Status and instances commit together: a reader that sees `success` sees every row."""
    n = 20_000
    instances = [box("cat", i % 600, 1, i % 600 + 5, 9) for i in range(n)]
    seen: list[tuple[str, int]] = []
    stop = threading.Event()
    submitted = project.submit(media.packet("image.png", "image", instance_list=instances))
    store = project.service.store

    def watch() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            status = store.get_import(submitted["id"]).status
            with store.engine.connect() as conn:
                count = conn.exec_driver_sql("SELECT count(*) FROM instance").scalar_one()
            seen.append((status, count))
            if status in ("success", "failed"):
                return

    watcher = threading.Thread(target=watch)
    watcher.start()
    done = project.service.wait_import(project.id, submitted["id"], timeout=60)
    watcher.join(timeout=70)
    stop.set()
    assert done["status"] == "success", done
    assert seen and seen[-1] == ("success", n)
    assert all(count == n for status, count in seen if status == "success")
    assert {count for _status, count in seen} <= {0, n}  # never a part of them


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_unexpected_error_is_recorded_without_traceback(project, media, monkeypatch) -> None:
    def explode(*args, **kwargs):
        raise KeyError("/srv/secret/path.py line 12")

    monkeypatch.setattr("labelport.ingest.intake.plan_import", explode)
    done = project.run(media.packet("image.png", "image", instance_list=[box("cat", 1, 1, 5, 5)]))
    assert done["status"] == "failed"
    assert done["error"] == "internal error: KeyError"
    assert_no_traceback(done)
