"""How a batch must be sent: NDJSON (by any of its names), uncompressed, never as a form."""

from __future__ import annotations

import gzip
import json

import pytest
from fastapi.testclient import TestClient

from labelport.service import Service
from server_helpers import ProjectKeys

PACKET = {
    "media": {"url": "https://example.com/a.jpg", "type": "image"},
    "instance_list": [
        {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 3, "y_max": 4}
    ],
}
REFUSED = [
    {"content-type": "text/plain"},
    {"content-type": "application/x-www-form-urlencoded"},  # curl --data-binary's default
    {"content-type": "multipart/form-data; boundary=zz"},
    {"content-type": "application/xml"},
    {"content-type": "application/x-ndjson", "content-encoding": "gzip"},
    {"content-type": "application/x-ndjson", "content-encoding": "br"},
]
TAKEN = [None, "application/x-ndjson", "application/jsonl; charset=utf-8", "application/json"]


@pytest.mark.parametrize("headers", REFUSED, ids=lambda h: "-".join(h.values()))
def test_a_batch_sent_the_wrong_way_is_refused_whole(
    client: TestClient, project: ProjectKeys, service: Service, headers: dict[str, str]
) -> None:
    """As on the packet routes: a form or text (which a page of another site can post without
    asking) or a compressed body is refused, 415, and no batch or import is made of it."""
    body = b"\n".join([json.dumps(PACKET).encode()] * 2)
    if "content-encoding" in headers:
        body = gzip.compress(body)
    response = client.post(project.url("/batches"), content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "request.unsupported_media_type"
    assert service.list_batches(project.id) == ([], 0)
    assert service.list_imports(project.id) == ([], 0)


@pytest.mark.parametrize("content_type", TAKEN)
def test_a_batch_is_taken_as_ndjson_by_any_of_its_names(
    client: TestClient, project: ProjectKeys, service: Service, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    body = b"\xef\xbb\xbf" + json.dumps({**PACKET, "idempotency_key": "k"}).encode() + b"\n"
    response = client.post(project.url("/batches"), content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["file_count"] == 1
    # the byte order mark before the first line is not part of it: the line's key is found
    (line,), _ = service.list_imports(project.id)
    assert line["idempotency_key"] == "k"
