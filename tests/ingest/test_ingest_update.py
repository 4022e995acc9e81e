"""Re-imports into an existing file: `update` adds, `update_with_existing` replaces; external ids
upsert; sequences follow."""

from __future__ import annotations

import json
import subprocess
import sys

from ingest_helpers import box, row_counts
from sqlalchemy import select

from labelport.ingest.rows import content_hash
from labelport.store import tables
from labelport.store.plan import INSTANCE_COLUMNS, NO_DIGEST


def _first_image(project, media, instances) -> int:
    done = project.run(media.packet("image.png", "image", instance_list=instances))
    assert done["status"] == "success", done
    return done["file_id"]


def test_update_adds_to_the_file(project, media) -> None:
    file_id = _first_image(project, media, [box("cat", 1, 1, 10, 10), box("dog", 2, 2, 20, 20)])
    done = project.run(
        {"file_id": file_id, "mode": "update", "instance_list": [box("dog", 3, 3, 30, 30)]}
    )
    assert done["status"] == "success", done
    assert (done["file_id"], done["mode"]) == (file_id, "update")
    assert (done["counts"]["added"], done["counts"]["removed"]) == (1, 0)
    assert sorted(i["x_max"] for i in project.instances(file_id)) == [10, 20, 30]
    assert row_counts(project.service)["file"] == 1


def test_update_checks_against_the_stored_media_at_submit(project, media) -> None:
    file_id = _first_image(project, media, [box("cat", 1, 1, 10, 10)])
    problems = project.rejected({"file_id": file_id, "instance_list": [box("cat", 1, 1, 5000, 5)]})
    assert [(p["code"], p["path"]) for p in problems] == [
        ("shape.outside_media", "instance_list/0/x_max")
    ]
    problems = project.rejected({"file_id": 987654, "instance_list": [box("cat", 1, 1, 5, 5)]})
    assert [(p["code"], p["path"]) for p in problems] == [("file.not_found", "file_id")]


def test_update_with_existing_replaces(project, media) -> None:
    kept, moved, dropped = (
        box("cat", 1, 1, 10, 10),
        box("dog", 2, 2, 20, 20),
        box("cat", 3, 3, 9, 9),
    )
    file_id = _first_image(project, media, [kept, moved, dropped, {**kept}])
    new = box("dog", 5, 5, 50, 50)
    done = project.run(
        {
            "file_id": file_id,
            "mode": "update_with_existing",
            "instance_list": [kept, {**moved, "x_max": 25}, new, {**kept}],
        }
    )
    assert done["status"] == "success", done
    counts = done["counts"]
    assert (counts["unchanged"], counts["added"], counts["removed"]) == (2, 2, 2)
    assert sorted(i["x_max"] for i in project.instances(file_id)) == [10, 10, 25, 50]


def test_external_ids_are_upserted_never_duplicated(project, media) -> None:
    original = [box("cat", 1, 1, 10, 10, id="a"), box("dog", 2, 2, 20, 20, id=7)]
    file_id = _first_image(project, media, original)
    ids = {i["external_id"]: i["id"] for i in project.instances(file_id)}
    for _ in range(2):  # the same packet again, twice: nothing new
        done = project.run({"file_id": file_id, "instance_list": original})
        assert (done["counts"]["added"], done["counts"]["unchanged"]) == (0, 2), done
    changed = [
        box("cat", 1, 1, 15, 10, id="a"),
        box("dog", 2, 2, 20, 20, id=7),
        box("dog", 0, 0, 1, 1, id="new"),
    ]
    done = project.run({"file_id": file_id, "instance_list": changed})
    counts = done["counts"]
    assert (counts["added"], counts["unchanged"], counts["replaced"]) == (1, 1, 1), counts
    stored = {i["external_id"]: i for i in project.instances(file_id)}
    assert set(stored) == {"a", "7", "new"}
    assert stored["a"]["x_max"] == 15 and stored["a"]["id"] == ids["a"]  # updated in place
    assert stored["7"]["id"] == ids["7"]


def test_sequences_are_recomputed_on_replace(project, media) -> None:
    first = project.run(
        media.packet(
            "clip.mp4",
            "video",
            frame_packet_map={
                0: [box("cat", 1, 1, 5, 5, number=1), box("dog", 1, 1, 5, 5, number=3)],
                5: [box("cat", 1, 1, 5, 5, number=1)],
            },
        )
    )
    assert first["status"] == "success", first
    file_id = first["file_id"]
    done = project.run(
        {
            "file_id": file_id,
            "mode": "update_with_existing",
            "frame_packet_map": {
                5: [box("cat", 1, 1, 5, 5, number=1)],
                7: [box("cat", 2, 2, 6, 6, number=1), box("cat", 1, 1, 5, 5, number=2)],
            },
        }
    )
    assert done["status"] == "success", done
    counts = done["counts"]
    assert (counts["sequences_expected"], counts["sequences_created"]) == (2, 1)
    assert counts["sequences_extended"] == 1
    assert (counts["unchanged"], counts["added"], counts["removed"]) == (1, 2, 2)
    sequences = project.sequences(file_id)
    assert set(sequences) == {("cat", 1), ("cat", 2)}  # dog 3 lost its instances
    assert sequences[("cat", 1)]["keyframes"] == [5, 7]
    assert sequences[("cat", 1)]["instance_count"] == 2
    assert sequences[("cat", 2)]["keyframes"] == [7]

    extend = project.run(
        {"file_id": file_id, "frame_packet_map": {9: [box("cat", 1, 1, 5, 5, number=2)]}}
    )
    assert extend["counts"]["sequences_extended"] == 1
    assert project.sequences(file_id)[("cat", 2)]["keyframes"] == [7, 9]
    seq_id = sequences[("cat", 2)]["id"]
    by_id = project.run(
        {"file_id": file_id, "frame_packet_map": {12: [box("cat", 1, 1, 5, 5, sequence_id=seq_id)]}}
    )
    assert by_id["status"] == "success", by_id
    after = project.sequences(file_id)
    assert after[("cat", 2)]["keyframes"] == [7, 9, 12]
    assert set(after) == {("cat", 1), ("cat", 2)}


REIMPORT_ELSEWHERE = r"""
import json, sys
from labelport.service import Service
data_dir, database_url, project_id, packet = sys.argv[1:5]
with Service.open(data_dir=data_dir, database_url=database_url, workers=0) as service:
    queued = service.submit_packet(int(project_id), packet.encode())
    service.job.run(queued["id"])
    print(json.dumps(service.get_import(int(project_id), queued["id"])["counts"]))
"""


def test_unchanged_instances_are_recognised_by_another_process(project, media, database, tmp_path):
    """Content hashes must not depend on the process (Python 3.11 hashes None by address)."""
    instances = [box("cat", 1, 1, 10, 10), box("dog", 2.5, 2, 20, 20, score=0.25)]
    file_id = _first_image(project, media, instances)
    packet = {"file_id": file_id, "mode": "update_with_existing", "instance_list": instances}
    out = subprocess.run(
        [sys.executable, "-c", REIMPORT_ELSEWHERE, str(tmp_path / "elsewhere"), database.url,
         str(project.id), json.dumps(packet)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    counts = json.loads(out.stdout)
    assert (counts["unchanged"], counts["added"], counts["removed"]) == (2, 0, 0), counts


def test_inverted_box_is_stored_swapped_with_a_warning(project, media) -> None:
    done = project.run(media.packet("image.png", "image", instance_list=[box("cat", 50, 60, 5, 6)]))
    assert done["status"] == "success", done
    assert [(w["code"], w["path"]) for w in done["warnings"]] == [
        ("box.inverted", "instance_list/0/x_min"),
        ("box.inverted", "instance_list/0/y_min"),
    ]
    (stored,) = project.instances(done["file_id"])
    assert (stored["x_min"], stored["y_min"], stored["x_max"], stored["y_max"]) == (5, 6, 50, 60)


# --- a file's first import stores no content digest; later merges still recognise its rows ----


def _digests(project, file_id: int) -> dict[str | None, str]:
    """content_hash per instance, by external id (or by "frame/x_max" for rows without one)."""
    with project.service.store.engine.connect() as conn:
        rows = conn.execute(
            select(
                tables.instance.c.external_id,
                tables.instance.c.frame,
                tables.instance.c.x_max,
                tables.instance.c.content_hash,
            ).where(tables.instance.c.file_id == file_id)
        ).all()
    return {ext if ext is not None else f"{frame}/{x_max:g}": h for ext, frame, x_max, h in rows}


def _video(frames: dict[int, list[dict]]) -> dict[str, list[dict]]:
    return {str(frame): instances for frame, instances in frames.items()}


def test_first_import_has_no_digests_and_update_with_existing_still_finds_unchanged(
    project, media
) -> None:
    first = _video(
        {
            0: [box("cat", 1, 1, 10, 10, number=1), box("dog", 2, 2, 20, 20, number=1)],
            1: [box("cat", 1, 1, 11, 10, number=1), box("dog", 2, 2, 21, 20, number=1)],
            2: [box("cat", 1, 1, 12, 10, number=1, machine_made=False)],
        }
    )
    done = project.run(media.packet("clip.mp4", "video", frame_packet_map=first))
    assert done["status"] == "success", done
    file_id = done["file_id"]
    assert set(_digests(project, file_id).values()) == {NO_DIGEST}
    ids = {(i["frame"], i["x_max"]): i["id"] for i in project.instances(file_id)}

    second = _video(
        {
            0: first["0"],  # unchanged
            1: [first["1"][0], box("dog", 2, 2, 21, 20, number=2)],  # dog moved to track 2
            2: [box("cat", 1, 1, 12, 10, number=1)],  # machine_made changed (default True)
            3: [box("dog", 3, 3, 33, 30, number=1)],  # new
        }
    )
    done = project.run(
        {"file_id": file_id, "mode": "update_with_existing", "frame_packet_map": second}
    )
    assert done["status"] == "success", done
    counts = done["counts"]
    assert (counts["unchanged"], counts["added"], counts["removed"]) == (3, 3, 2), counts
    stored = {(i["frame"], i["x_max"]): i for i in project.instances(file_id)}
    for kept in ((0, 10), (0, 20), (1, 11)):
        assert stored[kept]["id"] == ids[kept]  # the very rows of the first import
    assert stored[(1, 21)]["number"] == 2 and stored[(2, 12)]["machine_made"] is True
    assert stored[(3, 33)]["label_name"] == "dog"
    assert project.sequences(file_id)[("dog", 1)]["keyframes"] == [0, 3]
    digests = _digests(project, file_id)
    assert digests["0/10"] == digests["1/11"] == NO_DIGEST  # kept as they were
    assert NO_DIGEST not in {digests["1/21"], digests["2/12"], digests["3/33"]}  # merged rows
    # ... and their digest is the one earlier versions stored: the content_hash of the columns.
    i = tables.instance.c
    columns = [tables.instance.c[name] for name in INSTANCE_COLUMNS[:-1]]
    with project.service.store.engine.connect() as conn:
        row = conn.execute(select(*columns).where(i.file_id == file_id, i.frame == 3)).one()
    row = (*row[:4], bool(row[4]), *row[5:])
    assert digests["3/33"] == content_hash(row)

    # Rows with and without a digest side by side: the same packet again changes nothing.
    again = project.run(
        {"file_id": file_id, "mode": "update_with_existing", "frame_packet_map": second}
    )
    counts = again["counts"]
    assert (counts["unchanged"], counts["added"], counts["removed"]) == (6, 0, 0), counts
    assert {i["id"] for i in project.instances(file_id)} == {i["id"] for i in stored.values()}


def test_first_import_has_no_digests_and_external_ids_still_match(project, media) -> None:
    first = [
        box("cat", 1, 1, 10, 10, id="a"),
        box("dog", 2, 2, 20, 20, id="b", attribute_groups={}),
        box("cat", 3, 3, 30, 30, id="c", score=0.5),
        box("dog", 4, 4, 40, 40),
    ]
    file_id = _first_image(project, media, first)
    assert set(_digests(project, file_id).values()) == {NO_DIGEST}
    ids = {i["external_id"]: i["id"] for i in project.instances(file_id)}

    changed = [first[0], first[1], box("cat", 3, 3, 30, 30, id="c", score=0.75)]
    for mode in ("update", "update_with_existing"):
        done = project.run({"file_id": file_id, "mode": mode, "instance_list": changed})
        assert done["status"] == "success", done
        counts = done["counts"]
        if mode == "update":  # "c" replaced in place; the row without an id is left alone
            assert (counts["unchanged"], counts["replaced"], counts["removed"]) == (2, 1, 0)
        else:  # "c" is now what was sent; the row without an id was not sent again
            assert (counts["unchanged"], counts["replaced"], counts["removed"]) == (3, 0, 1)
        stored = {i["external_id"]: i for i in project.instances(file_id)}
        assert {k: v["id"] for k, v in stored.items() if k} == {k: v for k, v in ids.items() if k}
        assert stored["c"]["score"] == 0.75
    digests = _digests(project, file_id)
    assert digests["a"] == digests["b"] == NO_DIGEST and digests["c"] != NO_DIGEST
