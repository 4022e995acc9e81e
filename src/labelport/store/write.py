"""`write_import`: apply one WritePlan in one transaction.

Order inside the transaction: lock the file (so concurrent imports into one file take turns),
mark the import, get or create models, runs and sequences, stream the instance rows in bulk,
recompute the touched sequences, set the import to success. Any exception rolls all of it back.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import chain, islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, text, update

from labelport.store import tables as t
from labelport.store.bulk import insert_rows, quote
from labelport.store.coltypes import utcnow
from labelport.store.errors import Conflict, NotFound
from labelport.store.plan import (
    INSTANCE_COLUMNS,
    NO_DIGEST,
    Resolved,
    WritePlan,
    WriteResult,
)

_NOTED = ("label_id", "sequence_id", "model_id", "model_run_id")  # what _Refs notes per row
_NOTED_KEY = itemgetter(*(INSTANCE_COLUMNS.index(c) for c in _NOTED))
_STAGE = "lp_stage"  # temporary tables of the merge
_MATCH = "lp_match"
# Ids that must also be equal for a row to count as unchanged, whatever the content hash covers.
_MATCH_COLUMNS = ("frame", "label_id", "sequence_id", "model_id", "model_run_id")
# Everything a row says but its external id (the pairing key) and digest: equal = unchanged.
_CONTENT_COLUMNS = tuple(c for c in INSTANCE_COLUMNS if c not in ("external_id", "content_hash"))
_CHUNK = 500  # rows per multi-VALUES statement (SQLite allows 32766 parameters)
_NOTE_CHUNK = 512  # rows `_Refs` counts at a time


def write_import(conn: Connection, plan: WritePlan) -> WriteResult:
    """Write `plan` on `conn`, which must be inside a write transaction the caller commits."""
    now = utcnow()
    if plan.new_file is not None:
        try:
            return _write(conn, plan, now)
        except BaseException:
            plan.file_id = None  # the file row is rolled back with everything else
            raise
    return _write(conn, plan, now)


def _write(conn: Connection, plan: WritePlan, now: datetime) -> WriteResult:
    if plan.new_file is not None:
        _create_file(conn, plan, now)
    _lock_file(conn, plan)
    _start(conn, plan, now)
    model_ids, run_ids = _models_and_runs(conn, plan, now)
    sequence_ids, created = _sequences(conn, plan)
    # Rows that meet no existing rows are compared with nothing: no digest for them.
    merging = _needs_merge(conn, plan)
    resolved = Resolved(
        sequence_ids=sequence_ids, model_ids=model_ids, model_run_ids=run_ids, digest=merging
    )

    refs = _Refs()
    rows = refs.noting(plan.rows(resolved))
    merged: set[int] | None = None
    if merging:
        merged = set()
        added, unchanged, removed, replaced = _merge(conn, plan, rows, merged)
    else:
        constants: dict[str, Any] = {"project_id": plan.project_id, "file_id": plan.file_id}
        constants["import_id"] = plan.import_id
        added = insert_rows(conn, "instance", INSTANCE_COLUMNS, rows, constants)
        unchanged = removed = replaced = 0

    _check_references(conn, plan, refs)
    if plan.new_file is not None:
        # A new file's rows are all in this plan: its tracks need no second look at them.
        _set_new_sequences(conn, plan, sequence_ids, refs.rows_per_sequence())
    else:
        touched = refs.ids("sequence_id") | set(sequence_ids.values())
        if merged is not None:
            touched |= merged
        _recompute_sequences(conn, plan, touched, keep=set(sequence_ids.values()))
    result = WriteResult(
        added=added,
        unchanged=unchanged,
        removed=removed,
        sequences_created=created,
        sequences_extended=len(sequence_ids) - created,
        replaced=replaced,
    )
    _finish(conn, plan, result)
    return result


class _Refs:
    """The distinct ids the rows use, and rows per sequence, noted while the rows stream past
    (no second pass): one C-level key per row, counted a chunk of rows at a time."""

    def __init__(self) -> None:
        self._per_key: Counter[tuple[Any, Any, Any, Any]] = Counter()

    def noting(self, rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        # Chunks, not a generator step per row: a million rows pass through here.
        return chain.from_iterable(self._noted_chunks(rows))

    def _noted_chunks(self, rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
        it = iter(rows)
        while chunk := list(islice(it, _NOTE_CHUNK)):
            self.note(chunk)
            yield chunk

    def note(self, rows: list[tuple[Any, ...]]) -> None:
        """Note `rows` (INSTANCE_COLUMNS tuples) that pass by some other way."""
        self._per_key.update(map(_NOTED_KEY, rows))

    def ids(self, column: str) -> set[int]:
        """The distinct non-null ids of `column` (label_id, sequence_id, model_id, model_run_id)."""
        position = _NOTED.index(column)
        ids = {k[position] for k in self._per_key}
        ids.discard(None)
        return ids

    def rows_per_sequence(self) -> dict[int, int]:
        counts: dict[int, int] = defaultdict(int)
        for (_label, sid, _model, _run), n in self._per_key.items():
            if sid is not None:
                counts[sid] += n
        return counts


def _check_references(conn: Connection, plan: WritePlan, refs: _Refs) -> None:
    """What foreign keys would check, once per distinct id instead of once per row."""
    run_owner = select(t.model_run.c.id).join(t.model, t.model.c.id == t.model_run.c.model_id)
    checks = [
        ("label", refs.ids("label_id"), t.label.c.id, select(t.label.c.id).where(
            t.label.c.project_id == plan.project_id)),
        ("sequence", refs.ids("sequence_id"), t.sequence.c.id, select(t.sequence.c.id).where(
            t.sequence.c.file_id == plan.file_id)),
        ("model", refs.ids("model_id"), t.model.c.id, select(t.model.c.id).where(
            t.model.c.project_id == plan.project_id)),
        ("model run", refs.ids("model_run_id"), t.model_run.c.id, run_owner.where(
            t.model.c.project_id == plan.project_id)),
    ]  # fmt: skip
    for what, wanted, column, query in checks:
        found: set[int] = set()
        for chunk in _chunks(sorted(wanted)):
            found.update(conn.execute(query.where(column.in_(chunk))).scalars())
        missing = sorted(wanted - found)
        if missing:
            owner = f"file {plan.file_id}" if what == "sequence" else f"project {plan.project_id}"
            raise NotFound(f"{what} ids {missing[:10]} do not exist in {owner}")


def insert_ignoring(dialect: str, table: Any, conflict_columns: list[str]) -> Any:
    """INSERT into `table` that skips rows whose `conflict_columns` exist already (ON CONFLICT DO
    NOTHING), in `dialect`'s own INSERT. The dialect's module is imported here, when used:
    importing PostgreSQL's cost every command on SQLite ~0.1 s of its start."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    return dialect_insert(table).on_conflict_do_nothing(index_elements=conflict_columns)


def _create_file(conn: Connection, plan: WritePlan, now: datetime) -> None:
    """The import's new file, in the same transaction: a failed import leaves no file row."""
    facts = dict(plan.new_file or {})
    if facts.get("tokens") is not None and facts.get("token_count") is None:
        facts["token_count"] = len(facts["tokens"])
    d = t.directory
    q = select(d.c.id).where(d.c.project_id == plan.project_id)
    directory_id = facts.get("directory_id")
    q = (
        q.where(d.c.is_default.is_(True))
        if directory_id is None
        else q.where(d.c.id == directory_id)
    )
    facts["directory_id"] = conn.execute(q).scalar()
    if facts["directory_id"] is None:
        what = "default directory" if directory_id is None else f"directory {directory_id}"
        raise NotFound(f"{what} of project {plan.project_id} not found")
    plan.file_id = conn.execute(
        insert(t.file)
        .values(project_id=plan.project_id, created_at=now, **facts)
        .returning(t.file.c.id)
    ).scalar_one()
    conn.execute(
        update(t.import_).where(t.import_.c.id == plan.import_id).values(file_id=plan.file_id)
    )


def _lock_file(conn: Connection, plan: WritePlan) -> None:
    q = select(t.file.c.project_id).where(t.file.c.id == plan.file_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()  # SQLite's write transaction already excludes other writers
    project_id = conn.execute(q).scalar()
    if project_id is None:
        raise NotFound(f"file {plan.file_id} does not exist")
    if project_id != plan.project_id:
        raise NotFound(f"file {plan.file_id} is not in project {plan.project_id}")


def _start(conn: Connection, plan: WritePlan, now: datetime) -> None:
    imp = t.import_
    done = conn.execute(
        update(imp)
        .where(
            imp.c.id == plan.import_id,
            imp.c.project_id == plan.project_id,
            imp.c.status.not_in(t.TERMINAL_STATUSES),
        )
        .values(status="writing", heartbeat_at=now, file_id=plan.file_id)
    ).rowcount
    if done != 1:
        status = conn.execute(select(imp.c.status).where(imp.c.id == plan.import_id)).scalar()
        if status is None:
            raise NotFound(f"import {plan.import_id} does not exist")
        raise Conflict(f"import {plan.import_id} is already {status}; it is written only once")


def _models_and_runs(
    conn: Connection, plan: WritePlan, now: datetime
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    refs = sorted(set(plan.model_refs) | {m for m, _ in plan.model_run_refs})
    if not refs:
        return {}, {}
    # Sorted inserts: two transactions wanting the same new refs lock them in the same order.
    new_model = insert_ignoring(conn.dialect.name, t.model, ["project_id", "reference"])
    for chunk in _chunks(refs):
        values = [
            {"project_id": plan.project_id, "reference": r, "name": r, "created_at": now}
            for r in chunk
        ]
        conn.execute(new_model.values(values))
    model_ids: dict[str, int] = {}
    for chunk in _chunks(refs):
        q = select(t.model.c.reference, t.model.c.id).where(
            t.model.c.project_id == plan.project_id, t.model.c.reference.in_(chunk)
        )
        model_ids.update((ref, mid) for ref, mid in conn.execute(q))

    runs = sorted(set(plan.model_run_refs))
    run_ids: dict[tuple[str, str], int] = {}
    new_run = insert_ignoring(conn.dialect.name, t.model_run, ["model_id", "reference"])
    for chunk in _chunks(runs):
        values = [{"model_id": model_ids[m], "reference": r, "created_at": now} for m, r in chunk]
        conn.execute(new_run.values(values))
    by_model: dict[int, list[str]] = {}
    for m, r in runs:
        by_model.setdefault(model_ids[m], []).append(r)
    ref_of = {v: k for k, v in model_ids.items()}
    for model_id, run_refs in by_model.items():
        for chunk in _chunks(run_refs):
            q = select(t.model_run.c.reference, t.model_run.c.id).where(
                t.model_run.c.model_id == model_id, t.model_run.c.reference.in_(chunk)
            )
            for ref, run_id in conn.execute(q):
                run_ids[(ref_of[model_id], ref)] = run_id
    return model_ids, run_ids


def _sequences(conn: Connection, plan: WritePlan) -> tuple[dict[tuple[int, int], int], int]:
    wanted = sorted({(s.label_id, s.number) for s in plan.sequences})
    if not wanted:
        return {}, 0
    new_sequence = insert_ignoring(conn.dialect.name, t.sequence, ["file_id", "label_id", "number"])
    created = 0
    for chunk in _chunks(wanted):
        values = [
            {
                "project_id": plan.project_id,
                "file_id": plan.file_id,
                "label_id": label_id,
                "number": number,
                "instance_count": 0,
                "keyframes": [],
            }
            for label_id, number in chunk
        ]
        stmt = new_sequence.values(values).returning(t.sequence.c.id)
        # RETURNING yields only the rows this statement inserted.
        created += len(conn.execute(stmt).all())
    q = select(t.sequence.c.label_id, t.sequence.c.number, t.sequence.c.id).where(
        t.sequence.c.file_id == plan.file_id
    )
    want = set(wanted)
    ids = {(lab, num): sid for lab, num, sid in conn.execute(q) if (lab, num) in want}
    return ids, created


def _needs_merge(conn: Connection, plan: WritePlan) -> bool:
    """Whether rows may meet existing ones. If not (e.g. a file's first import), insert directly."""
    q = select(t.instance.c.id).where(t.instance.c.file_id == plan.file_id)
    if plan.mode != "update_with_existing":
        q = q.where(t.instance.c.external_id.is_not(None))
    return conn.execute(q.limit(1)).first() is not None


def _merge(
    conn: Connection, plan: WritePlan, rows: Iterable[tuple[Any, ...]], touched: set[int]
) -> tuple[int, int, int, int]:
    """Stage the rows in a temporary table, pair them with existing rows in a second one, then
    delete, update and insert set-wise. `touched` gets the sequences that lose instances.

    The pairing is written to a new table rather than by UPDATE of the staged rows: updating a
    million staged rows cost 3.9 s on PostgreSQL, creating the pairs table a fraction of that.
    """
    pg = conn.dialect.name == "postgresql"
    same = "IS NOT DISTINCT FROM" if pg else "IS"
    cols = ", ".join(map(quote, INSTANCE_COLUMNS))
    defs = ", ".join(
        f"{quote(c)} {t.instance.c[c].type.compile(dialect=conn.dialect)}" for c in INSTANCE_COLUMNS
    )
    temp_schema = "pg_temp" if pg else "temp"
    for name in (_STAGE, _MATCH):  # left over only if an earlier merge on this connection broke
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {temp_schema}.{name}")
    if pg:
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {_STAGE} (stage_id bigint GENERATED ALWAYS AS IDENTITY, "
            f"{defs}) ON COMMIT DROP"
        )
    else:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {_STAGE} (stage_id INTEGER PRIMARY KEY, {defs})")
    total = insert_rows(conn, _STAGE, INSTANCE_COLUMNS, rows)
    params = {"f": plan.file_id, "imp": plan.import_id, "p": plan.project_id}

    # Pairs (staged row, existing row): by external id; with update_with_existing also rows
    # without one, by content, duplicates paired one to one. `same` = keep the existing row.
    # Content is the digest where both rows have one, else the columns themselves: a file's
    # first import stores no digests (NO_DIGEST).
    ids_equal = " AND ".join(f"i.{c} {same} s.{c}" for c in _MATCH_COLUMNS)
    rest_equal = " AND ".join(
        f"i.{quote(c)} {same} s.{quote(c)}" for c in _CONTENT_COLUMNS if c not in _MATCH_COLUMNS
    )
    content_equal = (
        f"CASE WHEN i.content_hash <> '{NO_DIGEST}' AND s.content_hash <> '{NO_DIGEST}' "
        f"THEN i.content_hash = s.content_hash ELSE {rest_equal} END"
    )
    pairs = (
        f"SELECT s.stage_id AS stage_id, i.id AS matched_id, CASE WHEN "
        f"{ids_equal} AND {content_equal} THEN 1 ELSE 0 END AS same "
        f"FROM {_STAGE} AS s JOIN instance AS i "
        "ON i.file_id = :f AND i.external_id = s.external_id"
    )
    if plan.mode == "update_with_existing":
        # The k-th staged and the k-th existing row of equal content pair up: numbered per side
        # and content, then grouped by (content, number). GROUP BY treats NULLs as equal, as `IS`
        # does, and needs no join: SQLite joined on `IS` columns row by row (quadratic).
        part = ", ".join(map(quote, _content_key(conn, params)))
        pairs += (
            " UNION ALL "
            "SELECT min(CASE WHEN side = 0 THEN rid END), min(CASE WHEN side = 1 THEN rid END), 1 "
            f"FROM (SELECT side, rid, {part}, row_number() OVER "
            f"(PARTITION BY side, {part} ORDER BY rid) AS rn FROM "
            f"(SELECT 0 AS side, stage_id AS rid, {part} FROM {_STAGE} "
            "WHERE external_id IS NULL UNION ALL "
            f"SELECT 1, id, {part} FROM instance WHERE file_id = :f AND external_id IS NULL) "
            f"AS both_sides) AS numbered GROUP BY {part}, rn HAVING count(*) = 2"
        )
    on_commit = " ON COMMIT DROP" if pg else ""
    conn.execute(text(f"CREATE TEMP TABLE {_MATCH}{on_commit} AS {pairs}"), params)

    # Two staged rows with one external id that exists already would both pair with it.
    # (Two with a new one fail on the unique index at the INSERT below.)
    dup = conn.execute(
        text(
            f"SELECT i.external_id FROM {_MATCH} AS m JOIN instance AS i ON i.id = m.matched_id "
            f"WHERE m.matched_id IN (SELECT matched_id FROM {_MATCH} "
            "GROUP BY matched_id HAVING count(*) > 1) LIMIT 1"
        )
    ).scalar()
    if dup is not None:
        raise Conflict(f"external id {dup!r} is sent twice for file {plan.file_id}")

    unchanged, replaced = conn.execute(
        text(f"SELECT COALESCE(SUM(same), 0), COALESCE(SUM(1 - same), 0) FROM {_MATCH}")
    ).one()

    # Anti-joins: NOT EXISTS on PostgreSQL, where a large NOT IN can degrade to a nested loop;
    # NOT IN on SQLite, which builds one index over the list.
    def not_paired(column: str, key: str, extra: str = "") -> str:
        if pg:
            return f"NOT EXISTS (SELECT 1 FROM {_MATCH} AS m WHERE m.{key} = {column}{extra})"
        return f"{column} NOT IN (SELECT m.{key} FROM {_MATCH} AS m WHERE 1 = 1{extra})"

    # Sequences that lose an instance (replaced, or removed) need recomputing as well.
    if plan.mode == "update_with_existing":
        losing = (
            "SELECT DISTINCT sequence_id FROM instance WHERE file_id = :f AND "
            "sequence_id IS NOT NULL AND "
            + not_paired("instance.id", "matched_id", " AND m.same = 1")
        )
    else:
        losing = (
            f"SELECT DISTINCT i.sequence_id FROM instance AS i JOIN {_MATCH} AS m "
            "ON m.matched_id = i.id WHERE m.same = 0 AND i.sequence_id IS NOT NULL"
        )
    touched.update(conn.execute(text(losing), params).scalars())

    removed = 0
    if plan.mode == "update_with_existing":
        removed = conn.execute(
            text(
                "DELETE FROM instance WHERE file_id = :f AND "
                + not_paired("instance.id", "matched_id")
            ),
            params,
        ).rowcount

    sets = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in INSTANCE_COLUMNS)
    if replaced:
        conn.execute(
            text(
                f"UPDATE instance SET import_id = :imp, {sets} FROM {_MATCH} AS m "
                f"JOIN {_STAGE} AS s ON s.stage_id = m.stage_id "
                "WHERE instance.id = m.matched_id AND m.same = 0"
            ),
            params,
        )
    if total - unchanged - replaced > 0:  # staged rows that paired with nothing are new
        conn.execute(
            text(
                f"INSERT INTO instance (project_id, file_id, import_id, {cols}) "
                f"SELECT :p, :f, :imp, {cols} FROM {_STAGE} AS st "
                f"WHERE {not_paired('st.stage_id', 'stage_id')} ORDER BY stage_id"
            ),
            params,
        )
    if not pg:  # PostgreSQL drops them at commit
        for name in (_STAGE, _MATCH):
            conn.exec_driver_sql(f"DROP TABLE temp.{name}")
    return total - unchanged - replaced, unchanged, removed, replaced


def _content_key(conn: Connection, params: dict[str, Any]) -> tuple[str, ...]:
    """What rows without an external id are paired by: digest and ids where every such row on
    both sides has a digest, else every content column."""
    undigested = conn.execute(
        text(
            f"SELECT 1 FROM {_STAGE} WHERE external_id IS NULL AND content_hash = :none "
            "UNION ALL SELECT 1 FROM instance WHERE file_id = :f AND external_id IS NULL "
            "AND content_hash = :none LIMIT 1"
        ),
        {**params, "none": NO_DIGEST},
    ).first()
    return _CONTENT_COLUMNS if undigested else ("content_hash", *_MATCH_COLUMNS)


def _set_new_sequences(
    conn: Connection,
    plan: WritePlan,
    sequence_ids: dict[tuple[int, int], int],
    rows_per_sequence: dict[int, int],
) -> None:
    """Counts, first/last frame and keyframes of a new file's sequences, from the plan.

    The plan's frames of a track are exactly the frames of its rows (both come from the same
    instances); the row count is what the rows said as they streamed past.
    """
    updates = []
    for seq in plan.sequences:
        sid = sequence_ids[(seq.label_id, seq.number)]
        frames = list(seq.frames)
        updates.append(
            {
                "sid": sid,
                "n": rows_per_sequence.get(sid, 0),
                "first": frames[0] if frames else None,
                "last": frames[-1] if frames else None,
                "kf": frames,
            }
        )
    if updates:
        _update_sequences(conn, updates)


def _update_sequences(conn: Connection, updates: list[dict[str, Any]]) -> None:
    s = t.sequence
    conn.execute(
        update(s)
        .where(s.c.id == bindparam("sid"))
        .values(
            instance_count=bindparam("n"),
            first_frame=bindparam("first"),
            last_frame=bindparam("last"),
            keyframes=bindparam("kf", type_=s.c.keyframes.type),
        ),
        updates,
    )


def _recompute_sequences(
    conn: Connection, plan: WritePlan, touched: set[int], keep: set[int]
) -> None:
    """Counts, first/last frame and keyframes of the touched sequences, from the instance rows.

    Empty sequences that the plan did not ask for (their instances were all removed) go away.
    """
    if not touched:
        return
    pg = conn.dialect.name == "postgresql"
    frames_agg = "array_agg(DISTINCT frame)" if pg else "group_concat(DISTINCT frame)"
    sql = (
        f"SELECT sequence_id, count(*), min(frame), max(frame), {frames_agg} FROM instance "
        "WHERE file_id = :f AND sequence_id IS NOT NULL"
    )
    wanted = sorted(touched)
    params: dict[str, Any] = {"f": plan.file_id}
    if len(wanted) <= 1000:
        stmt = text(sql + " AND sequence_id IN :ids GROUP BY sequence_id").bindparams(
            bindparam("ids", expanding=True)
        )
        params["ids"] = wanted
    else:  # one pass over the file beats a statement per chunk of ids
        stmt = text(sql + " GROUP BY sequence_id")
    found = {row[0]: row[1:] for row in conn.execute(stmt, params)}

    updates = []
    empty = []
    for sid in wanted:
        if sid in found:
            n, first, last, frames = found[sid]
            if isinstance(frames, str):  # SQLite's group_concat
                frames = [int(f) for f in frames.split(",")]
            frames = sorted(f for f in frames or () if f is not None)
            updates.append(
                {"sid": sid, "n": n, "first": first, "last": last, "kf": frames},
            )
        elif sid in keep:
            updates.append({"sid": sid, "n": 0, "first": None, "last": None, "kf": []})
        else:
            empty.append(sid)
    if updates:
        _update_sequences(conn, updates)
    s = t.sequence
    for chunk in _chunks(empty):
        conn.execute(s.delete().where(s.c.id.in_(chunk), s.c.file_id == plan.file_id))


def _finish(conn: Connection, plan: WritePlan, result: WriteResult) -> None:
    imp = t.import_
    current = conn.execute(select(imp.c.counts).where(imp.c.id == plan.import_id)).scalar()
    counts = {**(current or {}), **plan.counts, **result.counts()}
    now = utcnow()
    conn.execute(
        update(imp)
        .where(imp.c.id == plan.import_id)
        .values(
            status="success",
            percent=100.0,
            counts=counts,
            warnings=list(plan.warnings),
            problems=list(plan.problems),
            problem_count=plan.problem_count,
            finished_at=now,
            heartbeat_at=now,
            error=None,
        )
    )


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
