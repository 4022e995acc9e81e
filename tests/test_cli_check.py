"""`labelport check`: exit codes 0/1/2, the --json shape, labels and media info files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelport.cli import app

EXAMPLES = Path(__file__).parents[1] / "examples" / "seeds"
runner = CliRunner()
BOX = {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}


def write(tmp_path: Path, name: str, obj: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("[rw]*.json")))
def test_seed_examples_pass(example):
    result = runner.invoke(
        app, ["check", str(EXAMPLES / example), "--labels", str(EXAMPLES / "labels.json"), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["problems"] == []


def test_json_shape_and_exit_1(tmp_path):
    packet = {
        "media": {"url": "u", "type": "image"},
        "instance_list": [BOX, {**BOX, "name": "kat"}, {**BOX, "x_min": 99}],
    }
    labels = write(tmp_path, "labels.json", ["cat"])
    result = runner.invoke(
        app, ["check", write(tmp_path, "p.json", packet), "--labels", labels, "--json"]
    )
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert {"problems", "warnings", "counts"} <= set(out)
    assert out["problems"] == [
        {
            "code": "label.unknown",
            "path": "instance_list/1/name",
            "message": out["problems"][0]["message"],
        }
    ]
    assert 'did you mean "cat"' in out["problems"][0]["message"]
    assert [w["code"] for w in out["warnings"]] == ["box.inverted"]
    assert out["counts"]["instances"] == 3 and out["counts"]["per_type"] == {"box": 3}


def test_strict_and_media_info(tmp_path):
    packet = write(
        tmp_path,
        "p.json",
        {"media": {"url": "u", "type": "image"}, "instance_list": [{**BOX, "x_min": 99}]},
    )
    assert runner.invoke(app, ["check", packet]).exit_code == 0
    result = runner.invoke(app, ["check", packet, "--strict", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["problems"][0]["code"] == "box.inverted"
    info = write(tmp_path, "info.json", {"width": 50, "height": 50})
    result = runner.invoke(app, ["check", packet, "--media-info", info, "--json"])
    assert result.exit_code == 1
    assert [p["path"] for p in json.loads(result.output)["problems"]] == ["instance_list/0/x_max"]


def test_media_type_option(tmp_path):
    packet = write(tmp_path, "p.json", {"instance_list": [BOX]})
    result = runner.invoke(app, ["check", packet, "--media-type", "audio", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["problems"][0]["code"] == "instance.type_not_for_media"


def test_table_output(tmp_path):
    packet = write(tmp_path, "p.json", {"instance_list": [{**BOX, "x_min": "a"}]})
    result = runner.invoke(app, ["check", packet])
    assert result.exit_code == 1
    assert "value.wrong_kind" in result.output and "instance_list/0/x_min" in result.output


def test_unreadable_files_exit_2_without_traceback(tmp_path):
    for args in (
        [str(tmp_path / "missing.json")],
        [str(_raw(tmp_path, b"{not json"))],
        [str(_raw(tmp_path, b"\xff\xfe"))],
        [str(_raw(tmp_path, b"[1]"))],
        [
            write(tmp_path, "ok.json", {"instance_list": []}),
            "--labels",
            str(tmp_path / "nope.json"),
        ],
        [
            write(tmp_path, "ok.json", {"instance_list": []}),
            "--labels",
            write(tmp_path, "l.json", {"a": 1}),
        ],
    ):
        result = runner.invoke(app, ["check", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def _raw(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"raw{len(list(tmp_path.iterdir()))}.json"
    path.write_bytes(data)
    return path
