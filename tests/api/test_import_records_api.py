"""Every import names its media and key; every packet refused at submit leaves a `rejected`
record (native and compat routes, uploads, undecodable bodies), which never holds its key."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from server_helpers import ProjectKeys, wait_import

WALRUS = "/api/walrus/v1/project/{psid}"


def box(name: str = "cat", **over: Any) -> dict[str, Any]:
    return {"type": "box", "name": name, "x_min": 10, "y_min": 20, "x_max": 110, "y_max": 220,
            **over}  # fmt: skip


def test_a_refused_packet_leaves_a_rejected_record_and_its_key_stays_free(
    client: TestClient, project: ProjectKeys, media_server: Any
) -> None:
    url = media_server.url("cat.jpg")
    bad = {
        "media": {"url": url, "type": "image"},
        "idempotency_key": "photos/cat.jpg#1",
        "instance_list": [box("car") for _ in range(5)] + [box(x_max="wide")],
    }
    refused = client.post(project.url("/packets"), json=bad)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "packet.rejected" and error["problem_count"] == 6
    record_id = error["import_id"]

    record = client.get(project.url(f"/imports/{record_id}")).json()
    assert record["status"] == "rejected"
    assert record["media_name"] == "cat.jpg" and record["media_url"] == url
    assert record["idempotency_key"] == "photos/cat.jpg#1"
    assert record["problem_count"] == 6
    assert record["problem_counts_by_code"]["label.unknown"] == 5
    assert {p["path"] for p in record["problems"]} >= {"instance_list/0/name"}
    assert record["file_id"] is None and record["finished_at"] is not None

    listed = client.get(project.url("/imports?status=rejected")).json()
    assert [i["id"] for i in listed["items"]] == [record_id]
    # the key is not taken: looking it up finds nothing, the corrected packet is imported
    found = client.get(
        project.url("/imports/find"), params={"idempotency_key": bad["idempotency_key"]}
    )
    assert found.json()["found"] is None
    good = {**bad, "instance_list": [box()]}
    accepted = client.post(project.url("/packets"), json=good)
    assert accepted.status_code == 202, accepted.text
    done = wait_import(client, project, accepted.json()["id"])
    assert done["status"] == "success" and done["id"] != record_id
    assert done["media_name"] == "cat.jpg" and done["media_url"] == url
    assert done["idempotency_key"] == "photos/cat.jpg#1"
    # resent, the key answers the successful import; the rejected record stays as history
    again = client.post(project.url("/packets"), json=good).json()
    assert again["id"] == done["id"]
    statuses = [i["status"] for i in client.get(project.url("/imports")).json()["items"]]
    assert statuses == ["success", "rejected"]


def test_a_dry_run_leaves_no_record(client: TestClient, project: ProjectKeys) -> None:
    packet = {"text_data": "a b", "original_filename": "a.txt", "instance_list": [box("car")]}
    answer = client.post(project.url("/packets?dry_run=true"), json=packet)
    assert answer.status_code == 200 and answer.json()["problem_count"] >= 1
    answer = client.post(project.url("/packets"), json={**packet, "dry_run": True})
    assert answer.status_code == 200
    assert client.get(project.url("/imports")).json()["total"] == 0


def test_an_undecodable_packet_is_recorded_with_what_it_says(
    client: TestClient, project: ProjectKeys
) -> None:
    packet = {
        "media": {"url": "https://example.com/a/b%20c.png", "type": "image"},
        "idempotency_key": "b c",
        "instance_list": "not a list",
    }
    refused = client.post(project.url("/packets"), json=packet)
    assert refused.status_code == 422
    record = client.get(project.url(f"/imports/{refused.json()['error']['import_id']}")).json()
    assert record["status"] == "rejected"
    assert (record["media_name"], record["idempotency_key"]) == ("b c.png", "b c")
    assert record["media_type"] == "image"
    # not JSON at all: still a record, with nothing to name
    refused = client.post(
        project.url("/packets"), content=b"{nope", headers={"content-type": "application/json"}
    )
    assert refused.status_code == 422, refused.text
    record = client.get(project.url(f"/imports/{refused.json()['error']['import_id']}")).json()
    assert record["status"] == "rejected" and record["media_name"] is None
    assert record["problem_count"] >= 1


def test_an_upload_refused_is_recorded_under_its_file_name(
    client: TestClient, project: ProjectKeys, media_dir: Any
) -> None:
    with open(media_dir / "cat.jpg", "rb") as fh:
        refused = client.post(
            project.url("/files/upload"),
            files={"file": ("holiday 1.jpg", fh, "image/jpeg")},
            data={
                "packet": '{"instance_list": [{"type": "polygon", "name": "cat", "points": []}]}'
            },
        )
    assert refused.status_code == 422, refused.text
    record = client.get(project.url(f"/imports/{refused.json()['error']['import_id']}")).json()
    assert (record["status"], record["media_name"], record["media_url"]) == (
        "rejected",
        "holiday 1.jpg",
        None,
    )
    assert client.get(project.url("/files")).json()["total"] == 0


def test_the_compat_route_records_its_refusals_too(
    client: TestClient, project: ProjectKeys
) -> None:
    packet = {
        "media": {"url": "https://example.com/x/000123.jpg", "type": "image"},
        "instance_list": [box("no-such-label"), box("no-such-label")],
        "type": "from_url",
    }
    refused = client.post(WALRUS.format(psid=project.string_id) + "/input/packet", json=packet)
    assert refused.status_code == 400
    body = refused.json()
    assert body["problem_count"] == 2 and isinstance(body["import_id"], int)
    record = client.get(project.url(f"/imports/{body['import_id']}")).json()
    assert (record["status"], record["source"], record["media_name"]) == (
        "rejected",
        "diffgram_sdk",
        "000123.jpg",
    )


def _batch(client: TestClient, project: ProjectKeys, lines: list[dict[str, Any]]) -> dict:
    import json

    body = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    sent = client.post(
        project.url("/batches"), content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert sent.status_code in (200, 202), sent.text
    batch_id = sent.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        batch = client.get(project.url(f"/batches/{batch_id}"), params={"per_page": 100}).json()
        if batch["status"] in ("success", "partial", "failed"):
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish: {batch}")


def test_a_batch_line_names_its_media_and_a_refused_line_holds_no_key(
    client: TestClient, project: ProjectKeys, media_server: Any
) -> None:
    text = {"text_data": "hello", "original_filename": "notes.txt", "idempotency_key": "notes"}
    lines = [
        {"media": {"url": media_server.url("cat.jpg"), "type": "image"},
         "instance_list": [box()], "idempotency_key": "line-0"},
        {**text, "instance_list": [{"type": "tag", "name": "car"}]},
    ]  # fmt: skip
    batch = _batch(client, project, lines)
    assert batch["status"] == "partial"
    assert batch["counts"]["rejected"] == 1 and batch["counts"]["success"] == 1
    outcome = {
        f["line"]: (f["status"], f["idempotency_key"], f["media_name"]) for f in batch["files"]
    }
    assert outcome == {0: ("success", "line-0", "cat.jpg"), 1: ("rejected", "notes", "notes.txt")}
    items = client.get(project.url("/imports")).json()["items"]
    named = {i["media_name"]: (i["status"], i["idempotency_key"]) for i in items}
    assert named == {"cat.jpg": ("success", "line-0"), "notes.txt": ("rejected", "notes")}
    # refused before any fetch, the line holds no key: the corrected line is imported with it
    fixed = _batch(client, project, [{**text, "instance_list": [{"type": "tag", "name": "cat"}]}])
    assert fixed["status"] == "success" and fixed["files"][0]["duplicate"] is False
    assert fixed["files"][0]["idempotency_key"] == "notes"


def test_an_import_answers_its_problems_grouped(client: TestClient, project: ProjectKeys) -> None:
    packet = {
        "text_data": "a b c",
        "original_filename": "t.txt",
        "instance_list": [{"type": "tag", "name": "car"} for _ in range(1500)],
    }
    refused = client.post(project.url("/packets"), json=packet)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["problem_count"] == 1500 and len(error["problems"]) == 1000
    record = client.get(project.url(f"/imports/{error['import_id']}")).json()
    assert len(record["problems"]) == 100  # what a rejected record keeps
    (group,) = [g for g in record["problem_groups"] if not g["unlisted"]]
    # grouped from the whole answer (1,000 listed), the rest counted by code
    assert (group["code"], group["count"]) == ("label.unknown", 1000)
    assert [e["path"] for e in group["examples"]] == [f"instance_list/{k}/name" for k in range(3)]
    rest = [g for g in record["problem_groups"] if g["unlisted"]]
    assert [(g["code"], g["count"]) for g in rest] == [("label.unknown", 500)]
    listed = client.get(project.url("/imports")).json()["items"][0]
    assert "problem_groups" not in listed and "problem_groups" not in listed["counts"]
