"""Fixtures of the page tests: a Service with its app served by uvicorn in a thread, helpers to
import media, and Playwright driving Debian's Chromium (never a downloaded browser).

Without /usr/bin/chromium (or the playwright package) the browser tests skip and say why,
unless LABELPORT_REQUIRE_BROWSER=1 (CI), which makes them fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labelport.api import create_app
from labelport.service import Service
from labelport.web import signin_url
from server_helpers import threaded_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def browser_unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (the dev extra installs it)"
    return None


@pytest.fixture(scope="session")
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


def import_upload(
    service: Service, project_id: int, path: Path, packet: dict[str, Any]
) -> dict[str, Any]:
    """Submit `packet` with `path` as its uploaded media; wait for the import to end."""
    with open(path, "rb") as stream:
        created = service.submit_packet(project_id, packet, upload=(path.name, stream))
    done = service.wait_import(project_id, created["id"], timeout=60)
    assert done["status"] in ("success", "failed"), done
    return done
