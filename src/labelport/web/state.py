"""What every page module shares: the `WebState` an app carries (service, sessions, frame
cache), the session and project checks, the cookie, and rendering a template.

It imports no page module: `app.py` assembles the pages, and the pages import only this.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from labelport.errors import NotFound
from labelport.shapes import ProjectOut
from labelport.web.sessions import COOKIE, LOGIN_CSRF_COOKIE, SESSION_SECONDS, Sessions, WebSession

if TYPE_CHECKING:
    from labelport.service import Service

PREFIX = "/ui"


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in form, JSON answers 401."""


class WebState:
    """What the pages share: the service, its sessions and sign-in tokens, the frame cache."""

    def __init__(self, service: Service, cache_dir: Path) -> None:
        self.service = service
        self.sessions = Sessions(service)
        self.cache_dir = cache_dir

    @property
    def engine(self) -> Any:
        return self.service.store.engine

    def session(self, request: Request) -> WebSession:
        found = self.sessions.load(request.cookies.get(COOKIE))
        if found is None:
            raise SignInRequired()
        return found


def signed_in(request: Request) -> tuple[WebState, WebSession]:
    state: WebState = request.app.state.web
    return state, state.session(request)


def project_for(state: WebState, session: WebSession, string_id: str) -> ProjectOut:
    """The project if this session may see it; otherwise NotFound, as for a missing one (a
    key's session), or NotAMember, a 403 that says so (a user account's)."""
    project = state.service.get_project(string_id)
    if not session.may_see(project["id"]):
        session.check_project(project["id"], string_id)
        raise NotFound(f"project {string_id!r} not found")
    return project


def html(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status)


def served_over_https(request: Request) -> bool:
    """HTTPS as the browser sees it: uvicorn's proxy headers (on by default) have already set the
    scheme from a trusted proxy's X-Forwarded-Proto (FORWARDED_ALLOW_IPS, docs/deploy.md)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, cookie: str) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        # Over HTTPS the cookie must never travel in clear text (a plain http:// link to the
        # same host); over plain HTTP a Secure cookie would not be sent back at all.
        secure=served_over_https(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
