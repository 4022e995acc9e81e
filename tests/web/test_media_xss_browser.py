"""Stored XSS (issue 13, item 1) in a real Chromium: a PNG with a script appended, uploaded as
x.html, opened straight from the API's and the pages' media URLs, never runs its script; a
text file holding a page is a download, never a page.

A control serves the same bytes as text/html: it shows the script would run, so a pass means
the headers stopped it, not that the check cannot see a script run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labelport.service import Service
from media_factory import make_png
from server_helpers import make_project
from web_helpers import import_upload

SCRIPT = b"<html><script>window.pwned = 1; document.title = 'pwned'</script></html>"
RAN = "() => [window.pwned === 1, document.title]"


@pytest.fixture(scope="module")
def hostile(service: Service, media_dir: Path) -> dict[str, Any]:
    keys = make_project(service, "Hostile media browser")
    image = media_dir / "x.html"
    make_png(image, 32, 24)
    image.write_bytes(image.read_bytes() + SCRIPT)
    done = import_upload(service, keys.id, image, {})
    assert done["status"] == "success", done
    page = media_dir / "page.html"
    page.write_bytes(SCRIPT)
    text = import_upload(service, keys.id, page, {})
    assert text["status"] == "success", text
    return {
        "keys": keys,
        "image": done["file_id"],
        "text": text["file_id"],
        "bytes": image.read_bytes(),
    }


def _viewer(browser: Any, hostile: dict[str, Any]) -> Any:
    client_id, secret = hostile["keys"].auth("viewer")
    context = browser.new_context(http_credentials={"username": client_id, "password": secret})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    return context, tab


def test_the_control_runs_the_script_when_served_as_html(
    browser: Any, base_url: str, hostile: dict[str, Any]
) -> None:
    context, tab = _viewer(browser, hostile)
    try:
        tab.route(
            f"{base_url}/control.html",
            lambda route: route.fulfill(body=hostile["bytes"], content_type="text/html"),
        )
        tab.goto(f"{base_url}/control.html")
        assert tab.evaluate(RAN) == [True, "pwned"]
    finally:
        context.close()


def test_the_api_media_url_does_not_run_the_script(
    browser: Any, base_url: str, hostile: dict[str, Any]
) -> None:
    context, tab = _viewer(browser, hostile)
    try:
        url = base_url + hostile["keys"].url(f"/files/{hostile['image']}/media")
        response = tab.goto(url)
        assert response is not None and response.status == 200
        assert response.headers["content-type"] == "image/png"
        ran, title = tab.evaluate(RAN)
        assert not ran and title != "pwned"
    finally:
        context.close()


def test_the_api_media_url_downloads_a_page_kept_as_text(
    browser: Any, base_url: str, hostile: dict[str, Any]
) -> None:
    context, tab = _viewer(browser, hostile)
    try:
        url = base_url + hostile["keys"].url(f"/files/{hostile['text']}/media")
        with (
            tab.expect_download() as download,
            pytest.raises(Exception, match="Download is starting"),
        ):
            tab.goto(url)
        assert download.value.suggested_filename == "page.html"
        assert Path(download.value.path()).read_bytes() == SCRIPT
    finally:
        context.close()


def test_the_pages_media_url_does_not_run_the_script(
    page: Any, base_url: str, hostile: dict[str, Any]
) -> None:
    psid = hostile["keys"].string_id
    response = page.goto(f"{base_url}/ui/p/{psid}/files/{hostile['image']}/media")
    assert response is not None and response.status == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    ran, title = page.evaluate(RAN)
    assert not ran and title != "pwned"
