"""`labelport serve --fetch-timeout` reaches the fetcher's deadline (issue 13, item 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labelport.cli import app
from labelport.errors import LabelportError
from labelport.service import Service


def _opened_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    real_open = Service.open

    def record(**kwargs: Any) -> Service:
        seen["service"] = real_open(**kwargs)
        seen["service"].close()
        raise LabelportError("stopped by the test before serving")

    monkeypatch.setattr(Service, "open", staticmethod(record))
    result = CliRunner().invoke(
        app, ["serve", "--data-dir", str(tmp_path / "data"), "--workers", "0", *args]
    )
    assert result.exit_code == 2 and "stopped by the test" in result.output, result.output
    return seen


def test_fetch_timeout_option_sets_the_fetch_deadline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    service = _opened_with(monkeypatch, tmp_path, "--fetch-timeout", "7.5")["service"]
    assert service.settings.fetch_timeout == 7.5
    assert service.job.media.fetch_config.total_timeout == 7.5


def test_fetch_timeout_defaults_to_a_minute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    service = _opened_with(monkeypatch, tmp_path)["service"]
    assert service.job.media.fetch_config.total_timeout == 60.0
    assert service.job.media.fetch_config.min_rate == 10 * 1024


@pytest.mark.parametrize(("kb_per_s", "rate"), [("2.5", 2560), ("0", 0)])
def test_fetch_min_rate_option_sets_the_minimum_rate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kb_per_s: str, rate: int
) -> None:
    service = _opened_with(monkeypatch, tmp_path, "--fetch-min-rate", kb_per_s)["service"]
    assert service.settings.fetch_min_rate == rate
    assert service.job.media.fetch_config.min_rate == rate


def test_worker_passes_its_fetch_bounds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`labelport worker --fetch-timeout --fetch-min-rate` reach the worker's Service."""
    import labelport.queue_worker

    seen: dict[str, Any] = {}

    def record(**kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(labelport.queue_worker, "run", record)
    result = CliRunner().invoke(
        app,
        [
            "worker",
            "--database-url",
            "postgresql://127.0.0.1/none",
            "--fetch-timeout",
            "12",
            "--fetch-min-rate",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (seen["fetch_timeout"], seen["fetch_min_rate"]) == (12.0, 1024)
    help_text = CliRunner().invoke(app, ["worker", "--help"]).output
    assert "--fetch-timeout" in help_text and "--fetch-min-rate" in help_text
