"""Packets full of bad instances through the Service (issue 13, item 5), on SQLite and
PostgreSQL: refused at submit, failed against the media, or imported without its bad
instances, the answer lists the first 1,000 problems and counts every one per code."""

from __future__ import annotations

from typing import Any

import pytest
from ingest_helpers import IMAGE_SIZE, box

from labelport.errors import Rejected


def bad_kind(n: int) -> list[dict[str, Any]]:
    return [{**box("cat", 1, 1, 5, 5), "x_min": str(i)} for i in range(n)]


def test_refused_at_submit_every_code_counted(project, media) -> None:
    instances = [*bad_kind(1200), *[box("lion", 1, 1, 5, 5) for _ in range(300)]]
    with pytest.raises(Rejected) as refused:
        project.submit(media.packet("image.png", "image", instance_list=instances))
    report = refused.value.report
    assert report.problem_count == 1500
    assert len(report.problems) == 1000
    assert report.problem_counts_by_code == {"value.wrong_kind": 1200, "label.unknown": 300}


def test_failed_import_stores_the_first_1000_and_every_code_count(project, media) -> None:
    width, _height = IMAGE_SIZE
    outside = [box("cat", 10, 10, width + 50, 20) for _ in range(1200)]
    done = project.run(media.packet("image.png", "image", instance_list=outside))
    assert done["status"] == "failed"
    assert done["problem_count"] == 1200
    assert done["problem_counts_by_code"] == {"shape.outside_media": 1200}
    assert "problem_counts_by_code" not in done["counts"]
    first = project.service.get_import(project.id, done["id"], problems_per_page=1000)
    assert len(first["problems"]) == 1000
    assert first["problems"][999]["path"] == "instance_list/999/x_max"
    rest = project.service.get_import(
        project.id, done["id"], problems_page=2, problems_per_page=1000
    )
    assert rest["problems"] == []  # not stored: counted above


def test_skip_instances_import_keeps_the_codes_counted(project, media) -> None:
    instances = [*bad_kind(1100), box("cat", 1, 1, 5, 5)]
    packet = media.packet("image.png", "image", instance_list=instances)
    done = project.run({**packet, "on_error": "skip_instances"})
    assert done["status"] == "success", done
    assert done["problem_count"] == 1100
    assert done["problem_counts_by_code"] == {"value.wrong_kind": 1100}
    assert done["counts"]["instances_skipped"] == 1100


def test_dry_run_answers_the_same_shape(project, media) -> None:
    packet = media.packet("image.png", "image", instance_list=bad_kind(1001), dry_run=True)
    answer = project.submit(packet)
    assert answer["status"] == "dry_run"
    assert answer["problem_count"] == 1001 and len(answer["problems"]) == 1000
    assert answer["problems_not_listed"] == 1
    assert answer["problem_counts_by_code"] == {"value.wrong_kind": 1001}
