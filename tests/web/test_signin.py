"""Signing in to the pages: one-time links, API keys scoped to their project, cookies, CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport.service import Service
from labelport.web import signin_url
from server_helpers import ProjectKeys, make_project
from signin_helpers import redeem_link


@pytest.fixture(scope="module")
def two(service: Service) -> tuple[ProjectKeys, ProjectKeys]:
    return make_project(service, "Signin A"), make_project(service, "Signin B")


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def _form_csrf(client: TestClient) -> str:
    page = client.get("/ui/signin")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_pages_need_a_session(client: TestClient, two: tuple) -> None:
    a, _ = two
    page = client.get(f"/ui/p/{a.string_id}/imports?status=failed")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/ui/signin?next=/ui/p/")
    assert client.get(f"/ui/p/{a.string_id}/files/1/instances.json").status_code == 401


def test_a_sign_in_link_works_once_and_sets_a_safe_cookie(
    client: TestClient, app: Any, two: tuple
) -> None:
    a, b = two
    link = signin_url(app, "http://testserver")
    # Opening the link (as a chat app's link preview does) shows a page and uses nothing up.
    for _ in range(3):
        preview = client.get(link)
        assert preview.status_code == 200 and "Continue" in preview.text
        assert "labelport_session" not in preview.headers.get("set-cookie", "")
    first = redeem_link(client, link)
    assert first.status_code == 303 and first.headers["location"] == "/ui/"
    cookie = first.headers["set-cookie"]
    assert "labelport_session=" in cookie
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/ui" in cookie
    # A link grants every project of the server.
    assert client.get(f"/ui/p/{a.string_id}").status_code == 200
    assert client.get(f"/ui/p/{b.string_id}").status_code == 200

    with TestClient(app, follow_redirects=False) as other:
        again = other.get(link)
        assert again.status_code == 403
        assert "already used" in again.text
        assert "labelport_session" not in again.headers.get("set-cookie", "")


def test_a_forged_or_tampered_cookie_is_no_session(
    client: TestClient, app: Any, two: tuple
) -> None:
    a, _ = two
    redeem_link(client, signin_url(app, "http://testserver"))
    value = client.cookies.get("labelport_session")
    assert client.get(f"/ui/p/{a.string_id}").status_code == 200
    for forged in (value[:-1] + ("A" if value[-1] != "A" else "B"), value + "x", "x" * 5000, ""):
        client.cookies.set("labelport_session", forged, path="/ui")
        assert client.get(f"/ui/p/{a.string_id}").status_code == 303, forged[:50]


def test_an_api_key_sees_only_its_project(client: TestClient, two: tuple) -> None:
    a, b = two
    client_id, secret = a.auth("viewer")
    response = client.post(
        "/ui/signin",
        data={"csrf": _form_csrf(client), "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 303
    assert client.get("/ui/").headers["location"] == f"/ui/p/{a.string_id}"
    assert client.get(f"/ui/p/{a.string_id}").status_code == 200
    # Another project: the same answer as one that does not exist.
    other = client.get(f"/ui/p/{b.string_id}")
    missing = client.get("/ui/p/no-such-project")
    assert other.status_code == missing.status_code == 404
    assert "Signin B" not in other.text  # its name: the id is only echoed as asked


def test_a_wrong_secret_and_a_missing_csrf_are_refused(client: TestClient, two: tuple) -> None:
    a, _ = two
    client_id, secret = a.auth("admin")
    wrong = client.post(
        "/ui/signin",
        data={"csrf": _form_csrf(client), "client_id": client_id, "client_secret": secret + "x"},
    )
    assert wrong.status_code == 403 and "labelport_session" not in wrong.headers.get(
        "set-cookie", ""
    )
    no_csrf = client.post(
        "/ui/signin", data={"csrf": "guess", "client_id": client_id, "client_secret": secret}
    )
    assert no_csrf.status_code == 403


def test_sign_out_needs_the_session_csrf(client: TestClient, app: Any, two: tuple) -> None:
    a, _ = two
    redeem_link(client, signin_url(app, "http://testserver"))
    page = client.get(f"/ui/p/{a.string_id}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert client.post("/ui/signout", data={"csrf": "forged"}).status_code == 403
    assert client.get(f"/ui/p/{a.string_id}").status_code == 200
    out = client.post("/ui/signout", data={"csrf": csrf})
    assert out.status_code == 303
    assert client.get(f"/ui/p/{a.string_id}").status_code == 303


def test_next_is_never_an_open_redirect(client: TestClient, two: tuple) -> None:
    a, _ = two
    client_id, secret = a.auth("viewer")
    for target in ("https://evil.example/", "//evil.example/", "/ui//evil.example", "/\\evil"):
        response = client.post(
            "/ui/signin",
            data={"csrf": _form_csrf(client), "client_id": client_id, "client_secret": secret,
                  "next": target},
        )  # fmt: skip
        assert response.headers["location"] == "/ui/", target


def test_pages_forbid_inline_script(client: TestClient) -> None:
    csp = client.get("/ui/signin").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
