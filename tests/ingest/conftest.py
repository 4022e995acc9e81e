"""Fixtures of the ingest tests: a Service on each database, a project, and media served locally.

- `service`: `Service.open` on the test's `database` (SQLite and PostgreSQL), one worker thread,
  private URLs allowed (the media server is on 127.0.0.1).
- `project`: a project with labels "cat" and "dog"; `media`: the served files, by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_helpers import Media, Project, build_media

from labelport.service import Service
from media_factory import serve_directory


@pytest.fixture
def service(database, tmp_path: Path) -> Iterator[Service]:
    svc = Service.open(
        data_dir=tmp_path / "data", database_url=database.url, allow_private_urls=True, workers=1
    )
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def project(service: Service) -> Project:
    created = service.create_project("Ingest project")
    labels = service.create_labels(created["id"], ["cat", "dog"])
    return Project(service, created["id"], {label["name"]: label["id"] for label in labels})


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_media(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def media(media_root: Path) -> Iterator[Media]:
    with serve_directory(media_root) as server:
        yield Media(server)
