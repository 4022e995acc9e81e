"""/docs works offline: Swagger UI's script and styles come from the server itself (the
swagger-ui-py package's copy), never from a CDN (issue 14, item 7)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient


def test_the_docs_page_names_only_its_own_assets(app: Any) -> None:
    with TestClient(app) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        urls = re.findall(r"""url:\s*['"]([^'"]+)['"]""", page.text)
        assert len(assets) >= 3 and urls == ["/openapi.json"], (assets, urls)
        assert "http://" not in page.text and "https://" not in page.text
        for asset in [*assets, *urls]:
            assert asset.startswith("/") and not asset.startswith("//"), asset
            answer = client.get(asset)
            assert answer.status_code == 200, asset
            assert len(answer.content) > 100, asset
        js = client.get("/docs/static/swagger-ui-bundle.js")
        assert "javascript" in js.headers["content-type"]
        assert "SwaggerUIBundle" in js.text[:2000]


def test_the_docs_page_renders_with_the_network_cut_off(browser: Any, base_url: str) -> None:
    """Every request that does not go to the server itself is refused and recorded: the page
    still draws the API's title and its operations, and asked for nothing elsewhere."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []
    asked: list[str] = []

    def only_the_server(route: Any) -> None:
        url = route.request.url
        asked.append(url)
        if url.startswith(base_url + "/"):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    context.route("**/*", only_the_server)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{base_url}/docs")
        page.wait_for_selector(".swagger-ui .info .title")
        assert "labelport" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock")
        assert page.locator(".opblock").count() > 20
        assert page.locator(".swagger-ui .errors-wrapper").count() == 0
    finally:
        context.close()
    assert elsewhere == [], f"requests that left the server: {elsewhere}"
    assert f"{base_url}/docs/static/swagger-ui-bundle.js" in asked
    assert f"{base_url}/openapi.json" in asked
    assert not errors, errors
