"""Fixtures of the converter tests: an embedded Service (SQLite in tmp, one worker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labelport.service import Service


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def service(data_dir: Path) -> Iterator[Service]:
    svc = Service.open(data_dir=data_dir, workers=1)
    try:
        yield svc
    finally:
        svc.close()
