"""`labelport check`: says when labels were not checked; `--project` checks against a project's
labels and attribute groups (embedded, or a running server's); instances under an invalid frame
key are still checked (issue 14, item 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labelport.api import create_app
from labelport.cli import app
from labelport.service import Service
from server_helpers import threaded_server

runner = CliRunner()
BOX = {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}


def write(tmp_path: Path, name: str, obj: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


@pytest.fixture
def data(tmp_path: Path) -> Iterator[tuple[Path, Service, dict[str, Any]]]:
    """A project with labels cat and dog and a radio group `fluffy` (yes/no) for cat only."""
    service = Service.open(data_dir=tmp_path / "data", workers=0)
    try:
        project = service.create_project("Check me")
        cat, _dog = service.create_labels(project["id"], ["cat", "dog"])
        group = service.create_attribute_group(
            project["id"], name="fluffy", kind="radio", label_ids=[cat["id"]], options=["yes", "no"]
        )
        yield tmp_path / "data", service, {"project": project, "group": group}
    finally:
        service.close()


def packet_with(group: dict[str, Any]) -> dict[str, Any]:
    yes = group["options"][0]["id"]
    return {
        "media": {"url": "http://example.com/a.jpg", "type": "image"},
        "instance_list": [
            {**BOX, "attribute_groups": {str(group["id"]): yes}},
            {**BOX, "name": "zebra"},
            {**BOX, "name": "dog", "attribute_groups": {str(group["id"]): yes}},
            {**BOX, "attribute_groups": {"999999": yes}},
        ],
    }


EXPECTED = [
    ("label.unknown", "instance_list/1/name"),
    ("attribute.not_for_label", "instance_list/2/attribute_groups/{group}"),
    ("attribute.group_unknown", "instance_list/3/attribute_groups/999999"),
]


def expected(group: dict[str, Any]) -> list[tuple[str, str]]:
    return [(code, path.format(group=group["id"])) for code, path in EXPECTED]


def test_without_labels_it_says_labels_were_not_checked(tmp_path: Path) -> None:
    packet = write(tmp_path, "p.json", {"instance_list": [{**BOX, "name": "zebra"}]})
    result = runner.invoke(app, ["check", packet])
    assert result.exit_code == 0
    assert "0 problems" in result.output
    assert "labels not checked" in " ".join(result.output.split())
    result = runner.invoke(app, ["check", packet, "--json"])
    assert json.loads(result.output)["checked_against"] is None


def test_project_embedded_checks_labels_and_attributes(data, tmp_path: Path) -> None:
    data_dir, _service, made = data
    packet = write(tmp_path, "p.json", packet_with(made["group"]))
    args = ["check", packet, "--project", made["project"]["string_id"], "--data-dir", str(data_dir)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.output)
    assert [(p["code"], p["path"]) for p in out["problems"]] == expected(made["group"])
    assert "check-me" in out["checked_against"]
    text = runner.invoke(app, args)
    assert "checked against the labels and attributes of project check-me" in " ".join(
        text.output.split()
    )
    assert "labels not checked" not in text.output


def test_project_through_a_running_server(data, tmp_path: Path) -> None:
    _data_dir, service, made = data
    project = made["project"]
    key = service.create_api_key(project["id"], role="viewer")
    packet = write(tmp_path, "p.json", packet_with(made["group"]))
    with threaded_server(create_app(service)) as base_url:
        args = ["check", packet, "--project", project["string_id"], "--server", base_url]
        result = runner.invoke(
            app, [*args, "--key", f"{key['client_id']}:{key['client_secret']}", "--json"]
        )
        assert result.exit_code == 1, result.output
        out = json.loads(result.output)
        assert [(p["code"], p["path"]) for p in out["problems"]] == expected(made["group"])
        assert base_url in out["checked_against"]
        wrong = runner.invoke(app, [*args, "--key", f"{key['client_id']}:nope"])
        assert wrong.exit_code == 2 and "Traceback" not in wrong.output
        assert "server:" in wrong.output


def test_project_errors_are_plain(data, tmp_path: Path) -> None:
    data_dir, _service, _made = data
    packet = write(tmp_path, "p.json", {"instance_list": [BOX]})
    missing = runner.invoke(
        app, ["check", packet, "--project", "nope", "--data-dir", str(data_dir)]
    )
    assert missing.exit_code == 3 and "nope" in missing.output
    both = runner.invoke(app, ["check", packet, "--project", "x", "--labels", packet])
    assert both.exit_code == 2 and "not both" in both.output
    no_key = runner.invoke(app, ["check", packet, "--project", "x", "--server", "http://h"])
    assert no_key.exit_code == 2 and "--key" in no_key.output
    alone = runner.invoke(app, ["check", packet, "--server", "http://h"])
    assert alone.exit_code == 2 and "--project" in alone.output


def test_instances_under_an_invalid_frame_key_are_still_checked(tmp_path: Path) -> None:
    video_box = {**BOX, "name": "zebra"}
    packet = write(
        tmp_path,
        "p.json",
        {
            "media": {"url": "http://example.com/v.mp4", "type": "video"},
            "frame_packet_map": {
                "06": [video_box, {**BOX, "y_max": None}],
                "1": [BOX],
            },
        },
    )
    labels = write(tmp_path, "labels.json", ["cat"])
    result = runner.invoke(app, ["check", packet, "--labels", labels, "--json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.output)
    assert sorted((p["code"], p["path"]) for p in out["problems"]) == [
        ("frame.key_invalid", "frame_packet_map/06"),
        ("label.unknown", "frame_packet_map/06/0/name"),
        ("value.wrong_kind", "frame_packet_map/06/1/y_max"),
    ]
    assert out["counts"]["instances"] == 3
    assert out["counts"]["instances_under_invalid_frame_keys"] == 2
