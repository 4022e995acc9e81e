"""The adversarial re-run (issue 13): hostile packets against a live `labelport serve`.

Every case is generated from the tables below (packet keys x wrong values, instance types x keys
x wrong values, frame keys, bodies that are not JSON, sizes, content types, encodings) and posted
to the native packet route and to the `diffgram` SDK's packet route of a real server, on SQLite
and on PostgreSQL. Each must be refused with a 4xx, in a few seconds, with a stable code and a
path (never a 500, never a traceback), and a refused packet must leave nothing behind: no file,
instance, sequence or label row, no import other than its `rejected` record, no blob.

The instance cases are sent one packet per instance type, holding every bad variant of that
type at once: each variant's index must then appear in the paths of the answer (an index with no
problem of its own would mean a hostile value got through unnoticed).
"""

from __future__ import annotations

import gzip
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from labelport.format import INSTANCE_TYPES
from labelport.format.instances import INSTANCE_CLASSES
from labelport.format.problems import CATALOGUE

from .test_types import MEDIA_FOR, VALID

URL = "http://127.0.0.1:9/a.png"  # never fetched: the server runs no import worker
MEDIA = {"url": URL, "type": "image"}
GOOD_BOX = {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}
LIMIT_MB = 2
SECONDS = 5.0  # no answer may take longer

# Raw JSON tokens that Python's json cannot write: put into a body where "<<raw:N>>" stands.
RAW_TOKENS = {
    "nan": "NaN",
    "inf": "Infinity",
    "-inf": "-Infinity",
    "1e400": "1e400",
    "-1e400": "-1e400",
    "bigint": "1" * 5000,
    "deep": "[" * 5000 + "]" * 5000,
}


@dataclass(frozen=True)
class Raw:
    name: str


def body_of(value: Any) -> bytes:
    """JSON text of `value`, with each `Raw` written as its raw token."""

    def default(v: Any) -> Any:
        raise TypeError(v)

    text = json.dumps(_mark(value), default=default)
    return re.sub(r'"<<raw:([^>]+)>>"', lambda m: RAW_TOKENS[m.group(1)], text).encode()


def _mark(value: Any) -> Any:
    if isinstance(value, Raw):
        return f"<<raw:{value.name}>>"
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v) for v in value]
    return value


# --- the tables ---------------------------------------------------------------------------------

LONG = "a" * 300
HUGE_TEXT = "b" * 100_000
SURROGATE = "x\ud800y"
WRONG_VALUES: list[Any] = [
    "x",
    "",
    0,
    -1,
    1.5,
    True,
    None,
    [],
    {},
    [1],
    {"a": 1},
    10**30,
    -(10**30),
    LONG,
    SURROGATE,
    # "deep" has cases of its own: nested too deeply, the whole body is unreadable
    *(Raw(name) for name in RAW_TOKENS if name != "deep"),
]

# Packet keys and values that are wrong for them (the packet is otherwise good).
PACKET_CASES: dict[str, list[Any]] = {
    "media": [1, "x", [], True, {"url": 5}, {"url": URL, "type": "hologram"}, {"url": LONG * 40}],
    "file_id": ["x", 1.5, -1, True, [], {}, 10**30, 987654, Raw("nan"), Raw("bigint")],
    "mode": ["x", 1, [], "UPDATE", SURROGATE],
    "text_data": [1, [], {}, True],
    "original_filename": [1, [], {}, SURROGATE],  # any length: a Text column
    "instance_list": [5, "x", {}, True, {"0": []}, Raw("deep")],
    "frame_packet_map": [5, "x", [], True],
    "directory_id": ["x", -1, 1.5, 10**30, 987654, Raw("1e400")],
    "parent_file_id": ["x", -1, 1.5, 10**30],  # an unknown id: see the last test
    "ordinal": ["x", -1, 1.5, 10**30],
    "idempotency_key": [1, [], {}, LONG, HUGE_TEXT, SURROGATE],
    "on_error": ["x", 1, [], SURROGATE],
    "auto_create_labels": ["yes", 1, [], {}],
    "clip_to_media": ["yes", 1, [], {}],
    "dry_run": ["yes", 1, [], {}],
    "strict": ["yes", 1, [], {}],
}

# Instances refused for what they mean, not their kind.
SEMANTIC: list[tuple[str, dict[str, Any]]] = [
    ("image", {"type": "box", "name": "cat", "x_min": 5, "y_min": 1, "x_max": 5, "y_max": 9}),
    ("image", {"type": "box", "name": "cat", "x_min": 1, "y_min": 7, "x_max": 9, "y_max": 7}),
    ("image", {"type": "polygon", "name": "cat", "points": []}),
    ("image", {"type": "polygon", "name": "cat", "points": [{"x": 1, "y": 1}]}),
    ("image", {"type": "polygon", "name": "cat", "points": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]}),
    ("image", {"type": "line", "name": "cat", "points": [{"x": 1, "y": 1}]}),
    ("image", {"type": "point", "name": "cat", "points": []}),
    (
        "image",
        {"type": "ellipse", "name": "cat", "center_x": 1, "center_y": 1, "width": 0, "height": 1},
    ),
    (
        "image",
        {
            "type": "keypoints",
            "name": "cat",
            "nodes": [{"id": "a", "x": 1, "y": 1}, {"id": "a", "x": 2, "y": 2}],
        },
    ),
    (
        "image",
        {
            "type": "keypoints",
            "name": "cat",
            "nodes": [{"id": "a", "x": 1, "y": 1}],
            "edges": [{"from": "a", "to": "zz"}],
        },
    ),
    ("image", {"type": "relation", "name": "cat", "from": "nowhere", "to": "nothing"}),
    ("image", {"type": "relation", "name": "cat", "id": "r", "from": "r", "to": "r"}),
    ("image", {"type": "relation", "name": "cat"}),
    ("image", {"type": "nonsense", "name": "cat"}),
    ("image", {"type": "", "name": "cat"}),
    ("image", {"type": "BOX", "name": "cat"}),
    ("image", {"type": 5, "name": "cat"}),
    ("image", {"type": None, "name": "cat"}),
    ("image", {"type": [], "name": "cat"}),
    ("image", {"type": SURROGATE, "name": "cat"}),
    ("image", {"name": "cat", "x_min": 1}),
    ("image", {"type": "box", "x_min": 1, "y_min": 2, "x_max": 3, "y_max": 4}),
    ("image", {**GOOD_BOX, "name": "not-a-label"}),
    ("image", {**GOOD_BOX, "name": SURROGATE}),
    ("image", {**GOOD_BOX, "label_file_id": 987654}),
    ("image", {**GOOD_BOX, "id": "same"}),
    ("image", {**GOOD_BOX, "id": "same"}),
    ("image", {**GOOD_BOX, "model_run_ref": "run"}),
    ("image", {**GOOD_BOX, "attribute_groups": {"x": 1}}),
    ("image", {**GOOD_BOX, "attribute_groups": {"987654": 1}}),
    ("image", {**GOOD_BOX, "attribute_groups": {SURROGATE: 1}}),
    ("image", {**GOOD_BOX, "number": 0}),
    ("image", {**GOOD_BOX, "number": -5}),
    ("image", {**GOOD_BOX, "type": "text_token"}),
    ("text", {"type": "text_token", "name": "cat", "start_token": 5, "end_token": 2}),
    ("audio", {"type": "audio", "name": "cat", "start_time": 5, "end_time": 2}),
    ("geo", {"type": "geo_point", "name": "cat", "lonlat": [500, 100]}),
    ("geo", {"type": "geo_polygon", "name": "cat", "coords": [[0, 0], [1, 1]]}),
    ("geo", {"type": "geo_box", "name": "cat", "bounds_lonlat": [[1, 1], [0, 0]]}),
    ("image", None),
    ("image", 5),
    ("image", "box"),
    ("image", []),
    ("image", True),
    ("image", Raw("nan")),
]

FRAME_KEYS = ["-1", "99999999999999999999", "1.0", "06", "", " 1", "1e3", "0x1", "+1", "\u0661"]
FRAME_VALUES: list[Any] = [5, "x", {}, True, [5], [None], Raw("nan"), Raw("deep")]

CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=zz",
    "application/xml",
    "image/png",
]


def _fails(value: Any, type_: Any) -> bool:
    """Whether `value` is refused by the key's type alone (its kind, range or length)."""
    if isinstance(value, Raw):
        return True  # NaN, infinities, numbers beyond any type, nesting: never a right value
    try:
        msgspec.convert(value, type_)
    except msgspec.ValidationError:
        return True
    except UnicodeEncodeError:
        return True
    # a lone surrogate is refused in every string the format keeps
    return isinstance(value, str) and value == SURROGATE


def instance_variants(type_: str) -> list[Any]:
    """Every valid instance of `type_` with one key's value replaced by a value wrong for it."""
    cls = INSTANCE_CLASSES[type_]
    base = {"type": type_, "name": "cat", **VALID[type_]}
    out = []
    for f in msgspec.structs.fields(cls):
        if f.encode_name == "type":
            continue
        for value in WRONG_VALUES:
            if _fails(value, f.type):
                out.append({**base, f.encode_name: value})
        if f.required:
            out.append({k: v for k, v in base.items() if k != f.encode_name})
    return out


def media_of(type_: str) -> dict[str, Any]:
    return {"url": URL, "type": MEDIA_FOR.get(type_, "image")}


@dataclass
class Case:
    id: str
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    # indexes of instance_list that must each have a problem of their own
    bad_indexes: list[int] = field(default_factory=list)
    routes: tuple[str, ...] = ("native", "compat")


def _cases() -> Iterator[Case]:
    good = {"media": MEDIA, "instance_list": [GOOD_BOX]}
    # bodies that are not a JSON object
    for i, body in enumerate(
        [
            b"",
            b"   ",
            b"{",
            b"{]",
            b"nul",
            b"[1,2",
            b'{"a":1,}',
            b"{'a':1}",
            b'{"a":1} x',
            b"\xef\xbb\xbf{}",
            b"\xff\xfe\x00{",
            b'{"media":"\xff"}',
            b"\x00",
            b"[]",
            b"1",
            b'"x"',
            b"null",
            b"true",
            b"NaN",
            b"1e400",
            b"[" * 100_000 + b"]" * 100_000,
            b'{"media":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
            b'{"instance_list":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
            b'{"\\ud800": 1}',
            b'{"media":{"url":"' + URL.encode() + b'","type":"image"},"a\\udfff":[}',
        ]
    ):
        yield Case(f"body-{i}", body)
    for where in ("instance", "point", "attribute"):
        deep = {
            "instance": [Raw("deep")],
            "point": [{"type": "polygon", "name": "cat", "points": [Raw("deep")]}],
            "attribute": [{**GOOD_BOX, "attribute_groups": {"1": Raw("deep")}}],
        }[where]
        yield Case(f"deep-{where}", body_of({"media": MEDIA, "instance_list": deep}))
    # duplicate keys: the last one is wrong
    dup = b'{"media":{"url":"' + URL.encode() + b'","type":"image"},'
    yield Case("dup-list", dup + b'"instance_list":[],"instance_list":5}')
    yield Case("dup-on_error", dup + b'"on_error":"reject","on_error":"bogus"}')
    yield Case("dup-type", dup + b'"instance_list":[{"type":"box","type":"zzz","name":"cat"}]}')
    yield Case("dup-media", dup + b'"media":5,"instance_list":[]}')
    # the packet's own keys
    for key, values in PACKET_CASES.items():
        for i, value in enumerate(values):
            yield Case(f"key-{key}-{i}", body_of({**good, key: value}))
    # no media at all, and media of the wrong container
    yield Case("no-media", body_of({"instance_list": [GOOD_BOX]}))
    video = {"url": URL, "type": "video"}
    yield Case("video-with-list", body_of({"media": video, "instance_list": [GOOD_BOX]}))
    yield Case("image-with-map", body_of({"media": MEDIA, "frame_packet_map": {"0": [GOOD_BOX]}}))
    # frames
    for i, key in enumerate(FRAME_KEYS):
        packet = {"media": video, "frame_packet_map": {key: [GOOD_BOX]}}
        yield Case(f"frame-key-{i}", body_of(packet))
    for i, value in enumerate(FRAME_VALUES):
        packet = {"media": video, "frame_packet_map": {"0": value}}
        yield Case(f"frame-value-{i}", body_of(packet))
    # every instance type, every key, every wrong value: one packet a type
    for type_ in INSTANCE_TYPES:
        prefix = (
            [{"type": "tag", "name": "cat", "id": "a"}, {"type": "tag", "name": "cat", "id": "b"}]
            if type_ == "relation"
            else []
        )
        variants = instance_variants(type_)
        packet = {"media": media_of(type_), "instance_list": prefix + variants}
        bad = list(range(len(prefix), len(prefix) + len(variants)))
        yield Case(f"type-{type_}", body_of(packet), bad_indexes=bad)
    # semantic problems, per media type
    for media_type in sorted({m for m, _ in SEMANTIC}):
        items = [item for m, item in SEMANTIC if m == media_type]
        packet = {"media": {"url": URL, "type": media_type}, "instance_list": items}
        bad = list(range(len(items)))
        if media_type == "image":  # the first of the two instances with id "same" is fine
            bad.remove(items.index({**GOOD_BOX, "id": "same"}))
        yield Case(f"semantic-{media_type}", body_of(packet), bad_indexes=bad)
    # big, within the limit, and over it
    near = (LIMIT_MB << 20) - 1000
    ints = b'{"instance_list":[' + b"1," * (near // 2 - 20) + b"1]}"
    yield Case("giant-ints", ints)
    yield Case("giant-objects", b'{"instance_list":[' + b"{}," * (near // 3 - 20) + b"{}]}")
    box = json.dumps({**GOOD_BOX, "x_min": "1"}).encode()
    count = near // (len(box) + 1) - 10
    boxes = b'{"media":' + json.dumps(MEDIA).encode() + b',"instance_list":['
    yield Case("giant-bad-boxes", boxes + b",".join([box] * count) + b"]}")
    yield Case("giant-string", body_of({**good, "text_data": "c" * (near - 200)}))
    yield Case("over-limit", b'{"instance_list":[' + b"1," * (LIMIT_MB << 20) + b"1]}")
    # content types and encodings: a good packet, sent the wrong way
    for i, content_type in enumerate(CONTENT_TYPES):
        yield Case(f"content-type-{i}", body_of(good), headers={"Content-Type": content_type})
    bomb = gzip.compress(b"{" + b" " * (200 << 20) + b"}", compresslevel=9)
    for encoding, body in (("gzip", bomb), ("gzip", gzip.compress(body_of(good))), ("br", b"x")):
        headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
        yield Case(f"encoding-{encoding}-{len(body)}", body, headers=headers)


CASES = list(_cases())
CASES_BY_ID = {case.id: case for case in CASES}
assert len(CASES_BY_ID) == len(CASES), "case ids must be unique"


# --- the server ---------------------------------------------------------------------------------


@dataclass
class Live:
    base: str
    auth: tuple[str, str]
    string_id: str
    project_id: int
    data_dir: Path
    database_url: str | None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    from labelport.service import Service
    from postgres_helpers import POSTGRES_URL, _admin, _postgres_unreachable
    from server_helpers import ServeProcess

    data_dir = tmp_path_factory.mktemp("adversarial") / "data"
    database_url = None
    schema = None
    if request.param == "postgresql":
        reason = _postgres_unreachable()
        if reason is not None:
            pytest.skip(reason)
        from urllib.parse import quote

        schema = f"t_{uuid.uuid4().hex[:16]}"
        _admin(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in POSTGRES_URL else "?"
        database_url = f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        service = Service.open(data_dir=data_dir, database_url=database_url, workers=0)
        try:
            project = service.create_project("Hostile")
            key = service.create_api_key(project["id"], role="editor")
            service.create_labels(project["id"], ["cat", "another"])
        finally:
            service.close()
        extra = ["--max-body-mb", str(LIMIT_MB), "--allow-private-urls"]
        if database_url is not None:
            extra += ["--database-url", database_url]
        with ServeProcess(data_dir, *extra, workers=0) as server:
            yield Live(
                server.base_url,
                (key["client_id"], key["client_secret"]),
                project["string_id"],
                project["id"],
                data_dir,
                database_url,
            )
    finally:
        if schema is not None:
            _admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


ROUTES = {
    "native": "/api/v1/projects/{sid}/packets",
    "compat": "/api/walrus/v1/project/{sid}/input/packet",
}


def _post(live: Live, route: str, case: Case) -> tuple[httpx.Response, float]:
    url = live.base + ROUTES[route].format(sid=live.string_id)
    start = time.monotonic()
    response = httpx.post(
        url, content=case.body, headers=case.headers, auth=live.auth, timeout=3 * SECONDS
    )
    return response, time.monotonic() - start


def _answer(route: str, response: httpx.Response) -> tuple[str, list[dict[str, Any]], str | None]:
    """(code, problems, path of the error itself) of a refusal, in either route's shape."""
    body = response.json()
    if route == "native":
        error = body["error"]
        return error["code"], error.get("problems") or [], error.get("path")
    assert body["log"]["success"] is False
    return body["code"], body.get("problems") or [], body.get("path")


STABLE_CODES = {"packet.rejected", "request.too_large", "request.unsupported_media_type"}


def _refused(live: Live, route: str, case: Case) -> None:
    response, seconds = _post(live, route, case)
    text = response.text[:2000]
    assert seconds < SECONDS, f"{case.id}: {seconds:.1f} s"
    assert 400 <= response.status_code < 500, f"{case.id}: {response.status_code} {text}"
    assert "Traceback" not in response.text, text
    code, problems, path = _answer(route, response)
    assert code in STABLE_CODES or code in CATALOGUE, f"{case.id}: code {code!r}"
    # every refusal says where: each problem has a path, or the error itself has one
    assert problems or path is not None, f"{case.id}: no path in {text}"
    for problem in problems:
        assert problem["code"] in CATALOGUE, problem
        assert isinstance(problem["path"], str), problem
        assert problem["message"], problem
    if case.bad_indexes:
        paths = [p["path"] for p in problems]
        missed = [
            i
            for i in case.bad_indexes
            if not any(
                p == f"instance_list/{i}" or p.startswith(f"instance_list/{i}/") for p in paths
            )
        ]
        assert not missed, f"{case.id}: no problem at instance_list/{missed[:10]}: {paths[:40]}"


@pytest.mark.parametrize("case_id", list(CASES_BY_ID))
@pytest.mark.parametrize("route", list(ROUTES))
def test_refused_with_a_code_and_a_path(live: Live, route: str, case_id: str) -> None:
    case = CASES_BY_ID[case_id]
    if route not in case.routes:
        pytest.skip(f"not sent to the {route} route")
    _refused(live, route, case)


def test_nothing_was_left_behind(live: Live) -> None:
    """Run after the cases (same module, same server): only `rejected` import records."""
    from sqlalchemy import func, select

    from labelport.store import Store, tables

    # one more of each kind, in case this test runs alone
    for case_id in ("key-file_id-0", "type-box", "giant-bad-boxes", "over-limit"):
        for route in ROUTES:
            _refused(live, route, CASES_BY_ID[case_id])
    url = live.database_url or f"sqlite:///{live.data_dir / 'labelport.db'}"
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            for name in ("file", "instance", "sequence"):
                table = getattr(tables, name)
                assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
            labels = conn.execute(select(tables.label.c.name)).scalars().all()
            assert sorted(labels) == ["another", "cat"]
            statuses = conn.execute(select(tables.import_.c.status)).scalars().all()
            assert set(statuses) <= {"rejected"}, statuses
    finally:
        store.close()
    blobs = [p for p in (live.data_dir / "blobs").rglob("*") if p.is_file()]
    assert blobs == [], blobs[:5]


def test_an_unknown_parent_file_is_refused(live: Live) -> None:
    # Refused at submit like file_id and directory_id: nothing is queued, no packet blob stays.
    good = {"media": MEDIA, "instance_list": [GOOD_BOX], "parent_file_id": 987654}
    case = Case("parent-unknown", body_of(good))
    _refused(live, "native", case)
    _, problems, _ = _answer("native", _post(live, "native", case)[0])
    assert [(p["code"], p["path"]) for p in problems] == [("file.not_found", "parent_file_id")]
    blobs = [p for p in (live.data_dir / "blobs").rglob("*") if p.is_file()]
    assert blobs == [], blobs[:5]
