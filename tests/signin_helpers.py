"""Signing a test client in to the pages: a one-time link (its GET shows a confirm page; the
button's POST redeems it), an API key or a user account."""

from __future__ import annotations

import re
from typing import Any

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_TOKEN = re.compile(r'name="token" value="([^"]+)"')


def redeem_link(client: Any, link: str, **kwargs: Any) -> Any:
    """Open the link (a confirm page), press Continue; the POST's answer (303 when signed in)."""
    page = client.get(link, **kwargs)
    assert page.status_code == 200, page.text[:300]
    csrf = _CSRF.search(page.text).group(1)
    token = _TOKEN.search(page.text).group(1)
    return client.post("/ui/signin", data={"csrf": csrf, "token": token}, **kwargs)


def form_csrf(client: Any) -> str:
    page = client.get("/ui/signin")
    assert page.status_code == 200
    return _CSRF.search(page.text).group(1)


def sign_in_account(client: Any, email: str, password: str, **extra: str) -> Any:
    data = {"csrf": form_csrf(client), "email": email, "password": password, **extra}
    return client.post("/ui/signin", data=data)
