"""Batches: many packets, one job; all or nothing per file; idempotent within and across batches.

Run on SQLite and PostgreSQL (the `service` fixture), with media served on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from ingest_helpers import Media, Project, box, codes, row_counts
from sqlalchemy import event

from labelport.errors import Invalid
from labelport.ingest import batch as batch_module
from labelport.ingest.batch import BatchJob
from labelport.service import Service, batch_lines


def _ndjson(packets: list[Any]) -> bytes:
    return b"".join(
        (p if isinstance(p, bytes) else msgspec.json.encode(p)) + b"\n" for p in packets
    )


def _image(media: Media, name: str = "image.png", **rest: Any) -> dict[str, Any]:
    return media.packet(name, "image", instance_list=[box("cat", 1, 2, 30, 40)], **rest)


def _configure(service: Service, **settings: Any) -> None:
    """New settings for the whole running Service (its fetcher is remade with them)."""
    new = dataclasses.replace(service.settings, **settings)
    service.settings = service.batch_job.settings = service.job.media.settings = new
    service.job.media.close()


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
    # the box outside the image fails in the job; the others are refused before any fetch
    assert status == ["success", "failed", "rejected", "rejected", "success"]
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
    _configure(service, batch_chunk=3)
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


def test_a_batch_is_read_once_for_all_its_chunks(
    service: Service, project: Project, media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(service, batch_chunk=2)
    by_chunks: list[int] = []
    real = service.store.get_batch

    def counted(batch_id: int, project_id: int | None = None) -> Any:
        if sys._getframe(1).f_code.co_name == "_batch_of":
            by_chunks.append(batch_id)
        return real(batch_id, project_id)

    monkeypatch.setattr(service.store, "get_batch", counted)
    done = _run(service, project, [_image(media, id=None) for _ in range(6)])
    assert done["counts"]["success"] == 6
    assert by_chunks == [done["id"]]  # three chunks, one read
    # A line whose body is not the held batch's (SQLite gives a deleted batch's id to the
    # next one) has its batch read again.
    job = service.batch_job
    line = service.store.batch_imports(done["id"], 0, 0)[0]
    assert job._batch_of(line) is job._batches[done["id"]]
    assert by_chunks == [done["id"]]
    job._batch_of(dataclasses.replace(line, packet_blob_key="batches/another.ndjson"))
    assert by_chunks == [done["id"], done["id"]]


def test_a_window_s_key_and_stem_look_ups_are_one_read(service: Service, project: Project) -> None:
    begun: list[int] = []
    listen = event.listens_for(service.store.engine, "begin")
    listen(lambda conn: begun.append(1))
    found = service.find_imports(project.id, keys=["a#1", "b#2"], stems=["a", "b"])
    assert found == {"keys": {}, "latest": {}, "latest_success": {}}
    assert len(begun) == 1


def test_workers_that_claim_by_themselves_get_no_job_per_chunk(
    service: Service, project: Project, media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_heads(*args: Any) -> Any:
        raise AssertionError("chunk heads looked up for workers that claim by themselves")

    monkeypatch.setattr(service.store, "batch_chunk_heads", no_heads)
    woken: list[int] = []
    monkeypatch.setattr(service.dispatcher, "notify", lambda: woken.append(1))
    assert service.dispatcher.claims_queued
    service.submit_batch(project.id, _ndjson([_image(media)]))
    assert woken == [1]


@pytest.mark.parametrize(
    ("lengths", "groups"),
    [
        ([], []),
        ([0], [[0]]),
        ([None, 5], [[None, 5]]),
        ([4, 4, 4], [[4, 4], [4]]),
        ([20, 1, 1], [[20], [1, 1]]),  # a line larger than the budget runs alone
        ([1, 20, 1], [[1], [20], [1]]),
        ([8, 0, 0, 1], [[8, 0, 0], [1]]),
    ],
)
def test_lines_are_grouped_by_bytes(lengths: list[Any], groups: list[list[Any]]) -> None:
    rows = [SimpleNamespace(packet_length=n) for n in lengths]
    got = batch_module._by_size(rows, 8)  # type: ignore[arg-type]
    assert [[r.packet_length for r in g] for g in got] == groups


def test_big_lines_run_a_few_at_a_time_not_a_whole_chunk_at_once(
    service: Service, project: Project, media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's packets are held in memory together while they run: its lines run in groups of
    at most `_GROUP_BYTES` of JSON, a bigger line alone, so a chunk of video tracks (tens of MB
    a line) is never held whole. Each group ends in its own transaction."""
    packets = [_image(media, idempotency_key=f"k{n}") for n in range(5)]
    size = max(len(msgspec.json.encode(p)) for p in packets)
    monkeypatch.setattr(batch_module, "_GROUP_BYTES", 2 * size)
    runs: list[int] = []
    run = BatchJob._run

    def counted(job: BatchJob, batch: Any, rows: list[Any], then_claim: Any) -> Any:
        runs.append(len(rows))
        return run(job, batch, rows, then_claim)

    monkeypatch.setattr(BatchJob, "_run", counted)
    done = _run(service, project, _ndjson(packets))
    assert done["counts"]["success"] == 5 and row_counts(service)["instance"] == 5
    assert runs == [2, 2, 1]
    monkeypatch.setattr(batch_module, "_GROUP_BYTES", 1)  # every line larger: each alone
    runs.clear()
    more = [_image(media, idempotency_key=f"k{n}") for n in (5, 6)]
    done = _run(service, project, _ndjson(more))
    assert runs == [1, 1] and done["counts"]["success"] == 2


def test_the_lines_with_warnings_are_paged_alone(
    service: Service, project: Project, media: Media
) -> None:
    """`warned=True`: a page of the lines whose import has warnings (a box less than a pixel
    past its 640 px image, clamped), each with its first warnings; the others are not read."""
    past = media.packet("image.png", "image", instance_list=[box("cat", 600, 2, 640.5, 40)])
    packets = [_image(media), past, _image(media, "other.png"), past]
    done = _run(service, project, _ndjson(packets))
    assert done["status"] == "success"
    assert [f["warning_count"] for f in done["files"]] == [0, 1, 0, 1]
    # counted with the lines, so that a client sees whether there are any to read
    assert done["counts"] == {"success": 4, "duplicate": 0, "warned": 2}
    warned = service.get_batch(project.id, done["id"], warned=True)["files"]
    assert [f["line"] for f in warned] == [1, 3]
    assert [(w["code"], w["path"]) for w in warned[0]["warnings"]] == [
        ("shape.clamped", "instance_list/0/x_max")
    ]
    second = service.get_batch(project.id, done["id"], warned=True, per_page=1, page=2)
    assert [f["line"] for f in second["files"]] == [3]
    assert service.get_batch(project.id, done["id"], warned=True, page=2)["files"] == []


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
    # a byte order mark before the first line is not part of it: its key is found
    body.write_bytes(b'\xef\xbb\xbf{"idempotency_key": "x"}\n')
    (line,) = batch_lines(body)
    assert (line.offset, line.length, line.idempotency_key) == (3, 24, "x")
    # a body larger than the pages kept while it is scanned (they are handed back as it goes)
    line = b'{"idempotency_key": "%d", "instance_list": [' + b"1," * 50_000 + b"1]}\n"
    body.write_bytes(b"".join(line % n for n in range(200)))
    lines = batch_lines(body)
    assert [x.idempotency_key for x in lines] == [str(n) for n in range(200)]
    assert [x.offset for x in lines] == [sum(len(line % k) for k in range(n)) for n in range(200)]


def test_one_slow_source_does_not_hold_the_rest_of_its_chunk(
    service: Service, project: Project, media: Media
) -> None:
    _configure(service, straggler_seconds=0.2)
    media.server.delays["/other.png"] = 5.0  # long enough for the rest under load
    try:
        packets = [_image(media), _image(media), _image(media, "other.png"), _image(media)]
        batch = service.submit_batch(project.id, packets)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            shown = service.get_batch(project.id, batch["id"])
            status = [f["status"] for f in shown["files"]]
            if status.count("success") == 3:
                break
            time.sleep(0.05)
        # The fast files are stored while the slow one is still being fetched.
        assert status[:2] == ["success", "success"] and status[3] == "success", status
        assert status[2] not in ("success", "failed")
        done = service.wait_batch(project.id, batch["id"], timeout=30)
        assert done["status"] == "success" and done["counts"]["success"] == 4
    finally:
        media.server.delays.clear()


def test_media_by_reference_is_probed_not_copied(
    service: Service, project: Project, media: Media, media_root: Path
) -> None:
    done = _run(service, project, [_image(media)], media="reference")
    (line,) = done["files"]
    assert line["status"] == "success"
    row = service.store.get_file(line["file_id"], project.id)
    assert row.blob_key is None and row.source_url == media.url("image.png")
    assert (row.width, row.height, row.size) == (
        640,
        480,
        (media_root / "image.png").stat().st_size,
    )
    stream, content_type = service.open_file_media(project.id, line["file_id"])
    with stream:
        assert stream.read() == (media_root / "image.png").read_bytes()
    assert content_type == "image/png"


def test_local_files_under_a_media_root_only(
    service: Service, project: Project, media_root: Path, tmp_path: Path
) -> None:
    url = (media_root / "image.png").resolve().as_uri()
    packet = {"media": {"url": url, "type": "image"}, "instance_list": [box("cat", 1, 2, 3, 4)]}
    refused = _run(service, project, [packet])
    assert refused["files"][0]["problems"][0]["code"] == "media.url_refused"
    _configure(service, media_roots=(media_root.resolve(),))
    done = _run(service, project, [packet])
    assert done["files"][0]["status"] == "success"
    row = service.store.get_file(done["files"][0]["file_id"], project.id)
    assert row.blob_key is not None  # copied by default


def test_a_refused_chunk_write_is_retried_file_by_file(
    service: Service, project: Project, media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the chunk's one transaction is refused, each file is written alone: only the file at
    fault fails (with a problem saying the database refused it), the others land."""
    from labelport.store.errors import Conflict

    def refuse_chunk(batch_id: int, plans: Any, failures: Any, **start: Any) -> None:
        raise Conflict("refused as a whole")

    write_one = service.store.write_import
    bad_line: dict[str, int] = {}

    def refuse_one(plan: Any) -> Any:
        if service.store.get_import(plan.import_id).batch_line == 1:
            bad_line["import"] = plan.import_id
            raise Conflict(f"external id 'x' is sent twice for file {plan.file_id}")
        return write_one(plan)

    monkeypatch.setattr(service.store, "end_batch_imports", refuse_chunk)
    monkeypatch.setattr(service.store, "write_import", refuse_one)
    done = _run(service, project, [_image(media), _image(media), _image(media)])
    assert [f["status"] for f in done["files"]] == ["success", "failed", "success"]
    (problem,) = done["files"][1]["problems"]
    assert problem["code"] == "import.write_refused" and "sent twice" in problem["message"]
    assert row_counts(service)["file"] == 2 and row_counts(service)["instance"] == 2


def test_a_chunk_of_local_files_takes_the_write_lock_once_or_twice(
    service: Service, project: Project, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite has one write lock for the workers and the importer: a chunk of local files takes
    it to end its lines (started, files written, failures and the batch's status at once), which
    also claims its worker's next lines; and to claim its own lines, unless an end did. Nobody
    else writes for the batch: a reader finds its status already up to date."""
    _configure(service, media_roots=(media_root.resolve(),), batch_chunk=2)
    url = (media_root / "image.png").resolve().as_uri()
    packets = [
        {"media": {"url": url, "type": "image"}, "instance_list": [box("cat", 1, 2, 3, 4)]}
        for _ in range(4)
    ]
    opened: list[str] = []
    real = service.store._write

    def counted() -> Any:
        opened.append(sys._getframe(1).f_code.co_name)
        return real()

    monkeypatch.setattr(service.store, "_write", counted)
    done = _run(service, project, packets)
    assert [f["status"] for f in done["files"]] == ["success"] * 4
    claims = opened.count("claim_next_imports")  # and on PostgreSQL, claims that found nothing
    assert claims >= 1 and Counter(opened) == {
        "create_batch": 1,
        "claim_next_imports": claims,
        "end_batch_imports_and_claim": 2,
    }
    assert service._claimed_ahead == {}  # what an end claimed was run


def test_work_claimed_ahead_and_never_run_is_queued_again_at_close(
    service: Service, project: Project
) -> None:
    """A worker thread that stops after its chunk's end claimed its next lines leaves them
    claimed; closing the Service puts them back in the queue (not only the next runner)."""
    from labelport.store.batches import BatchLine

    service.dispatcher.stop()  # its worker thread must not run these lines
    other = Service(service.store, service.blobs)  # no runner of its own
    batch = service.store.create_batch(
        project.id,
        [BatchLine(offset=n, length=1, idempotency_key=f"ahead-{n}") for n in range(2)],
        on_error="reject",
        media="copy",
        source="test",
        body_blob_key="none",
    )
    claimed = service.store.claim_next_imports("stopped-worker", 2)
    assert [r.batch_id for r in claimed] == [batch.id, batch.id]
    other._claimed_ahead["stopped-worker"] = claimed
    other.close()
    rows = service.store.batch_imports(batch.id, 0, 1)
    assert [(r.status, r.claimed_by) for r in rows] == [("queued", None), ("queued", None)]


def test_a_local_file_s_real_path_is_looked_up_once(
    service: Service, project: Project, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before any fetch finds a file:// URL's real path; the fetch reuses it."""
    from labelport.media import sources

    _configure(service, media_roots=(media_root.resolve(),))
    url = (media_root / "image.png").resolve().as_uri()
    packets = [
        {"media": {"url": url, "type": "image"}, "instance_list": [box("cat", 1, 2, 3, 4)]}
        for _ in range(3)
    ]
    looked_up: list[str] = []
    real = sources.resolve_local

    def counted(url: str, config: Any) -> Path:
        looked_up.append(url)
        return real(url, config)

    monkeypatch.setattr(sources, "resolve_local", counted)
    done = _run(service, project, packets)
    assert [f["status"] for f in done["files"]] == ["success"] * 3
    assert looked_up == [url] * 3


def test_a_batch_is_one_job_per_chunk_of_lines(
    service: Service, project: Project, media: Media
) -> None:
    """Workers elsewhere get one job per chunk (its first line's import), not one per line."""
    packets = [_image(media, idempotency_key=f"c{n}") for n in range(7)]
    packets[3]["idempotency_key"] = "c0"  # a duplicate has no import of its own
    batch = service.store.create_batch(
        project.id,
        [],
        on_error="reject",
        media="copy",
        source="test",
        body_blob_key="none",
    )
    assert service.store.batch_chunk_heads(batch.id, 3) == []
    done = service.submit_batch(project.id, packets)
    heads = service.store.batch_chunk_heads(done["id"], 3)
    first_of = {r.batch_line: r.id for r in service.store.batch_imports(done["id"], 0, 6)}
    assert heads == [first_of[0], first_of[4], first_of[6]]  # chunks 0-2, 3-5 (3 is a dup), 6
    service.wait_batch(project.id, done["id"], timeout=30)


def test_a_batch_state_never_pairs_a_status_with_counts_of_another_moment(
    service: Service, project: Project, media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two readers bring a batch's status up to date at once: the one whose read is older must
    not answer the other's (terminal) status with its own (pending) counts."""
    from labelport.store import batches, tables

    done = _run(service, project, [_image(media)])
    batch_id = done["id"]
    with service.store.engine.begin() as conn:  # back to where a reader saw it queued
        conn.execute(tables.batch.update().values(status="queued", finished_at=None))
    real = batches._line_statuses
    calls = []

    def stale_then_real(conn: Any, batch: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # this reader's view (running) is from before the line ended...
            with service.store.engine.begin() as other:  # ...and another reader ends the batch
                other.execute(tables.batch.update().values(status="success"))
            return batches.Counter({"writing": 1})
        return real(conn, batch)

    monkeypatch.setattr(batches, "_line_statuses", stale_then_real)
    batch, counts = service.store.batch_state(batch_id)
    assert (batch.status, counts.get("success")) == ("success", 1)


def test_no_import_says_success_before_its_blobs_are_durable(
    service: Service, project: Project, media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's blobs are made durable (`BlobStore.sync`) while its rows are sent (PostgreSQL)
    or before (SQLite), and its transaction commits only after: while the flush runs, none of
    its imports has ended."""
    real_sync = service.blobs.sync
    seen: list[list[str]] = []

    def slow_sync() -> None:
        time.sleep(0.2)  # the rows of the chunk are being written meanwhile
        seen.append([i["status"] for i in service.list_imports(project.id)[0]])
        real_sync()

    monkeypatch.setattr(service.blobs, "sync", slow_sync)
    done = _run(service, project, _ndjson([_image(media), _image(media, "other.png")]))
    assert done["counts"]["success"] == 2
    assert seen and all("success" not in statuses for statuses in seen), seen


def test_blobs_that_cannot_be_made_durable_fail_their_chunk(
    service: Service, project: Project, media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_sync() -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.blobs, "sync", failing_sync)
    done = _run(service, project, _ndjson([_image(media), _image(media, "other.png")]))
    assert [f["status"] for f in done["files"]] == ["failed", "failed"]
    assert all(f["error"] == "internal error: OSError" for f in done["files"]), done["files"]
    assert row_counts(service)["file"] == 0 and row_counts(service)["instance"] == 0
