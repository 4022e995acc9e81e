"""Pages stay responsive with 10,000 imports or 2,000 instances in a frame: the number of SQL
statements per page does not grow with the data, and every list query carries a LIMIT."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert

from labelport.api import create_app
from labelport.ingest.dispatch import IMPORT_THREAD_PREFIX
from labelport.service import Service
from labelport.store import tables as t
from labelport.web import data, signin_url
from media_factory import make_png
from signin_helpers import redeem_link
from web_helpers import import_upload

# Tables that grow with use; a plain (non-aggregate) read of them must be bounded.
GROWING = ("import", "instance", "sequence", "file")


class Statements:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The import threads poll the queue whenever they like; only the page's own count.
        if not threading.current_thread().name.startswith(IMPORT_THREAD_PREFIX):
            self.seen.append(" ".join(statement.split()))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self)

    def selects(self) -> list[str]:
        return [s for s in self.seen if s.upper().startswith("SELECT")]


def unbounded(statements: list[str]) -> list[str]:
    """SELECTs of a growing table that neither aggregate, nor fetch one row by key, nor LIMIT."""
    bad = []
    for sql in statements:
        upper = sql.upper()
        tables = set(re.findall(r'(?:FROM|JOIN) "?(\w+)"?', sql, flags=re.IGNORECASE))
        if not tables & set(GROWING):
            continue
        if " LIMIT " in upper or "COUNT(" in upper or "GROUP BY" in upper:
            continue
        if re.search(r'WHERE "?\w+"?\."?id"? = \?', sql):  # one row by its primary key
            continue
        bad.append(sql)
    return bad


@pytest.fixture
def quiet(tmp_path: Path) -> Iterator[Service]:
    """No worker threads: rows inserted here stay as they are."""
    svc = Service.open(data_dir=tmp_path / "data", workers=0)
    try:
        yield svc
    finally:
        svc.close()


def _add_imports(service: Service, project_id: int, count: int) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        {"project_id": project_id, "status": ("success", "failed")[n % 2], "mode": "create",
         "media_type": "image", "percent": 100.0, "problem_count": n % 2, "attempts": 1,
         "counts": {"instances": n}, "created_at": start + timedelta(seconds=n)}
        for n in range(count)
    ]  # fmt: skip
    with service.store.engine.begin() as conn:
        conn.execute(insert(t.import_), rows)


def _client(service: Service) -> TestClient:
    app = create_app(service)
    client = TestClient(app, raise_server_exceptions=True)
    redeem_link(client, signin_url(app, "http://testserver"))
    return client


def _render(service: Service, client: TestClient, path: str) -> list[str]:
    with Statements(service.store.engine) as statements:
        response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    return statements.selects()


def test_the_import_pages_cost_the_same_with_10000_imports(quiet: Service) -> None:
    small = quiet.create_project("Few imports")
    big = quiet.create_project("Many imports")
    _add_imports(quiet, small["id"], 5)
    _add_imports(quiet, big["id"], 10_000)
    with _client(quiet) as client:
        for path in ("", "/imports", "/imports?status=failed&page=3", "/imports?page=200"):
            few = _render(quiet, client, f"/ui/p/{small['string_id']}{path}")
            many = _render(quiet, client, f"/ui/p/{big['string_id']}{path}")
            assert len(many) == len(few), (path, few, many)
            assert unbounded(many) == [], path
        page = client.get(f"/ui/p/{big['string_id']}/imports")
        assert page.text.count("data-import-id=") == 50  # one page, not 10,000 rows
        assert "page 1 of 200" in page.text


def test_a_frame_of_2000_instances_is_one_bounded_answer(service: Service, media_dir: Path) -> None:
    project = service.create_project("Dense")
    service.create_labels(project["id"], ["thing"])
    image = make_png(media_dir / "dense.png", 400, 400)

    def boxes(n: int) -> list[dict[str, Any]]:
        return [
            {"type": "box", "name": "thing", "x_min": k % 390, "y_min": (k // 390) * 5,
             "x_max": k % 390 + 8, "y_max": (k // 390) * 5 + 8}
            for k in range(n)
        ]  # fmt: skip

    sparse = import_upload(service, project["id"], image, {"instance_list": boxes(20)})
    image2 = make_png(media_dir / "dense2.png", 400, 401)  # another file (another sha256)
    dense = import_upload(service, project["id"], image2, {"instance_list": boxes(2000)})
    assert sparse["status"] == dense["status"] == "success", (sparse, dense)
    base = f"/ui/p/{project['string_id']}/files"
    with _client(service) as client:
        for suffix in ("", "/instances.json"):
            few = _render(service, client, f"{base}/{sparse['file_id']}{suffix}")
            many = _render(service, client, f"{base}/{dense['file_id']}{suffix}")
            assert len(many) == len(few), (suffix, few, many)
            assert unbounded(many) == [], suffix
        answer = client.get(f"{base}/{dense['file_id']}/instances.json").json()
        assert len(answer["instances"]) == 2000 and answer["truncated"] is False

        # The cap itself: an answer never holds more than MAX_INSTANCES and says where it
        # stopped, so that the viewer asks again from there.
        cap, data.MAX_INSTANCES = data.MAX_INSTANCES, 500
        try:
            answer = client.get(f"{base}/{dense['file_id']}/instances.json").json()
        finally:
            data.MAX_INSTANCES = cap
        assert len(answer["instances"]) == 500 and answer["truncated"] is True


def test_the_checker_catches_an_unbounded_list() -> None:
    assert unbounded(["SELECT instance.id FROM instance WHERE instance.file_id = ?"])
    assert unbounded(['SELECT "import".id FROM "import" WHERE "import".project_id = ?'])
    assert not unbounded(['SELECT "import".id FROM "import" WHERE x = ? LIMIT ? OFFSET ?'])
    assert not unbounded(["SELECT count(*) AS count_1 FROM instance WHERE instance.file_id = ?"])
