"""User accounts on the pages: sign in with an email and a password, see the projects the account
is a member of (and only those), a 403 that says so for another project, while anonymous
callers learn nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport.accounts import Accounts
from labelport.api import create_app
from labelport.service import Service
from signin_helpers import sign_in_account

PASSWORD = "purple monkey dishwasher"


@pytest.fixture
def world(database: Any, tmp_path: Path) -> Iterator[tuple[Service, Any, dict[str, Any]]]:
    service = Service.open(data_dir=tmp_path / "data", database_url=database.url, workers=0)
    try:
        projects = {n: service.create_project(f"Project {n}") for n in ("Alpha", "Beta", "Gamma")}
        accounts = Accounts(service.store)
        accounts.create("ann@example.com", PASSWORD)
        accounts.grant("ann@example.com", projects["Alpha"]["string_id"], "editor")
        accounts.grant("ann@example.com", projects["Beta"]["string_id"], "viewer")
        accounts.create("solo@example.com", PASSWORD)
        accounts.grant("solo@example.com", projects["Gamma"]["string_id"], "viewer")
        accounts.create("nobody@example.com", PASSWORD)
        yield service, create_app(service), projects
    finally:
        service.close()


def _client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def test_an_account_sees_its_projects_and_is_told_about_others(world: tuple) -> None:
    service, app, projects = world
    alpha, beta, gamma = (projects[n]["string_id"] for n in ("Alpha", "Beta", "Gamma"))
    with _client(app) as client:
        signed = sign_in_account(client, "Ann@Example.com", PASSWORD)
        assert signed.status_code == 303 and signed.headers["location"] == "/ui/"
        home = client.get("/ui/")
        assert home.status_code == 200
        assert "Project Alpha" in home.text and "Project Beta" in home.text
        assert "Project Gamma" not in home.text
        assert "signed in as ann@example.com" in home.text
        rows = re.findall(r"<tr><td><a href=\"/ui/p/([^\"]+)\".*?</tr>", home.text)
        assert rows == [alpha, beta]
        assert "<th>Your role</th>" in home.text
        assert re.search(rf'href="/ui/p/{alpha}".*?<td>editor</td>', home.text)
        # The header's switcher lists both projects with the role in each.
        switcher = re.search(r'<details class="switcher">(.*?)</details>', home.text, re.S)
        assert switcher is not None
        assert f'href="/ui/p/{alpha}"' in switcher.group(1) and "editor" in switcher.group(1)
        assert f'href="/ui/p/{beta}"' in switcher.group(1) and "viewer" in switcher.group(1)
        assert client.get(f"/ui/p/{alpha}").status_code == 200
        assert client.get(f"/ui/p/{beta}/imports").status_code == 200

        # A project of the server the account is not a member of: 403, said plainly.
        foreign = client.get(f"/ui/p/{gamma}")
        assert foreign.status_code == 403
        said = html.unescape(foreign.text)
        assert "This account (ann@example.com) can't see project" in said
        assert "labelport user grant ann@example.com" in said
        assert "not a member" in said and "No access to this project" in said
        assert "Project Gamma" not in foreign.text
        assert client.get(f"/ui/p/{gamma}/files/1/instances.json").status_code == 403
        # A project that does not exist is still "not found".
        assert client.get("/ui/p/no-such-project").status_code == 404

        # Revoked: gone at once from the switcher and the pages.
        Accounts(service.store).revoke("ann@example.com", beta)
        assert client.get(f"/ui/p/{beta}").status_code == 403
        assert client.get("/ui/").headers.get("location") == f"/ui/p/{alpha}"  # one left

        # Disabled: the session ends at once.
        Accounts(service.store).set_disabled("ann@example.com", True)
        assert client.get(f"/ui/p/{alpha}").status_code == 303

    # Anonymous callers get the sign-in page for any project, existing or not.
    with _client(app) as anonymous:
        for psid in (gamma, "no-such-project"):
            response = anonymous.get(f"/ui/p/{psid}")
            assert response.status_code == 303
            assert response.headers["location"].startswith("/ui/signin?next=")


def test_one_project_goes_straight_to_it_and_none_says_why(world: tuple) -> None:
    _service, app, projects = world
    with _client(app) as client:
        assert sign_in_account(client, "solo@example.com", PASSWORD).status_code == 303
        assert client.get("/ui/").headers["location"] == f"/ui/p/{projects['Gamma']['string_id']}"
        assert '<details class="switcher">' not in client.get("/ui/p/gamma").text
    with _client(app) as client:
        assert sign_in_account(client, "nobody@example.com", PASSWORD).status_code == 303
        home = client.get("/ui/")
        assert home.status_code == 200 and "not a member of any project" in home.text
        assert "labelport user grant nobody@example.com" in home.text


def test_a_wrong_password_is_refused_without_echoing_it(world: tuple) -> None:
    _service, app, _projects = world
    with _client(app) as client:
        wrong = sign_in_account(client, "ann@example.com", "not the password at all")
        assert wrong.status_code == 403
        assert "Unknown account or wrong password" in wrong.text
        assert "not the password at all" not in wrong.text
        assert 'value="ann@example.com"' in wrong.text  # the email is kept in the form
        assert "labelport_session" not in wrong.headers.get("set-cookie", "")
        unknown = sign_in_account(client, "ghost@example.com", PASSWORD)
        assert unknown.status_code == 403 and "Unknown account or wrong password" in unknown.text
        assert client.get("/ui/").status_code == 303  # still signed out


def test_signing_out_ends_an_account_session_everywhere(world: tuple) -> None:
    _service, app, projects = world
    alpha = projects["Alpha"]["string_id"]
    with _client(app) as client, _client(app) as copy:
        assert sign_in_account(client, "ann@example.com", PASSWORD).status_code == 303
        cookie = client.cookies.get("labelport_session")
        copy.cookies.set("labelport_session", cookie, path="/ui")
        page = client.get(f"/ui/p/{alpha}")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert client.post("/ui/signout", data={"csrf": csrf}).status_code == 303
        assert copy.get(f"/ui/p/{alpha}").status_code == 303
