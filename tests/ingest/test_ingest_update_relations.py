"""Re-imports into an existing file (issue 13, item 6): relations may name the instances already
stored in the file (`update` mode), and the counts say exactly what the write did."""

from __future__ import annotations

from typing import Any

from ingest_helpers import box

from labelport.service import Service


def relation(start: Any, end: Any, **rest: Any) -> dict[str, Any]:
    return {"type": "relation", "from": start, "to": end, **rest}


def _stored_file(project, media) -> int:
    first = [
        box("cat", 1, 1, 10, 10, id="a"),
        box("dog", 2, 2, 20, 20, id="b"),
        box("cat", 3, 3, 30, 30, id=7),
    ]
    done = project.run(media.packet("image.png", "image", instance_list=first))
    assert done["status"] == "success", done
    return done["file_id"]


def _count_external_id_reads(service: Service, monkeypatch) -> list[int]:
    calls: list[int] = []
    read = service.store.external_ids

    def counting(file_id: int) -> set[str]:
        calls.append(file_id)
        return read(file_id)

    monkeypatch.setattr(service.store, "external_ids", counting)
    return calls


def test_update_relation_may_name_stored_instances(project, media, monkeypatch) -> None:
    file_id = _stored_file(project, media)
    reads = _count_external_id_reads(project.service, monkeypatch)
    for mode in ({"mode": "update"}, {}):  # `update` is the default with file_id
        reads.clear()
        links = [relation("a", "b"), relation(7, "c")] + [relation("b", "a")] * 20
        done = project.run(
            {
                "file_id": file_id,
                **mode,
                "instance_list": [box("dog", 4, 4, 40, 40, id="c"), *links],
            }
        )
        assert done["status"] == "success", done
        # The file's ids are read once for the whole import, however many relations name them.
        assert reads == [file_id], reads
    stored = project.instances(file_id)
    assert sum(i["type"] == "relation" for i in stored) == 2 * 22
    assert {i["external_id"] for i in stored} >= {"a", "b", "7", "c"}


def test_update_relation_to_no_instance_still_fails(project, media) -> None:
    file_id = _stored_file(project, media)
    problems = project.rejected(
        {
            "file_id": file_id,
            "instance_list": [box("dog", 4, 4, 40, 40, id="c"), relation("a", "zzz")],
        }
    )
    assert [(p["code"], p["path"]) for p in problems] == [
        ("relation.unknown_end", "instance_list/1/to")
    ]
    assert f"of this packet or of file {file_id}" in problems[0]["message"]
    # An integer end and a text end are one id only where the file stores them: "7" is stored,
    # 8 is not.
    problems = project.rejected({"file_id": file_id, "instance_list": [relation(7, 8)]})
    assert [(p["code"], p["path"]) for p in problems] == [
        ("relation.unknown_end", "instance_list/0/to")
    ]


def test_new_file_relation_names_only_its_packet(project, media) -> None:
    _stored_file(project, media)  # "a" exists, but in another file
    problems = project.rejected(
        media.packet(
            "image.png", "image", instance_list=[box("cat", 1, 1, 5, 5, id="x"), relation("x", "a")]
        )
    )
    assert [(p["code"], p["path"]) for p in problems] == [
        ("relation.unknown_end", "instance_list/1/to")
    ]
    assert "of this packet" in problems[0]["message"]


def test_update_with_existing_relation_names_only_what_it_sends(project, media) -> None:
    """update_with_existing removes every stored instance not sent again: a relation to one
    would point at nothing once written, so the packet must send it."""
    file_id = _stored_file(project, media)
    problems = project.rejected(
        {
            "file_id": file_id,
            "mode": "update_with_existing",
            "instance_list": [box("cat", 1, 1, 10, 10, id="a"), relation("a", "b")],
        }
    )
    assert [(p["code"], p["path"]) for p in problems] == [
        ("relation.unknown_end", "instance_list/1/to")
    ]
    assert "update_with_existing removes" in problems[0]["message"]
    done = project.run(
        {
            "file_id": file_id,
            "mode": "update_with_existing",
            "instance_list": [
                box("cat", 1, 1, 10, 10, id="a"),
                box("dog", 2, 2, 20, 20, id="b"),
                relation("a", "b"),
            ],
        }
    )
    assert done["status"] == "success", done
    assert sorted(str(i["external_id"]) for i in project.instances(file_id)) == [
        "None",
        "a",
        "b",
    ]


def test_update_counts_added_replaced_unchanged_exactly(project, media, monkeypatch) -> None:
    file_id = _stored_file(project, media)  # a, b, 7
    reads = _count_external_id_reads(project.service, monkeypatch)
    done = project.run(
        {
            "file_id": file_id,
            "mode": "update",
            "instance_list": [
                box("cat", 1, 1, 10, 10, id="a"),  # as stored: unchanged
                box("dog", 2, 2, 25, 20, id="b"),  # moved: replaced in place
                box("dog", 5, 5, 50, 50, id="d"),  # new
                box("dog", 6, 6, 60, 60),  # new, without id
            ],
        }
    )
    assert done["status"] == "success", done
    counts = done["counts"]
    got = tuple(counts[k] for k in ("added", "replaced", "unchanged", "removed"))
    assert got == (2, 1, 1, 0), counts
    assert len(project.instances(file_id)) == 3 + 2
    assert reads == []  # no relation names a stored instance: the file's ids are not read


def test_update_with_existing_counts_added_replaced_unchanged_exactly(project, media) -> None:
    file_id = _stored_file(project, media)  # a, b, 7
    more = project.run({"file_id": file_id, "instance_list": [box("dog", 6, 6, 60, 60)]})
    assert more["status"] == "success", more  # a, b, 7 and one without id
    done = project.run(
        {
            "file_id": file_id,
            "mode": "update_with_existing",
            "instance_list": [
                box("cat", 1, 1, 10, 10, id="a"),  # unchanged
                box("dog", 2, 2, 25, 20, id="b"),  # replaced
                box("dog", 5, 5, 50, 50, id="d"),  # added
                box("cat", 9, 9, 19, 19),  # added (no id, no stored twin)
                box("dog", 6, 6, 60, 60),  # unchanged: its stored twin without id
            ],
        }
    )
    assert done["status"] == "success", done
    counts = done["counts"]
    got = tuple(counts[k] for k in ("added", "replaced", "unchanged", "removed"))
    assert got == (2, 1, 2, 1), counts  # 7 removed
    assert len(project.instances(file_id)) == 5
