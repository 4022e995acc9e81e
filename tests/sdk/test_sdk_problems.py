"""The SDK shows problems in bulk grouped (an error's and an import's repr and str), names the
rejected record, shows warnings in its repr, and a dry run reports the packet's problems and the
media's in one round."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import labelport
from labelport.sdk import PacketRejected
from labelport.service import Service
from server_helpers import ProjectKeys


@pytest.fixture
def media(tmp_path: Path) -> Iterator[Any]:
    from media_factory import make_jpeg, serve_directory

    root = tmp_path / "media"
    root.mkdir()
    make_jpeg(root / "cat.jpg", 640, 480)
    with serve_directory(root) as server:
        yield server


@pytest.fixture(autouse=True)
def labels(served: tuple[str, ProjectKeys, Service]) -> None:
    _, keys, service = served
    service.create_labels(keys.id, ["cat"])


def box(name: str = "cat", **over: Any) -> dict[str, Any]:
    return {"type": "box", "name": name, "x_min": 10, "y_min": 10, "x_max": 50, "y_max": 50,
            **over}  # fmt: skip


def test_a_rejected_packet_raises_with_its_problems_grouped(
    project: labelport.Project, media: Any
) -> None:
    instances = [box("car") for _ in range(162)] + [box("bus")] * 3
    with pytest.raises(PacketRejected) as caught:
        project.file.from_url(media.url("cat.jpg"), instance_list=instances, idempotency_key="k1")
    error = caught.value
    assert error.problem_count == 165
    assert [(g.code, g.count) for g in error.groups] == [
        ("label.unknown", 162),
        ("label.unknown", 3),
    ]
    assert [e.path for e in error.groups[0].examples] == [
        f"instance_list/{k}/name" for k in range(3)
    ]
    text = str(error)
    assert len(text.splitlines()) == 3  # the summary, then one line per group
    assert 'label.unknown  x162  label "car"' in text
    assert "x162" in repr(error) and "x3" in repr(error)
    # the refusal left a record, which the SDK can read back
    assert error.import_id is not None
    record = project.get_import(error.import_id)
    assert (record.status, record.media_name, record.idempotency_key) == (
        "rejected",
        "cat.jpg",
        "k1",
    )
    assert [(g.code, g.count) for g in record.groups][:2] == [
        ("label.unknown", 162),
        ("label.unknown", 3),
    ]
    assert "rejected" in repr(record) and "x162" in repr(record)
    listed = project.imports(status="rejected")
    assert [i.id for i in listed] == [error.import_id]
    # the key is free: the corrected packet succeeds with it
    fixed = project.file.from_url(
        media.url("cat.jpg"), instance_list=[box()], idempotency_key="k1"
    ).wait()
    assert fixed.status == "success" and fixed.id != error.import_id


def test_a_dry_run_reports_packet_and_media_problems_in_one_round(
    project: labelport.Project, media: Any
) -> None:
    instances = [box("car"), box(x_max=5000), box(x_min=700, x_max=800), box()]
    checked = project.file.from_url(media.url("cat.jpg"), instance_list=instances, dry_run=True)
    assert checked.status == "dry_run"
    codes = {(p.code, p.path.split("/")[1]) for p in checked.problems}
    # the unknown label (no media needed) and the boxes past the 640 px edge (the media's)
    assert ("label.unknown", "0") in codes
    assert any(code != "label.unknown" and index == "1" for code, index in codes), codes
    assert any(code != "label.unknown" and index == "2" for code, index in codes), codes
    assert checked.problem_count == len(checked.problems) >= 3
    assert project.imports() == []  # nothing stored, not even a record


def test_warnings_show_in_the_repr(project: labelport.Project, media: Any) -> None:
    inverted = box(x_min=50, x_max=10)  # swapped, with a warning
    done = project.file.from_url(media.url("cat.jpg"), instance_list=[inverted]).wait()
    assert done.status == "success" and done.warning_count == 1
    shown = repr(done)
    assert "warnings=1" in shown and "instance_list/0" in shown
    assert "1 warning(s)" in done.describe()


def test_a_dry_run_answers_its_problems_grouped(project: labelport.Project, media: Any) -> None:
    checked = project.file.from_url(
        media.url("cat.jpg"), instance_list=[box("car")] * 40 + [box(x_max=900)], dry_run=True
    )
    groups = checked.data["problem_groups"]
    assert (groups[0]["code"], groups[0]["count"]) == ("label.unknown", 40)
    assert (checked.groups[0].code, checked.groups[0].count) == ("label.unknown", 40)
    assert "x40" in repr(checked)
