"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL.

- `database`: parametrized over "sqlite" and "postgresql"; a `TestDatabase` whose `.url` is
  self-contained (PostgreSQL: the test's own schema is in the URL as a search_path option), so
  a test can open more Stores or hand the URL to a subprocess. Dropped after the test.
- `store`: `database.open()`, closed after the test.

One dialect only: `@pytest.mark.parametrize("database", ["sqlite"], indirect=True)`.

Markers (pyproject.toml registers them; `--strict-markers` refuses others) are set here from
what a test uses, not written on each test: `postgres` (the postgresql case of `database`),
`browser` (the Playwright `browser` fixture below), `s3` (the moto `s3_server` of
tests/scale). `pytest -m "not postgres and not browser and not s3"` runs what needs none of them.

The helpers shared between directories (server_helpers, media_factory, ...) live in tests/ and
import by their plain names: pyproject.toml puts tests/ on the path (`pythonpath`).

PostgreSQL: `LABELPORT_TEST_POSTGRES_URL` (default postgresql://root@127.0.0.1:5432/test).
When it is unreachable the postgresql cases skip, saying why, unless LABELPORT_REQUIRE_POSTGRES=1
(CI), which makes them fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from labelport.store import Store
from postgres_helpers import POSTGRES_URL, _admin, _postgres_unreachable
from web_helpers import CHROMIUM, CHROMIUM_ARGS, browser_unavailable

DIALECTS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # not a test class, despite the name

    dialect: str
    url: str  # open this (Store.open(url)) to reach the test's database
    schema: str | None = None  # PostgreSQL: the test's schema

    def open(self) -> Store:
        return Store.open(self.url)


@pytest.fixture(params=DIALECTS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDatabase]:
    if request.param == "sqlite":
        yield TestDatabase("sqlite", f"sqlite:///{tmp_path / 'labelport.db'}")
        return
    reason = _postgres_unreachable()
    if reason is not None:
        if os.environ.get("LABELPORT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (LABELPORT_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _admin(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield TestDatabase("postgresql", url, schema)
    finally:
        _admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def store(database: TestDatabase) -> Iterator[Store]:
    s = database.open()
    try:
        yield s
    finally:
        s.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("database") == "postgresql":
            item.add_marker(pytest.mark.postgres)
        fixtures = getattr(item, "fixturenames", ())
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
        if "s3_server" in fixtures:
            item.add_marker(pytest.mark.s3)


# One Chromium per test module, defined once: Playwright's sync API runs its event loop on the main
# thread, so while a browser is up a second one refuses to start and `asyncio.run` (the queue
# tests) fails; a module's browser is closed before the next module runs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = browser_unavailable()
    if reason:
        if os.environ.get("LABELPORT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LABELPORT_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
