"""write_import: one transaction, bulk rows, get-or-create, upserts, sequence recompute."""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select
from store_helpers import Ctx, Spec, add_file, plan_of, row_of

from labelport.store import Conflict, NotFound, Resolved
from labelport.store import tables as t
from labelport.store.plan import NO_DIGEST
from thread_helpers import run_together


def test_write_stores_rows_sequences_models_and_finishes_import(ctx: Ctx) -> None:
    specs = [
        Spec(ctx.cat, frame=f, number=1, model="yolo", run="r1", attributes={"7": "x"})
        for f in (5, 1, 3)
    ] + [Spec(ctx.dog, frame=2, number=1), Spec(ctx.dog, frame=2, number=2)]
    plan = plan_of(ctx, specs, counts={"frames": 4}, warnings=[{"code": "box.inverted"}])

    result = ctx.store.write_import(plan)

    assert (result.added, result.unchanged, result.removed) == (5, 0, 0)
    assert (result.sequences_created, result.sequences_extended) == (3, 0)
    seqs = {(s.label_id, s.number): s for s in ctx.store.list_sequences(ctx.file_id)}
    cat1 = seqs[(ctx.cat, 1)]
    assert (cat1.instance_count, cat1.first_frame, cat1.last_frame) == (3, 1, 5)
    assert cat1.keyframes == [1, 3, 5]
    assert seqs[(ctx.dog, 2)].keyframes == [2]
    assert [s.number for s in ctx.store.list_sequences(ctx.file_id, label_id=ctx.dog)] == [1, 2]

    [model] = ctx.store.list_models(ctx.project_id)
    [run] = ctx.store.list_model_runs(ctx.project_id)
    assert (model.reference, run.reference, run.model_id) == ("yolo", "r1", model.id)

    instances = ctx.store.list_instances(ctx.file_id)
    assert [i.frame for i in instances] == [1, 2, 2, 3, 5]
    first = instances[0]
    assert (first.label_id, first.sequence_id, first.model_run_id) == (ctx.cat, cat1.id, run.id)
    assert first.attributes == {"7": "x"} and first.machine_made is True
    assert (first.x_min, first.x_max, first.import_id) == (0.0, 10.0, plan.import_id)
    assert ctx.store.count_instances(ctx.file_id, frame_min=2, frame_max=3) == 3
    assert len(ctx.store.list_instances(ctx.file_id, frame_min=3)) == 2
    assert [i.frame for i in ctx.store.list_instances(ctx.file_id, limit=2, offset=2)] == [2, 3]

    names = {lab.id: lab.name for lab in ctx.store.list_labels(ctx.project_id)}
    by_label = Counter((names[i.label_id], i.type) for i in ctx.store.list_instances(ctx.file_id))
    assert by_label == {("cat", "box"): 3, ("dog", "box"): 2}

    imp = ctx.store.get_import(plan.import_id)
    assert imp.status == "success" and imp.percent == 100 and imp.finished_at is not None
    assert imp.counts["frames"] == 4 and imp.counts["added"] == 5
    assert imp.counts["sequences_created"] == 3
    assert imp.warnings == [{"code": "box.inverted"}]
    assert imp.file_id == ctx.file_id


def test_second_import_extends_sequences_and_reuses_models(ctx: Ctx) -> None:
    ctx.store.write_import(plan_of(ctx, [Spec(ctx.cat, frame=1, number=1, model="m", run="a")]))
    result = ctx.store.write_import(
        plan_of(ctx, [Spec(ctx.cat, frame=9, number=1, model="m", run="b")], mode="update")
    )
    assert (result.sequences_created, result.sequences_extended) == (0, 1)
    [seq] = ctx.store.list_sequences(ctx.file_id)
    assert (seq.instance_count, seq.keyframes) == (2, [1, 9])
    assert len(ctx.store.list_models(ctx.project_id)) == 1
    assert {r.reference for r in ctx.store.list_model_runs(ctx.project_id)} == {"a", "b"}


def _failing_rows(specs: list[Spec], after: int):
    def rows(resolved: Resolved):
        for n, spec in enumerate(specs):
            if n == after:
                raise RuntimeError("decoder blew up")
            yield row_of(spec, resolved)

    return rows


def test_rows_raising_midway_leaves_nothing(ctx: Ctx) -> None:
    specs = [Spec(ctx.cat, frame=f, number=1, model="m", run="r") for f in range(100)]
    plan = plan_of(ctx, specs, rows=_failing_rows(specs, after=60))
    with pytest.raises(RuntimeError, match="blew up"):
        ctx.store.write_import(plan)
    assert ctx.counts() == {"instance": 0, "sequence": 0, "model": 0, "model_run": 0}
    assert ctx.store.get_import(plan.import_id).status == "queued"


def test_rows_raising_during_a_merge_leaves_the_old_rows(ctx: Ctx) -> None:
    old = [Spec(ctx.cat, frame=f, external_id=f"e{f}") for f in range(10)]
    ctx.store.write_import(plan_of(ctx, old))
    new = [Spec(ctx.dog, frame=f, number=1, model="m", external_id=f"e{f}") for f in range(10)]
    plan = plan_of(ctx, new, mode="update_with_existing", rows=_failing_rows(new, after=5))
    with pytest.raises(RuntimeError):
        ctx.store.write_import(plan)
    assert ctx.counts() == {"instance": 10, "sequence": 0, "model": 0, "model_run": 0}
    assert {i.label_id for i in ctx.store.list_instances(ctx.file_id)} == {ctx.cat}


def test_unique_violation_leaves_nothing(ctx: Ctx) -> None:
    specs = [Spec(ctx.cat, frame=1, number=1, model="m", run="r", external_id="same")] * 2
    plan = plan_of(ctx, specs)
    with pytest.raises(Conflict):
        ctx.store.write_import(plan)
    assert ctx.counts() == {"instance": 0, "sequence": 0, "model": 0, "model_run": 0}
    assert ctx.store.get_import(plan.import_id).status != "success"


def test_duplicate_external_id_in_a_merge_is_a_conflict(ctx: Ctx) -> None:
    ctx.store.write_import(plan_of(ctx, [Spec(ctx.cat, frame=1, external_id="a")]))
    for ext in ("a", "b"):  # an id already stored, and a new one
        specs = [Spec(ctx.cat, frame=1, external_id=ext), Spec(ctx.cat, frame=2, external_id=ext)]
        with pytest.raises(Conflict):
            ctx.store.write_import(plan_of(ctx, specs, mode="update"))
        assert ctx.counts()["instance"] == 1
    specs = [Spec(ctx.cat, frame=1, external_id="a"), Spec(ctx.cat, frame=2, external_id="a")]
    with pytest.raises(Conflict, match="'a' is sent twice"):
        ctx.store.write_import(plan_of(ctx, specs, mode="update_with_existing"))


def test_an_import_is_written_once(ctx: Ctx) -> None:
    plan = plan_of(ctx, [Spec(ctx.cat, frame=1)])
    ctx.store.write_import(plan)
    with pytest.raises(Conflict, match="already success"):
        ctx.store.write_import(plan)
    assert ctx.counts()["instance"] == 1


def test_write_checks_file_and_project(ctx: Ctx) -> None:
    other = ctx.store.create_project("other")
    other_file = add_file(ctx.store, other.id, "image").id
    with pytest.raises(NotFound):
        ctx.store.write_import(plan_of(ctx, [Spec(ctx.cat)], file_id=other_file))
    with pytest.raises(NotFound):
        ctx.store.write_import(plan_of(ctx, [Spec(ctx.cat)], import_id=10**9))


def test_concurrent_writes_create_one_model_run_and_sequence(ctx: Ctx) -> None:
    """Two imports into the same video and two into other videos, all at once, naming the same
    model, run and (for the same video) sequence."""
    same_video = [
        plan_of(ctx, [Spec(ctx.cat, frame=f, number=1, model="m", run="r")], mode="update")
        for f in (1, 2)
    ]
    other_videos = [
        plan_of(ctx, [Spec(ctx.cat, frame=0, model="m", run="r")], file_id=ctx.new_file())
        for _ in range(2)
    ]
    plans = same_video + other_videos
    results = run_together(*(functools.partial(ctx.store.write_import, plan) for plan in plans))
    assert ctx.counts() == {"instance": 4, "sequence": 1, "model": 1, "model_run": 1}
    assert sum(r.sequences_created for r in results[:2]) == 1
    [seq] = ctx.store.list_sequences(ctx.file_id)
    assert (seq.instance_count, seq.keyframes) == (2, [1, 2])


def test_rewriting_the_same_plan_changes_nothing(ctx: Ctx) -> None:
    specs = [Spec(ctx.cat, frame=f, number=1, external_id=f"id{f}") for f in range(20)]
    first = ctx.store.write_import(plan_of(ctx, specs))
    before = {i.id for i in ctx.store.list_instances(ctx.file_id)}

    again = ctx.store.write_import(plan_of(ctx, specs, mode="update"))

    assert (first.added, again.added, again.unchanged, again.replaced) == (20, 0, 20, 0)
    assert (again.sequences_created, again.sequences_extended) == (0, 1)
    assert {i.id for i in ctx.store.list_instances(ctx.file_id)} == before
    [seq] = ctx.store.list_sequences(ctx.file_id)
    assert seq.instance_count == 20


def test_changed_external_row_is_replaced_in_place(ctx: Ctx) -> None:
    specs = [Spec(ctx.cat, frame=f, external_id=f"id{f}") for f in range(5)]
    ctx.store.write_import(plan_of(ctx, specs))
    old = {i.external_id: i for i in ctx.store.list_instances(ctx.file_id)}

    specs[2] = Spec(ctx.cat, frame=2, x=50.0, external_id="id2")
    specs.append(Spec(ctx.dog, frame=9))  # no external id: always added in update mode
    plan = plan_of(ctx, specs, mode="update")
    result = ctx.store.write_import(plan)

    assert (result.added, result.unchanged, result.replaced, result.removed) == (1, 4, 1, 0)
    now = {i.external_id: i for i in ctx.store.list_instances(ctx.file_id)}
    assert now["id2"].id == old["id2"].id
    assert (now["id2"].x_min, now["id2"].import_id) == (50.0, plan.import_id)
    assert now["id1"].import_id == old["id1"].import_id
    assert ctx.store.count_instances(ctx.file_id) == 6


def test_update_with_existing_adds_keeps_and_removes(ctx: Ctx) -> None:
    a = Spec(ctx.cat, frame=1, number=1, external_id="a")
    b = Spec(ctx.cat, frame=2, number=1, external_id="b")
    c = Spec(ctx.dog, frame=3, number=1)  # no external id: matched by content
    d = Spec(ctx.dog, frame=4, number=1)
    dup = Spec(ctx.dog, frame=7, number=2)
    gone = Spec(ctx.cat, frame=8, number=3)
    ctx.store.write_import(plan_of(ctx, [a, b, c, d, dup, dup, gone]))
    kept_id = {i.external_id: i.id for i in ctx.store.list_instances(ctx.file_id)}["a"]

    b2 = Spec(ctx.cat, frame=5, number=1, external_id="b")  # moved to another frame
    e = Spec(ctx.dog, frame=6, number=1)
    result = ctx.store.write_import(plan_of(ctx, [a, b2, c, e, dup], mode="update_with_existing"))

    # a, c and one of the two dups unchanged; b2 replaces b; e new; d, a dup and `gone` removed.
    assert (result.added, result.unchanged, result.replaced, result.removed) == (1, 3, 1, 3)
    assert (result.sequences_created, result.sequences_extended) == (0, 3)
    instances = ctx.store.list_instances(ctx.file_id)
    assert sorted((i.frame, i.label_id) for i in instances) == [
        (1, ctx.cat), (3, ctx.dog), (5, ctx.cat), (6, ctx.dog), (7, ctx.dog),
    ]  # fmt: skip
    assert kept_id in {i.id for i in instances}
    seqs = {(s.label_id, s.number): s for s in ctx.store.list_sequences(ctx.file_id)}
    assert seqs[(ctx.cat, 1)].keyframes == [1, 5]
    assert (seqs[(ctx.dog, 1)].keyframes, seqs[(ctx.dog, 1)].instance_count) == ([3, 6], 2)
    assert seqs[(ctx.dog, 2)].instance_count == 1
    assert (ctx.cat, 3) not in seqs  # lost all its instances


def test_update_with_existing_on_an_empty_file_just_adds(ctx: Ctx) -> None:
    result = ctx.store.write_import(
        plan_of(ctx, [Spec(ctx.cat, frame=1)], mode="update_with_existing")
    )
    assert (result.added, result.unchanged, result.removed) == (1, 0, 0)


def test_rows_may_name_sequences_outside_the_plan(ctx: Ctx) -> None:
    ctx.store.write_import(plan_of(ctx, [Spec(ctx.cat, frame=1, number=1)]))
    [seq] = ctx.store.list_sequences(ctx.file_id)

    def rows(resolved: Resolved):  # a packet's `sequence_id` key: no SequencePlan
        row = list(row_of(Spec(ctx.cat, frame=4), resolved))
        row[2] = seq.id
        yield tuple(row)

    ctx.store.write_import(plan_of(ctx, [], rows=rows, mode="update"))
    [seq] = ctx.store.list_sequences(ctx.file_id)
    assert (seq.instance_count, seq.keyframes) == (2, [1, 4])


def test_bulk_write_100k(ctx: Ctx) -> None:
    n = 100_000
    specs = [Spec(ctx.cat if f % 2 else ctx.dog, frame=f // 10, number=1 + f % 5) for f in range(n)]
    plan = plan_of(ctx, specs, mode="create")
    start = time.perf_counter()
    result = ctx.store.write_import(plan)
    elapsed = time.perf_counter() - start
    print(f"\n{ctx.store.dialect}: wrote {n} instances in {elapsed:.2f} s")
    assert result.added == n
    assert ctx.store.count_instances(ctx.file_id) == n
    assert sum(s.instance_count for s in ctx.store.list_sequences(ctx.file_id)) == n
    assert elapsed < 30


def test_ids_outside_the_project_are_refused_and_nothing_is_stored(ctx: Ctx) -> None:
    other = ctx.store.create_project("other")
    [foreign] = ctx.store.create_labels(other.id, ["cat"])
    plan = plan_of(ctx, [Spec(ctx.cat, frame=1, number=1, model="m"), Spec(foreign.id, frame=2)])
    with pytest.raises(NotFound, match=rf"label ids \[{foreign.id}\]"):
        ctx.store.write_import(plan)
    assert ctx.counts() == {"instance": 0, "sequence": 0, "model": 0, "model_run": 0}


def test_update_with_existing_always_leaves_exactly_what_was_sent(ctx: Ctx) -> None:
    """Random rounds of re-imports: afterwards the file holds the last packet, no more, no less,
    and the counts add up."""
    rng = random.Random(7)
    pool = [
        Spec(rng.choice([ctx.cat, ctx.dog]), frame=rng.randrange(4), x=rng.randrange(3))
        for _ in range(12)
    ]

    def content(spec: Spec) -> tuple:
        return (spec.frame, spec.label_id, float(spec.x), spec.external_id or "")

    before = 0
    for _ in range(15):
        sent = [rng.choice(pool) for _ in range(rng.randrange(0, 10))]  # repeats allowed
        ids = rng.sample(range(20), k=len(sent))
        sent = [
            Spec(s.label_id, frame=s.frame, x=s.x, external_id=f"e{i}" if i % 2 else None)
            for s, i in zip(sent, ids, strict=True)
        ]
        result = ctx.store.write_import(plan_of(ctx, sent, mode="update_with_existing"))
        stored = ctx.store.list_instances(ctx.file_id, limit=None)
        assert sorted(
            (i.frame, i.label_id, i.x_min, i.external_id or "") for i in stored
        ) == sorted(map(content, sent))
        assert result.added + result.unchanged + result.replaced == len(sent)
        assert len(stored) == before + result.added - result.removed
        before = len(stored)


def test_new_file_is_created_in_the_same_transaction(ctx: Ctx) -> None:
    files_before = ctx.rows_in(t.file)
    specs = [Spec(ctx.cat, frame=f) for f in range(10)]
    failing = plan_of(ctx, specs, file_id=None, rows=_failing_rows(specs, after=5))
    failing.file_id = None
    failing.new_file = {"media_type": "video", "frame_count": 10, "original_filename": "v.mp4"}
    with pytest.raises(RuntimeError):
        ctx.store.write_import(failing)
    assert ctx.rows_in(t.file) == files_before and failing.file_id is None
    assert ctx.store.get_import(failing.import_id).file_id is None

    plan = plan_of(ctx, specs, problems=[{"code": "x", "path": "p", "message": "m"}])
    plan.file_id = None
    plan.new_file = {"media_type": "text", "tokens": ["a", "b"]}
    ctx.store.write_import(plan)
    made = ctx.store.get_file(plan.file_id)
    assert (made.media_type, made.token_count) == ("text", 2)
    assert made.directory_id == ctx.store.default_directory(ctx.project_id).id
    imp = ctx.store.get_import(plan.import_id)
    assert imp.file_id == made.id and imp.problems == [{"code": "x", "path": "p", "message": "m"}]
    assert ctx.store.count_instances(made.id) == 10


def test_new_file_sequences_match_a_recount_of_their_rows(ctx: Ctx) -> None:
    """A new file's tracks are set from the plan, not re-read: they must equal a recount."""
    specs = [Spec(ctx.cat, frame=f, number=1) for f in (9, 2, 4)] + [
        Spec(ctx.cat, frame=4, number=3),
        Spec(ctx.dog, frame=7, number=1),
        Spec(ctx.dog, frame=0, number=1),
        Spec(None, frame=5),  # a global: no track
    ]
    plan = plan_of(ctx, specs, file_id=None)
    plan.file_id = None
    plan.new_file = {"media_type": "video", "frame_count": 10, "original_filename": "v.mp4"}
    ctx.store.write_import(plan)

    stored = ctx.store.list_instances(plan.file_id, limit=None)
    recount: dict[int, list[int]] = {}
    for instance in stored:
        if instance.sequence_id is not None:
            recount.setdefault(instance.sequence_id, []).append(instance.frame)
    seqs = ctx.store.list_sequences(plan.file_id)
    assert len(seqs) == 3
    for seq in seqs:
        frames = sorted(recount[seq.id])
        assert seq.instance_count == len(frames)
        assert (seq.first_frame, seq.last_frame, seq.keyframes) == (frames[0], frames[-1], frames)
    assert {(s.label_id, s.number): s.keyframes for s in seqs}[(ctx.cat, 1)] == [2, 4, 9]


# --- rows without a digest (a file's first import) -----------------------------------------------


def _asked(ctx: Ctx, specs: list[Spec], mode: str = "create", new_file: bool = False) -> bool:
    """Whether write_import asked the plan's rows for their digest (Resolved.digest)."""
    asked: list[bool] = []

    def rows(resolved: Resolved):
        asked.append(resolved.digest)
        return (row_of(s, resolved) for s in specs)

    plan = plan_of(ctx, specs, rows=rows, mode=mode)
    if new_file:
        plan.file_id, plan.new_file = None, {"media_type": "video", "frame_count": 100}
    ctx.store.write_import(plan)
    return asked == [True]


def test_rows_are_asked_for_a_digest_only_when_they_may_meet_existing_rows(ctx: Ctx) -> None:
    assert not _asked(ctx, [Spec(ctx.cat, frame=1, external_id="x")], new_file=True)
    assert not _asked(ctx, [Spec(ctx.cat, frame=1)], mode="update_with_existing")  # empty file
    assert not _asked(ctx, [Spec(ctx.cat, frame=2)], mode="update")  # rows, none with an id
    assert _asked(ctx, [Spec(ctx.cat, frame=3)], mode="update_with_existing")
    assert not _asked(ctx, [Spec(ctx.cat, frame=4, external_id="e")], mode="update")
    assert _asked(ctx, [Spec(ctx.cat, frame=5, external_id="f")], mode="update")


def _stored(ctx: Ctx) -> list[tuple[Any, ...]]:
    """(frame, x_min, external_id, id, content_hash) of every row of the file."""
    i = t.instance.c
    with ctx.store.engine.connect() as conn:
        q = select(i.frame, i.x_min, i.external_id, i.id, i.content_hash)
        return [tuple(r) for r in conn.execute(q.where(i.file_id == ctx.file_id).order_by(i.id))]


@pytest.mark.parametrize("ids", ["external ids", "no ids"])
def test_rows_stored_without_digest_are_compared_by_their_columns(ctx: Ctx, ids: str) -> None:
    def spec(frame: int, x: float = 0.0, **more: Any) -> Spec:
        ext = f"e{frame}" if ids == "external ids" else None
        return Spec(ctx.cat, frame=frame, number=1, x=x, external_id=ext, **more)

    first = [spec(f, digest=False) for f in range(6)] + [spec(2, digest=False)] * (ids == "no ids")
    ctx.store.write_import(plan_of(ctx, first))
    before = _stored(ctx)
    assert {r[4] for r in before} == {NO_DIGEST}

    # Sent again with digests: frames 0-2 as they were (frame 2 twice, without ids), 3 with
    # another x, 4 with attributes; 5 not sent; 6 new.
    again = [spec(0), spec(1), spec(2), spec(3, x=7.0), spec(4, attributes={"1": "y"}), spec(6)]
    again += [spec(2)] * (ids == "no ids")
    mode = "update" if ids == "external ids" else "update_with_existing"
    result = ctx.store.write_import(plan_of(ctx, again, mode=mode))

    after = _stored(ctx)
    assert all(r in after for r in before if r[0] in (0, 1, 2))  # same rows, still no digest
    frame_of = {r[3]: r[0] for r in after}
    if ids == "external ids":
        assert (result.unchanged, result.replaced, result.added, result.removed) == (3, 2, 1, 0)
        [old3] = [r for r in before if r[0] == 3]
        assert (3, 7.0, "e3", old3[3]) in [r[:4] for r in after]  # replaced in place
        assert 5 in frame_of.values()  # `update` leaves the rows it was not sent
    else:
        assert (result.unchanged, result.replaced, result.added, result.removed) == (4, 0, 3, 3)
        assert sorted(frame_of.values()) == [0, 1, 2, 2, 3, 4, 6]
        assert [r[1] for r in after if r[0] == 3] == [7.0]
    assert [r[4] != NO_DIGEST for r in after if r[0] == 6] == [True]
    [seq] = ctx.store.list_sequences(ctx.file_id)
    assert seq.instance_count == len(after)

    # Rows with and without digests side by side: the same again changes nothing.
    result = ctx.store.write_import(plan_of(ctx, again, mode=mode))
    assert (result.unchanged, result.added, result.removed) == (len(again), 0, 0)
    assert _stored(ctx) == after


def test_a_digest_on_both_sides_decides_even_if_columns_match(ctx: Ctx) -> None:
    # The digest is the content where both rows have one (a digest over more than the columns
    # compared would otherwise be ignored); the columns decide only where one is missing.
    ctx.store.write_import(plan_of(ctx, [Spec(ctx.cat, frame=1, external_id="a")]))

    def rows(resolved: Resolved):
        row = row_of(Spec(ctx.cat, frame=1, external_id="a"), resolved)
        yield (*row[:-1], "another digest")

    result = ctx.store.write_import(plan_of(ctx, [], rows=rows, mode="update"))
    assert (result.unchanged, result.replaced) == (0, 1)
