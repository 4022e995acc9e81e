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
