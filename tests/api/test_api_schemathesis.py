"""Property tests of the native API against its own OpenAPI document (schemathesis).

Every operation gets generated requests (valid and not); no answer may be a 5xx or disagree with
the schema the app publishes. The project in the path is the key's own, so that generation reaches
past the project check into the routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from labelport.api import create_app
from labelport.service import Service
from server_helpers import make_project

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def api_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis")
    # workers=0: generated packets are queued, never fetched; the checks before the queue run.
    service = Service.open(data_dir=data_dir, workers=0)
    try:
        project = make_project(service, "Fuzzed")
        labels = service.create_labels(project.id, ["cat", "dog"])
        service.create_attribute_group(
            project.id, name="size", kind="select", label_ids=[labels[0]["id"]], options=["s"]
        )
        service.submit_packet(
            project.id, {"text_data": "a b c", "original_filename": "t.txt", "instance_list": []}
        )
        app = create_app(service)
        yield {"app": app, "project": project}
    finally:
        service.close()


@pytest.fixture(scope="module")
def api_schema(api_state: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", api_state["app"])


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_native_api_against_its_schema(case: Any, api_state: dict[str, Any]) -> None:
    project = api_state["project"]
    if "project_string_id" in (case.path_parameters or {}):
        case.path_parameters["project_string_id"] = project.string_id
    client_id, secret = project.auth("admin")
    import base64

    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    case.call_and_validate(headers={"Authorization": f"Basic {token}"}, checks=CHECKS)
