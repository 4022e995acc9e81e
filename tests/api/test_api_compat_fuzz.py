"""Generated bad packets on the diffgram SDK's packet route: always a readable 400, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelport.api import create_app
from labelport.service import Service
from server_helpers import ProjectKeys, make_project

json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
coordinate = st.one_of(json_scalar, st.integers(min_value=-5, max_value=2000))
instance = st.one_of(
    json_value,
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["box", "polygon", "point", "tag", "nonsense", 3, None]),
            "name": st.sampled_from(["cat", "another", "Cat", "", None, 7]),
        },
        optional={
            "x_min": coordinate,
            "y_min": coordinate,
            "x_max": coordinate,
            "y_max": coordinate,
            "number": coordinate,
            "label_file_id": coordinate,
            "points": json_value,
            "machine_made": json_value,
            "frame_number": coordinate,
            "attribute_groups": json_value,
        },
    ),
)
instance_list = st.one_of(json_value, st.lists(instance, max_size=5))
frame_key = st.one_of(
    st.integers(min_value=-3, max_value=10**12).map(str),
    st.sampled_from(["06", "1.0", "x", "", "-1"]),
)
packet = st.fixed_dictionaries(
    {},
    optional={
        # Unreachable URLs: whatever is accepted is queued and fetched by no one (workers=0).
        "media": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {
                    "url": st.sampled_from(["http://127.0.0.1:9/a.jpg", "", None, "ftp://x"]),
                    "type": st.sampled_from(["image", "video", "text", "bogus", None]),
                }
            ),
        ),
        "instance_list": instance_list,
        "frame_packet_map": st.one_of(
            json_value, st.dictionaries(frame_key, instance_list, max_size=3)
        ),
        "file_id": coordinate,
        "mode": st.sampled_from(["update", "update_with_existing", "bogus", None]),
        "directory_id": coordinate,
        "text_data": st.one_of(st.text(max_size=20), json_value),
        "original_filename": json_value,
        "on_error": json_value,
        "idempotency_key": json_value,
    },
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("compat-fuzz")
    service = Service.open(data_dir=data_dir, workers=0)
    try:
        project: ProjectKeys = make_project(service, "Fuzz compat")
        service.create_labels(project.id, ["cat", "another"])
        with TestClient(create_app(service), raise_server_exceptions=False) as client:
            client.auth = project.auth("editor")
            yield client, project
    finally:
        service.close()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(packet, json_value))
def test_bad_packets_are_400_never_500(fuzz_client: tuple[TestClient, Any], body: Any) -> None:
    client, project = fuzz_client
    response = client.post(
        f"/api/walrus/v1/project/{project.string_id}/input/packet",
        json=body,
        headers={"directory_id": "1"},
    )
    assert response.status_code in (200, 400, 404), response.text
    answer = response.json()
    if response.status_code == 200:
        assert answer["log"]["success"] is True and isinstance(answer["input_id"], int)
    else:
        assert answer["log"]["success"] is False
        assert isinstance(answer["log"]["error"], str) and answer["log"]["error"]
