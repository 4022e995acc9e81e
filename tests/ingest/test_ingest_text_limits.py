"""Lone surrogates and over-long strings, end to end on SQLite and PostgreSQL: refused at submit
with the problem at its path, the same on both databases, and nothing stored (no row, no label,
no blob); in a batch the line fails alone with the same problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import Media, Project, box, codes, row_counts

from labelport.errors import Rejected
from labelport.service import Service

LONG = "x" * 256
BAD = "bad\ud800"
NUL = "bad\x00text"  # PostgreSQL cannot store it in text


def blobs(service: Service) -> list[Path]:
    root: Path = service.blobs.root  # type: ignore[attr-defined]  # a LocalBlobStore
    return sorted(p for p in root.rglob("*") if p.is_file())


def label_count(project: Project) -> int:
    return len(project.service.list_labels(project.id))


def as_bytes(packet: dict[str, Any]) -> bytes:
    return json.dumps(packet).encode()  # writes a lone surrogate as its \\udXXX escape


CASES = {
    "surrogate key": ({"idempotency_key": BAD}, "value.invalid_text", "idempotency_key"),
    "long key": ({"idempotency_key": LONG}, "value.too_long", "idempotency_key"),
    "surrogate filename": (
        {"original_filename": BAD},
        "value.invalid_text",
        "original_filename",
    ),
    "surrogate label": ({"instances": [box(BAD, 1, 1, 5, 5)]}, "value.invalid_text", "0/name"),
    "long label": ({"instances": [box(LONG, 1, 1, 5, 5)]}, "value.too_long", "0/name"),
    "surrogate id": ({"instances": [box("cat", 1, 1, 5, 5, id=BAD)]}, "value.invalid_text", "0/id"),
    "long id": ({"instances": [box("cat", 1, 1, 5, 5, id=LONG)]}, "value.too_long", "0/id"),
    "long model_ref": (
        {"instances": [box("cat", 1, 1, 5, 5, model_ref=LONG)]},
        "value.too_long",
        "0/model_ref",
    ),
    "long model_run_ref": (
        {"instances": [box("cat", 1, 1, 5, 5, model_ref="m", model_run_ref=LONG)]},
        "value.too_long",
        "0/model_run_ref",
    ),
    "surrogate model_ref": (
        {"instances": [box("cat", 1, 1, 5, 5, model_ref=BAD)]},
        "value.invalid_text",
        "0/model_ref",
    ),
    "surrogate attribute": (
        {"instances": [box("cat", 1, 1, 5, 5, attribute_groups={"1": BAD})]},
        "value.invalid_text",
        "0/attribute_groups/1",
    ),
    "nul key": ({"idempotency_key": NUL}, "value.invalid_text", "idempotency_key"),
    "nul filename": ({"original_filename": NUL}, "value.invalid_text", "original_filename"),
    "nul label": ({"instances": [box(NUL, 1, 1, 5, 5)]}, "value.invalid_text", "0/name"),
    "nul id": ({"instances": [box("cat", 1, 1, 5, 5, id=NUL)]}, "value.invalid_text", "0/id"),
    "nul attribute": (
        {"instances": [box("cat", 1, 1, 5, 5, attribute_groups={"1": NUL})]},
        "value.invalid_text",
        "0/attribute_groups/1",
    ),
    "blank label": ({"instances": [box("  ", 1, 1, 5, 5)]}, "label.missing", "0/name"),
}


@pytest.mark.parametrize("on_error", ["reject", "skip_instances"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_at_submit_with_its_path_and_nothing_stored(
    project: Project, media: Media, case: str, on_error: str
) -> None:
    keys, code, where = CASES[case]
    instances = keys.get("instances", [box("cat", 1, 1, 5, 5)])
    keys = {k: v for k, v in keys.items() if k != "instances"}
    packet = media.packet(
        "image.png",
        "image",
        instance_list=[box("dog", 1, 1, 5, 5), *instances],
        auto_create_labels=True,
        on_error=on_error,
        **keys,
    )
    path = where if "/" not in where else f"instance_list/{1 + int(where[0])}{where[1:]}"
    before, labels, stored = (
        row_counts(project.service),
        label_count(project),
        blobs(project.service),
    )
    if on_error == "skip_instances" and path.startswith("instance_list"):
        # the bad instance is left out; the rest imports, its problem reported
        done = project.service.wait_import(
            project.id, project.service.submit_packet(project.id, as_bytes(packet))["id"]
        )
        assert done["status"] == "success", done
        assert (code, path) in codes(done["problems"])
        assert [i["label_name"] for i in project.instances(done["file_id"])] == ["dog"]
        assert label_count(project) == labels
        return
    if on_error == "skip_instances" and path == "original_filename":
        # not worth refusing the packet over under skip_instances: imported without the name
        done = project.service.wait_import(
            project.id, project.service.submit_packet(project.id, as_bytes(packet))["id"]
        )
        assert done["status"] == "success", done
        assert (code, path) in codes(done["problems"])
        stored_name = project.service.get_file(project.id, done["file_id"])["original_filename"]
        assert stored_name != keys["original_filename"]
        return
    with pytest.raises(Rejected) as refused:
        project.service.submit_packet(project.id, as_bytes(packet))
    found = {(p.code, p.path) for p in refused.value.report.problems}
    assert (code, path) in found
    json.dumps(refused.value.report.to_dict(), ensure_ascii=False).encode()  # sendable
    assert row_counts(project.service) == before
    assert label_count(project) == labels  # auto_create_labels created none
    assert blobs(project.service) == stored
    # nothing stored but the record of the refusal (docs/imports.md)
    assert [i["status"] for i in project.service.list_imports(project.id)[0]] == ["rejected"]


def test_auto_created_label_names_are_checked_before_any_is_made(
    project: Project, media: Media
) -> None:
    packet = media.packet(
        "image.png",
        "image",
        instance_list=[box("new", 1, 1, 5, 5), box(LONG, 1, 1, 5, 5)],
        auto_create_labels=True,
    )
    labels = label_count(project)
    assert codes(project.rejected(packet)) == {("value.too_long", "instance_list/1/name")}
    assert label_count(project) == labels  # "new" is not made for a refused packet


def test_a_255_character_key_label_and_id_are_stored(project: Project, media: Media) -> None:
    name, key = "n" * 255, "k" * 255
    packet = media.packet(
        "image.png",
        "image",
        idempotency_key=key,
        auto_create_labels=True,
        instance_list=[box(name, 1, 1, 5, 5, id="i" * 255, model_ref="m" * 255)],
    )
    done = project.run(packet)
    assert done["status"] == "success", done
    assert done["idempotency_key"] == key
    assert [i["label_name"] for i in project.instances(done["file_id"])] == [name]


@pytest.mark.parametrize("names", [[LONG], ["ok", BAD]])
def test_labels_made_through_the_service_have_the_same_limits(
    project: Project, names: list[str]
) -> None:
    labels = label_count(project)
    with pytest.raises(Rejected) as refused:
        project.service.create_labels(project.id, names)
    problem = refused.value.report.problems[0]
    assert problem.path == f"names/{len(names) - 1}"
    assert problem.code in ("value.too_long", "value.invalid_text")
    assert "label names" in refused.value.message
    refused.value.message.encode()
    assert label_count(project) == labels


@pytest.mark.parametrize("on_error", ["reject", "skip_instances"])
def test_a_batch_line_with_an_unusable_key_fails_with_its_problem(
    service: Service, project: Project, media: Media, on_error: str
) -> None:
    good = media.packet("image.png", "image", instance_list=[box("cat", 1, 2, 30, 40)])
    lines = [
        as_bytes({**good, "idempotency_key": LONG}),
        as_bytes({**good, "idempotency_key": BAD}),
        as_bytes({**good, "instance_list": [box(LONG, 1, 1, 5, 5)]}),
        as_bytes({**good, "idempotency_key": "fine"}),
        as_bytes({**good, "idempotency_key": NUL}),  # PostgreSQL refused the whole batch
    ]
    batch = service.submit_batch(project.id, b"\n".join(lines) + b"\n", on_error=on_error)
    service.wait_batch(project.id, batch["id"], timeout=60)
    files = service.get_batch(project.id, batch["id"], per_page=100)["files"]
    status = {f["line"]: f["status"] for f in files}
    assert status[0] == status[1] == "rejected"  # refused before any fetch
    assert status[3] == "success"
    assert status[2] == ("success" if on_error == "skip_instances" else "rejected")
    problems = {f["line"]: codes(f["problems"]) for f in files}
    assert ("value.too_long", "idempotency_key") in problems[0]
    assert ("value.invalid_text", "idempotency_key") in problems[1]
    assert ("value.too_long", "instance_list/0/name") in problems[2]
    assert status[4] == "rejected" and ("value.invalid_text", "idempotency_key") in problems[4]
    assert LONG not in {label["name"] for label in service.list_labels(project.id)}


@pytest.mark.parametrize("name", ["a\x00b", "x" * 256, "   ", ""])
def test_a_project_name_that_cannot_be_stored_is_refused(project: Project, name: str) -> None:
    from labelport.errors import Invalid

    with pytest.raises(Invalid):
        project.service.create_project(name)


NAMED = {
    "directory": lambda s, p: s.create_directory(p, NUL),
    "attribute group": lambda s, p: s.create_attribute_group(p, name=NUL, kind="select"),
    "attribute group, long": lambda s, p: s.create_attribute_group(p, name=LONG, kind="text"),
    "option": lambda s, p: s.create_attribute_group(p, name="g", kind="select", options=[NUL]),
    "option dict": lambda s, p: s.create_attribute_group(
        p, name="g", kind="select", options=[{"name": "a", "display_name": NUL}]
    ),
    "added option": lambda s, p: s.add_attribute_option(
        p, s.create_attribute_group(p, name="h", kind="select")["id"], NUL
    ),
    "batch source": lambda s, p: s.submit_batch(p, b"{}\n", source=NUL),
    "batch source, long": lambda s, p: s.submit_batch(p, b"{}\n", source="s" * 33),
}


@pytest.mark.parametrize("what", sorted(NAMED))
def test_names_that_cannot_be_stored_are_refused_before_the_database(
    project: Project, what: str
) -> None:
    from labelport.errors import Invalid

    with pytest.raises(Invalid):
        NAMED[what](project.service, project.id)
    assert blobs(project.service) == []  # a batch refused keeps no body


@pytest.mark.parametrize("value", [NUL, BAD])
def test_no_text_the_database_cannot_take_reaches_it(project: Project, value: str) -> None:
    """Whatever a caller's text is used for (here a filter of the imports listed), one with a
    NUL or a lone surrogate is refused as invalid (HTTP 400) before the database sees it: on
    PostgreSQL the driver's DataError was an internal error (500)."""
    from labelport.errors import Invalid

    with pytest.raises(Invalid, match="NUL character"):
        project.service.list_imports(project.id, status=value)
    with pytest.raises(Invalid):
        project.service.find_imports(project.id, keys=[value], stems=[])
    assert project.service.list_imports(project.id) == ([], 0)  # the store still answers
