"""Property tests of the native API against its own OpenAPI document (schemathesis).

Every operation gets generated requests (valid and not); no answer may be a 5xx or disagree with
the schema the app publishes. The project in the path is the key's own, so that generation reaches
past the project check into the routes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from labelport.api import create_app
from labelport.service import Service
from server_helpers import make_project

# A batch's body is NDJSON text: generated strings go as they are.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

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


# The operations, read from the document itself (the app needs no Service to describe itself),
# so a new route is fuzzed without touching this file.
OPERATIONS = [
    (method.upper(), path)
    for path, item in create_app(None).openapi()["paths"].items()
    for method in item
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_native_api_against_its_schema(
    api_schema: Any, api_state: dict[str, Any], method: str, path: str, mode: GenerationMode
) -> None:
    project = api_state["project"]
    client_id, secret = project.auth("admin")
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    operation = api_schema[path][method]
    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters={"project_string_id": project.string_id}
    )

    @given(case=strategy)
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Basic {token}"}, checks=CHECKS)

    run()
