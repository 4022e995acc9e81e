"""In Chromium: a person signs in with an email and a password, switches project from the
header, meets the 403 page of a project that isn't theirs, and signs out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from labelport.accounts import Accounts
from labelport.service import Service
from labelport.web import signin_url

PASSWORD = "a browser's password"


@pytest.fixture(scope="module")
def people(service: Service) -> dict[str, str]:
    made = {n: service.create_project(f"Browser {n}")["string_id"] for n in ("One", "Two", "Else")}
    accounts = Accounts(service.store)
    accounts.create("pat@example.com", PASSWORD)
    accounts.grant("pat@example.com", made["One"], "editor")
    accounts.grant("pat@example.com", made["Two"], "viewer")
    return made


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def test_sign_in_switch_project_403_and_sign_out(
    tab: Any, base_url: str, people: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    one, two, other = people["One"], people["Two"], people["Else"]
    tab.goto(f"{base_url}/ui/p/{one}")  # signed out: the sign-in form, coming back here after
    expect(tab).to_have_url(re.compile(r"/ui/signin\?next="))
    tab.get_by_label("Email").fill("pat@example.com")
    tab.get_by_label("Password").fill("wrong password, surely")
    tab.get_by_role("button", name="Sign in", exact=True).click()
    expect(tab.get_by_role("alert")).to_contain_text("Unknown account or wrong password")
    expect(tab.get_by_label("Email")).to_have_value("pat@example.com")
    expect(tab.get_by_label("Password")).to_have_value("")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in", exact=True).click()
    expect(tab).to_have_url(f"{base_url}/ui/p/{one}")
    expect(tab.locator(".who")).to_have_text("signed in as pat@example.com")

    # The switcher: both projects, the current one marked; go to the other.
    switcher = tab.locator("details.switcher")
    switcher.locator("summary").click()
    expect(switcher.get_by_role("link", name="Browser One")).to_have_attribute(
        "aria-current", "page"
    )
    expect(switcher).to_contain_text("editor")
    switcher.get_by_role("link", name="Browser Two").click()
    expect(tab).to_have_url(f"{base_url}/ui/p/{two}")
    expect(tab.locator("nav.crumbs")).to_contain_text("Browser Two")
    tab.locator("details.switcher summary").click()
    tab.locator("details.switcher").get_by_role("link", name="Browser One").click()
    expect(tab).to_have_url(f"{base_url}/ui/p/{one}")

    # A project of the server that isn't this account's: a 403 page that says so.
    response = tab.goto(f"{base_url}/ui/p/{other}")
    assert response is not None and response.status == 403
    expect(tab.get_by_role("heading", name="No access to this project")).to_be_visible()
    expect(tab.locator("main")).to_contain_text("can't see project")
    expect(tab.locator("main")).not_to_contain_text("Browser Else")

    # Sign out: back at the sign-in form, and the pages want a sign-in again.
    tab.get_by_role("button", name="Sign out").click()
    expect(tab).to_have_url(f"{base_url}/ui/signin")
    tab.goto(f"{base_url}/ui/p/{one}")
    expect(tab).to_have_url(re.compile(r"/ui/signin\?next="))


def test_a_link_preview_does_not_use_the_link(
    browser: Any, tab: Any, app: Any, base_url: str, people: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    link = signin_url(app, base_url)
    # A preview bot fetches the link (no cookies, no script): it sees a page with a button.
    preview = tab.request.get(link)
    assert preview.status == 200 and "Continue" in preview.text()
    tab.goto(link)
    expect(tab.get_by_role("button", name="Continue")).to_be_visible()
    tab.get_by_role("button", name="Continue").click()
    expect(tab).to_have_url(f"{base_url}/ui/")
    expect(tab.locator(".who")).to_have_text("signed in with sign-in link")
    # Used: another browser opening it now is told so.
    other = browser.new_context()
    try:
        again = other.new_page()
        response = again.goto(link)
        assert response is not None and response.status == 403
        expect(again.get_by_role("alert")).to_contain_text("already used")
    finally:
        other.close()
