"""Many unfinished imports updated in one statement, each with values of its own.

A batch's chunk starts and ends its imports together. On PostgreSQL an executemany is a round
trip per import, ~1 ms each while the import's workers and the database server share the cores
(a third of a chunk's time went there); one UPDATE ... FROM the rows as one JSON document is a
single round trip. SQLite runs in the process: one executemany on the driver, whose cost is the
binding (see `_update_on_sqlite`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any

import msgspec
from sqlalchemy import Connection, Table, bindparam, text

from labelport.store import tables as t
from labelport.store.bulk import quote


def unfinished(imports: Any) -> list[Any]:
    """`status NOT IN (terminal)` spelled without an expanding IN, which executemany refuses."""
    return [imports.c.status != status for status in t.TERMINAL_STATUSES]


def update_unfinished_imports(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    constants: Mapping[str, Any],
    *,
    project_id: int | None = None,
) -> int:
    """Set each row's values (its keys other than "id", the same in every row) and `constants`
    on the import of id `row["id"]`, unless it has ended (or, with `project_id`, is another
    project's). Returns how many imports changed."""
    if not rows:
        return 0
    i = t.import_
    names = [name for name in rows[0] if name != "id"]
    if conn.dialect.name != "postgresql":
        return _update_on_sqlite(conn, rows, names, constants, project_id)
    columns = ["id", *names]
    rows_sql, document = json_rows(conn, i, columns, [[row[c] for c in columns] for row in rows])
    sets = [f"{quote(name)} = v.{quote(name)}" for name in names]
    sets += [f'"{name}" = :c_{name}' for name in constants]
    where = ["i.id = v.id", "i.status <> ALL(CAST(:ended AS text[]))"]
    if project_id is not None:
        where.append(f"i.project_id = {int(project_id)}")
    updated = text(
        f'UPDATE "import" AS i SET {", ".join(sets)}'
        f" FROM ({rows_sql}) AS v"
        f" WHERE {' AND '.join(where)}"
    ).bindparams(
        *(bindparam(f"c_{name}", value, type_=i.c[name].type) for name, value in constants.items())
    )
    ended = list(t.TERMINAL_STATUSES)
    return int(conn.execute(updated, {"rows": document, "ended": ended}).rowcount)


def json_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> tuple[str, str]:
    """PostgreSQL: `rows` (values in `columns` order) as a SELECT of one JSON document, which
    goes as the parameter :rows: the SELECT's SQL (its rows numbered in their order, from 1, as
    `row_order`), and the document.

    Each value is bound as its column binds it, then taken out as text and cast to the column's
    type by the server. An executemany is a round trip a row; one array parameter per column is
    dumped by psycopg in Python, value by value (a JSON text column's every value escaped with a
    regex): ~2/3 of an UPDATE of a chunk's imports went there. The document is read as jsonb,
    parsed once: as json, each `->>` parsed its row again (2,560 imports ended in 10 UPDATEs of
    11 columns: 99 ms of the server's time as json, 49 ms as jsonb)."""
    compile_type = conn.dialect.type_compiler_instance.process
    binds = [table.c[name].type.bind_processor(conn.dialect) for name in columns]
    bound = [
        [v if bind is None or v is None else bind(v) for v, bind in zip(row, binds, strict=True)]
        for row in rows
    ]
    try:
        document = _encode(bound).decode()
    except ValueError:  # a lone surrogate (in a value no column type escaped): json escapes it
        document = json.dumps(bound, default=_json_value, allow_nan=False)
    fields = ", ".join(
        f"CAST(e->>{n} AS {compile_type(table.c[name].type)}) AS {quote(name)}"
        for n, name in enumerate(columns)
    )
    return (
        f"SELECT {fields}, e_n AS row_order"
        " FROM jsonb_array_elements(CAST(:rows AS jsonb)) WITH ORDINALITY AS e_rows(e, e_n)",
        document,
    )


def _json_value(value: Any) -> str:
    """A value json cannot write: the aware datetimes of time columns, as PostgreSQL reads them
    (msgspec writes those itself, RFC 3339, and asks only about the others: refused)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to PostgreSQL as JSON")


# Several times json's speed; json where msgspec cannot write a value (`json_rows`)
_encode = msgspec.json.Encoder(enc_hook=_json_value).encode


def _update_on_sqlite(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    names: list[str],
    constants: Mapping[str, Any],
    project_id: int | None,
) -> int:
    """One executemany on the driver, each value bound as its column's type binds it, and
    `constants` bound once: through Core, the executemany built and processed a dict per import
    and bound the constants again for each (the end of a chunk of 200 imports: ~17 ms, here
    6-9 ms, of which the UPDATEs are ~6)."""
    i = t.import_
    dialect = conn.dialect

    def bound(name: str, values: Sequence[Any]) -> Sequence[Any]:
        bind = i.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        return values if bind is None else [None if v is None else bind(v) for v in values]

    assigned = [*names, *constants]
    where = ["id = ?", *(f"status <> '{status}'" for status in t.TERMINAL_STATUSES)]
    fixed = [bound(name, [value])[0] for name, value in constants.items()]
    if project_id is not None:
        where.append("project_id = ?")
        fixed_after = [project_id]
    else:
        fixed_after = []
    sql = (
        f"UPDATE {quote(i.name)} SET {', '.join(f'{quote(n)} = ?' for n in assigned)}"
        f" WHERE {' AND '.join(where)}"
    )
    columns = [bound(name, [row[name] for row in rows]) for name in names]
    params = zip(  # not strict: the repeated values go on for as long as the rows do
        *columns,
        *map(repeat, fixed),
        [row["id"] for row in rows],
        *map(repeat, fixed_after),
        strict=False,
    )
    raw: Any = conn.connection.driver_connection
    cur = raw.cursor()
    try:
        cur.executemany(sql, params)
        return int(cur.rowcount)
    finally:
        cur.close()
