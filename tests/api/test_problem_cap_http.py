"""The 422 of a packet full of bad instances (issue 13, item 5): the first 1,000 problems with
their paths, the true total, and every code's count; the body-size limit is a setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

BOX = {"type": "box", "name": "cat", "x_min": 1.0, "y_min": 2.0, "x_max": 30.0, "y_max": 40.0}


def test_422_lists_1000_and_counts_every_code(client: TestClient, project: Any) -> None:
    instances = [{**BOX, "x_min": str(i)} for i in range(1500)] + [7] * 500
    packet = {"media": {"url": "https://example.com/a.png", "type": "image"}}
    response = client.post(project.url("/packets"), json={**packet, "instance_list": instances})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "packet.rejected"
    assert error["problem_count"] == 2000
    assert len(error["problems"]) == 1000
    assert error["problems"][0]["path"] == "instance_list/0/x_min"
    assert error["problems_not_listed"] == 1000
    assert error["problem_counts_by_code"] == {
        "value.wrong_kind": 1500,
        "instance.not_object": 500,
    }
    assert "first 1000 are listed" in error["message"]
    assert "problem_counts_by_code" in error["message"]


def test_a_short_list_says_nothing_is_left_out(client: TestClient, project: Any) -> None:
    packet = {"media": {"url": "https://example.com/a.png", "type": "image"}}
    response = client.post(project.url("/packets"), json={**packet, "instance_list": [5]})
    error = response.json()["error"]
    assert error["problem_count"] == 1 and error["problems_not_listed"] == 0
    assert error["problem_counts_by_code"] == {"instance.not_object": 1}
    assert "listed" not in error["message"]


@pytest.mark.parametrize(("argv", "expected_mb"), [([], 256), (["--max-body-mb", "3"], 3)])
def test_serve_takes_the_body_limit(
    argv: list[str], expected_mb: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import labelport.api
    from labelport.cli import app

    seen: dict[str, Any] = {}

    def fake_create_app(service: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise RuntimeError("stop before serving")

    monkeypatch.setattr(labelport.api, "create_app", fake_create_app)
    monkeypatch.delenv("LABELPORT_MAX_BODY_MB", raising=False)
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), *argv])
    assert isinstance(result.exception, RuntimeError), result.output
    assert seen["max_body_bytes"] == expected_mb << 20
