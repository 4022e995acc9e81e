"""Fixtures of the converter tests: an embedded Service (SQLite in tmp, one worker)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
_TESTS = str(Path(__file__).resolve().parent.parent)
for _path in (_TESTS, _HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from labelport.service import Service  # noqa: E402


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
