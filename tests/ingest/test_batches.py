"""Batches: many packets, one job; all or nothing per file; idempotent within and across batches.

Run on SQLite and PostgreSQL (the `service` fixture), with media served on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from ingest_helpers import Media, Project, box, codes, row_counts

from labelport.errors import Invalid
from labelport.service import Service, batch_lines


def _ndjson(packets: list[Any]) -> bytes:
    return b"".join(
        (p if isinstance(p, bytes) else msgspec.json.encode(p)) + b"\n" for p in packets
    )


def _image(media: Media, name: str = "image.png", **rest: Any) -> dict[str, Any]:
    return media.packet(name, "image", instance_list=[box("cat", 1, 2, 30, 40)], **rest)


def _run(service: Service, project: Project, packets: Any, **options: Any) -> dict[str, Any]:
    batch = service.submit_batch(project.id, packets, **options)
    ended = service.wait_batch(project.id, batch["id"], timeout=60)
    assert ended["status"] in ("success", "partial", "failed"), ended
    return service.get_batch(project.id, batch["id"], per_page=1000)


def test_a_batch_imports_every_file_with_its_own_import(
    service: Service, project: Project, media: Media
) -> None:
    packets = [_image(media), _image(media, "other.png"), _image(media, idempotency_key="k")]
    done = _run(service, project, _ndjson(packets))
    assert done["status"] == "success"
    assert done["counts"]["success"] == 3 and done["file_count"] == 3
    assert [f["line"] for f in done["files"]] == [0, 1, 2]
    assert all(f["counts"]["instances"] == 1 for f in done["files"])
    file_ids = {f["file_id"] for f in done["files"]}
    assert len(file_ids) == 3 and None not in file_ids
    for f in done["files"]:  # every line is an ordinary import: listed, shown, its file stored
        imp = service.get_import(project.id, f["import_id"])
        assert imp["status"] == "success" and imp["file_id"] == f["file_id"]
        assert [i["label_name"] for i in project.instances(f["file_id"])] == ["cat"]
    assert row_counts(service)["instance"] == 3
    assert service.get_file(project.id, done["files"][0]["file_id"])["width"] == 640


def test_one_bad_file_fails_alone_with_its_problems(
    service: Service, project: Project, media: Media
) -> None:
    outside = media.packet("image.png", "image", instance_list=[box("cat", 1, 2, 900, 40)])
    unknown = media.packet("other.png", "image", instance_list=[box("zebra", 1, 2, 3, 4)])
    packets = [_image(media), outside, b"{not json", unknown, _image(media, "other.png")]
    done = _run(service, project, _ndjson(packets))
    assert done["status"] == "partial"
    status = [f["status"] for f in done["files"]]
    assert status == ["success", "failed", "failed", "failed", "success"]
    assert ("shape.outside_media", "instance_list/0/x_max") in codes(done["files"][1]["problems"])
    assert {p["code"] for p in done["files"][2]["problems"]} == {"packet.not_json"}
    assert ("label.unknown", "instance_list/0/name") in codes(done["files"][3]["problems"])
    assert row_counts(service)["file"] == 2 and row_counts(service)["instance"] == 2


def test_skip_instances_for_the_batch_keeps_the_good_instances(
    service: Service, project: Project, media: Media
) -> None:
    packet = media.packet(
        "image.png", "image", instance_list=[box("cat", 1, 2, 3, 4), box("zebra", 1, 2, 3, 4)]
    )
    done = _run(service, project, [packet], on_error="skip_instances")
    (line,) = done["files"]
    assert line["status"] == "success" and line["counts"]["instances"] == 1
    assert line["counts"]["instances_skipped"] == 1 and line["problem_count"] == 1


def test_idempotency_keys_within_and_across_batches(
    service: Service, project: Project, media: Media
) -> None:
    first = _run(
        service,
        project,
        [_image(media, idempotency_key="a"), _image(media, idempotency_key="a")],
    )
    assert first["counts"]["duplicate"] == 1
    a, again = first["files"]
    assert again["duplicate"] and again["import_id"] == a["import_id"]
    second = _run(
        service,
        project,
        [_image(media, idempotency_key="a"), _image(media, "other.png", idempotency_key="b")],
    )
    assert second["files"][0]["duplicate"] and second["files"][0]["import_id"] == a["import_id"]
    assert not second["files"][1]["duplicate"]
    assert row_counts(service)["file"] == 2
    # A key sent alone later finds the batch's import.
    alone = service.submit_packet(project.id, _image(media, idempotency_key="b"))
    assert alone["id"] == second["files"][1]["import_id"]
    # A batch of nothing but repeats ends at once, as its first imports did.
    repeat = service.submit_batch(project.id, [_image(media, idempotency_key="a")])
    assert repeat["status"] == "success" and repeat["counts"]["duplicate"] == 1


def test_lines_of_many_chunks_and_updates_of_existing_files(
    service: Service, project: Project, media: Media
) -> None:
    service.settings = type(service.settings)(allow_private_urls=True, batch_chunk=3)
    first = _run(service, project, [_image(media, id=None) for _ in range(7)])
    assert first["counts"]["success"] == 7
    file_id = first["files"][0]["file_id"]
    update = {
        "file_id": file_id,
        "mode": "update_with_existing",
        "instance_list": [box("dog", 5, 5, 10, 10)],
    }
    done = _run(service, project, [update, _image(media)])
    assert [f["status"] for f in done["files"]] == ["success", "success"]
    assert [i["label_name"] for i in project.instances(file_id)] == ["dog"]
    shown = service.get_import(project.id, done["files"][0]["import_id"])
    assert (shown["mode"], shown["media_type"], shown["file_id"]) == (
        "update_with_existing",
        "image",
        file_id,
    )
    assert shown["directory_id"] == service.get_directory(project.id)["id"]


def test_options_are_checked(service: Service, project: Project) -> None:
    with pytest.raises(Invalid):
        service.submit_batch(project.id, b"", on_error="ignore")
    with pytest.raises(Invalid):
        service.submit_batch(project.id, b"", media="link")
    empty = service.submit_batch(project.id, b"\n\n")
    assert empty["status"] == "success" and empty["file_count"] == 0


def test_batch_lines_finds_lines_and_usable_keys(tmp_path: Path) -> None:
    body = tmp_path / "b.ndjson"
    body.write_bytes(
        b'{"idempotency_key": "x"}\n\n  {"a": 1}\r\n{"idempotency_key": "' + b"k" * 300 + b'"}\n['
    )
    lines = batch_lines(body)
    data = body.read_bytes()
    assert [data[x.offset : x.offset + x.length] for x in lines][:2] == [
        b'{"idempotency_key": "x"}',
        b'{"a": 1}',
    ]
    assert [x.idempotency_key for x in lines] == ["x", None, None, None]
