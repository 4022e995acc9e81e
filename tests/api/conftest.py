"""Fixtures of the HTTP tests: a real Service on a temp directory, a project with keys, clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport.api import create_app
from labelport.service import Service
from server_helpers import ProjectKeys, make_project


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service.open(data_dir=tmp_path / "data", allow_private_urls=True, workers=2)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def project(service: Service) -> ProjectKeys:
    p = make_project(service, "Alpha project")
    service.create_labels(p.id, ["cat", "another"])
    return p


@pytest.fixture
def app(service: Service) -> Any:
    return create_app(service)


@pytest.fixture
def client(app: Any, project: ProjectKeys) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        c.auth = project.auth("admin")
        yield c


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    from media_factory import make_jpeg, make_mp4

    root = tmp_path / "media"
    root.mkdir()
    make_jpeg(root / "cat.jpg", 1024, 1024)
    make_mp4(root / "clip.mp4", frames=30, fps=10, width=1024, height=1024)
    return root


@pytest.fixture
def media_server(media_dir: Path) -> Iterator[Any]:
    from media_factory import serve_directory

    with serve_directory(media_dir) as server:
        yield server
