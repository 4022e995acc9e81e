"""Fixtures of the page tests: a Service with its app served by uvicorn in a thread and a
signed-in page of the `browser` (tests/conftest.py: Debian's Chromium, never a downloaded one;
without it the browser tests skip and say why, unless LABELPORT_REQUIRE_BROWSER=1, as on CI).
Helpers to import media are in tests/web_helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labelport.api import create_app
from labelport.service import Service
from labelport.web import signin_url
from server_helpers import threaded_server


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("web")
    svc = Service.open(data_dir=root / "data", workers=2)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture(scope="module")
def app(service: Service) -> Any:
    return create_app(service)


@pytest.fixture(scope="module")
def base_url(app: Any) -> Iterator[str]:
    with threaded_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


class Dialogs:
    """Every JavaScript dialog (alert, confirm, prompt) a page opens; dismissed at once."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, dialog: Any) -> None:
        self.seen.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


@pytest.fixture
def page(browser: Any, app: Any, base_url: str) -> Iterator[Any]:
    """A fresh browser context signed in with a one-time link; `page.dialogs` lists dialogs."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    dialogs = Dialogs()
    tab.on("dialog", dialogs)
    tab.dialogs = dialogs
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.js_errors = errors
    tab.goto(signin_url(app, base_url))
    with tab.expect_navigation():  # the link's page asks to confirm; only the button signs in
        tab.get_by_role("button", name="Continue").click()
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
