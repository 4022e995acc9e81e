"""Web sessions live in the database: signing out ends them for every copy of the cookie, they
expire on time, the cookie is Secure over HTTPS, only hashes are stored, and two servers over
one database (SQLite file, PostgreSQL) share sign-in links and sessions across a restart."""

from __future__ import annotations

import hashlib
import re
import threading
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from labelport.api import create_app
from labelport.service import Service
from labelport.store import tables as t
from labelport.store.coltypes import utcnow
from labelport.web import signin_url
from server_helpers import make_project, threaded_server
from signin_helpers import redeem_link

COOKIE = "labelport_session"


def _client(app: Any, base_url: str = "http://testserver") -> TestClient:
    return TestClient(app, base_url=base_url, raise_server_exceptions=False, follow_redirects=False)


def _sign_in_with_link(client: TestClient, app: Any) -> str:
    response = redeem_link(client, signin_url(app, str(client.base_url)))
    assert response.status_code == 303, response.text
    return response.cookies[COOKIE]


def _sign_in_with_key(client: TestClient, key: tuple[str, str]) -> str:
    page = client.get("/ui/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/ui/signin", data={"csrf": csrf, "client_id": key[0], "client_secret": key[1]}
    )
    assert response.status_code == 303, response.text
    return response.cookies[COOKIE]


def _with_cookie(client: TestClient, cookie: str) -> TestClient:
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie, path="/ui")
    return client


def _sign_out(client: TestClient, page: str) -> None:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text).group(1)
    assert client.post("/ui/signout", data={"csrf": csrf}).status_code == 303


# -- one server -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(service: Service) -> Any:
    return make_project(service, "Sessions")


def test_sign_out_revokes_every_copy_of_the_cookie(app: Any, project: Any) -> None:
    page = f"/ui/p/{project.string_id}"
    for sign_in in (
        lambda c: _sign_in_with_link(c, app),
        lambda c: _sign_in_with_key(c, project.auth("viewer")),
    ):
        with _client(app) as browser, _client(app) as thief:
            cookie = sign_in(browser)
            assert _with_cookie(thief, cookie).get(page).status_code == 200
            _sign_out(browser, page)
            # The copy is refused at once, and so is the browser's own cookie sent again.
            assert thief.get(page).status_code == 303
            assert thief.get(f"{page}/files/1/instances.json").status_code == 401
            assert _with_cookie(browser, cookie).get(page).status_code == 303
            # A second sign-out of a dead session is harmless.
            assert browser.post("/ui/signout", data={"csrf": "x"}).status_code == 303


def test_an_expired_session_is_refused_at_once(app: Any, service: Service, project: Any) -> None:
    with _client(app) as client:
        cookie = _sign_in_with_link(client, app)
        page = f"/ui/p/{project.string_id}"
        assert client.get(page).status_code == 200
        digest = hashlib.sha256(cookie.encode()).hexdigest()
        with service.store.engine.begin() as conn:
            conn.execute(
                update(t.web_session)
                .where(t.web_session.c.id == digest)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert client.get(page).status_code == 303


def test_an_expired_sign_in_link_is_refused(app: Any, service: Service) -> None:
    link = signin_url(app, "http://testserver")
    digest = hashlib.sha256(link.rsplit("=", 1)[1].encode()).hexdigest()
    with service.store.engine.begin() as conn:
        conn.execute(
            update(t.web_signin_token)
            .where(t.web_signin_token.c.id == digest)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with _client(app) as client:
        refused = client.get(link)
        assert refused.status_code == 403 and COOKIE not in refused.cookies


def test_only_hashes_of_tokens_are_stored(app: Any, service: Service) -> None:
    link = signin_url(app, "http://testserver")
    token = link.rsplit("=", 1)[1]
    with service.store.engine.connect() as conn:
        stored = conn.execute(select(t.web_signin_token.c.id)).scalars().all()
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert not any(token in value for value in stored)
    with _client(app) as client:
        cookie = redeem_link(client, link).cookies[COOKIE]
    with service.store.engine.connect() as conn:
        tokens = conn.execute(select(t.web_signin_token.c.id)).scalars().all()
        sessions = [tuple(map(str, row)) for row in conn.execute(select(t.web_session))]
    assert hashlib.sha256(token.encode()).hexdigest() not in tokens  # used up
    assert hashlib.sha256(cookie.encode()).hexdigest() in {row[0] for row in sessions}
    assert not any(cookie in value for row in sessions for value in row)


def _cookie_headers(response: httpx.Response, name: str) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


def test_the_cookies_are_secure_over_https_only(app: Any, project: Any) -> None:
    for base, secure in (("https://testserver", True), ("http://testserver", False)):
        with _client(app, base) as client:
            form = client.get("/ui/signin")
            (csrf_cookie,) = _cookie_headers(form, "labelport_signin_csrf")
            assert ("; secure" in csrf_cookie.lower()) is secure, csrf_cookie
            key = client.post(
                "/ui/signin",
                data={"csrf": re.search(r'name="csrf" value="([^"]+)"', form.text).group(1),
                      "client_id": project.auth()[0], "client_secret": project.auth()[1]},
            )  # fmt: skip
            link = redeem_link(client, signin_url(app, base))
            for response in (link, key):
                assert response.status_code == 303
                (cookie,) = _cookie_headers(response, COOKIE)
                lowered = cookie.lower()
                assert ("; secure" in lowered) is secure, cookie
                assert "; httponly" in lowered and "samesite=lax" in lowered, cookie


@pytest.mark.parametrize(
    ("options", "secure"),
    [
        ({}, True),  # uvicorn's defaults: proxy headers on, 127.0.0.1 trusted
        ({"forwarded_allow_ips": "192.0.2.1"}, False),  # the peer is not a trusted proxy
        ({"proxy_headers": False}, False),
    ],
)
def test_the_cookie_is_secure_behind_a_trusted_https_proxy(
    app: Any, options: dict[str, Any], secure: bool
) -> None:
    proto = {"X-Forwarded-Proto": "https"}
    with threaded_server(app, **options) as base:
        confirm = httpx.get(signin_url(app, base), headers=proto, timeout=10)
        assert confirm.status_code == 200, confirm.text
        # Sent by hand: a client keeps a Secure cookie from going back over plain http.
        csrf = confirm.cookies["labelport_signin_csrf"]
        token = re.search(r'name="token" value="([^"]+)"', confirm.text).group(1)
        response = httpx.post(
            f"{base}/ui/signin",
            data={"csrf": csrf, "token": token},
            headers={**proto, "Cookie": f"labelport_signin_csrf={csrf}"},
            timeout=10,
        )
    assert response.status_code == 303, response.text
    (cookie,) = _cookie_headers(response, COOKIE)
    assert ("; secure" in cookie.lower()) is secure, cookie


# -- two servers, one database ----------------------------------------------------------------


def _server(database: Any, data_dir: Path) -> tuple[Service, Any]:
    service = Service.open(data_dir=data_dir, database_url=database.url, workers=0)
    return service, create_app(service)


def test_two_servers_share_sign_in_links_and_sessions(database: Any, tmp_path: Path) -> None:
    with ExitStack() as stack:
        one, app_one = _server(database, tmp_path / "one")
        stack.callback(one.close)
        two, app_two = _server(database, tmp_path / "two")
        stack.callback(two.close)
        project = make_project(one, "Shared")
        page = f"/ui/p/{project.string_id}"
        a = stack.enter_context(_client(app_one))
        b = stack.enter_context(_client(app_two))

        # A link printed by one server signs in on the other, once.
        link = signin_url(app_one, "http://testserver")
        cookie = _sign_in_with_link_at(b, link)
        assert b.get(page).status_code == 200
        assert _with_cookie(a, cookie).get(page).status_code == 200
        assert a.get(link).status_code == 403 and b.get(link).status_code == 403

        # A key's session made on one server works on the other; signing out on either ends
        # it on both.
        a.cookies.clear()
        b.cookies.clear()
        keyed = _sign_in_with_key(a, project.auth("viewer"))
        assert _with_cookie(b, keyed).get(page).status_code == 200
        _sign_out(b, page)
        assert _with_cookie(a, keyed).get(page).status_code == 303
        assert _with_cookie(b, cookie).get(page).status_code == 200  # the other one lives on


def _sign_in_with_link_at(client: TestClient, link: str) -> str:
    response = redeem_link(client, link)
    assert response.status_code == 303, response.text
    return response.cookies[COOKIE]


def _redeem_together(
    client: TestClient, link: str, barrier: threading.Barrier, statuses: list[int]
) -> None:
    # Both open the link's page (which uses nothing up), then both press Continue at once.
    page = client.get(link)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    barrier.wait()
    pressed = client.post("/ui/signin", data={"csrf": csrf, "token": link.rsplit("=", 1)[1]})
    statuses.append(pressed.status_code)


def test_one_link_redeemed_on_two_servers_at_once_signs_in_once(
    database: Any, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        one, app_one = _server(database, tmp_path / "one")
        stack.callback(one.close)
        two, app_two = _server(database, tmp_path / "two")
        stack.callback(two.close)
        clients = [stack.enter_context(_client(app)) for app in (app_one, app_two)]
        for _ in range(5):
            link = signin_url(app_one, "http://testserver")
            barrier = threading.Barrier(2)
            statuses: list[int] = []
            threads = [
                threading.Thread(target=_redeem_together, args=(c, link, barrier, statuses))
                for c in clients
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert sorted(statuses) == [303, 403]


def test_a_restart_keeps_sessions_and_unused_links(database: Any, tmp_path: Path) -> None:
    before, app_before = _server(database, tmp_path / "data")
    try:
        project = make_project(before, "Restarted")
        with _client(app_before) as client:
            cookie = _sign_in_with_link(client, app_before)
        unused = signin_url(app_before, "http://testserver")
    finally:
        before.close()
    after, app_after = _server(database, tmp_path / "data")
    try:
        page = f"/ui/p/{project.string_id}"
        with _client(app_after) as client:
            assert _with_cookie(client, cookie).get(page).status_code == 200
        with _client(app_after) as client:
            assert _sign_in_with_link_at(client, unused)
            assert client.get(page).status_code == 200
    finally:
        after.close()
