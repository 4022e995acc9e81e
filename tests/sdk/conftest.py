"""The SDK tests' server: a Service (two import threads, private media URLs allowed) serving the
API in a thread of this process, with one project and a key per role (`served`), and the SDK's
Project on it (`project`) with the key of `sdk_role`: editor, unless a module overrides it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import labelport
from labelport.api import create_app
from labelport.service import Service
from server_helpers import ProjectKeys, make_project, threaded_server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, ProjectKeys, Service]]:
    with Service.open(data_dir=tmp_path / "data", allow_private_urls=True, workers=2) as service:
        keys = make_project(service, "SDK tests")
        with threaded_server(create_app(service)) as base_url:
            yield base_url, keys, service


@pytest.fixture
def sdk_role() -> str:
    return "editor"


@pytest.fixture
def project(served: tuple[str, ProjectKeys, Service], sdk_role: str) -> Iterator[labelport.Project]:
    base_url, keys, _ = served
    client_id, secret = keys.auth(sdk_role)
    with labelport.Project(keys.string_id, client_id, secret, host=base_url) as p:
        yield p
