"""Sign in (a one-time link or an API key) and sign out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from labelport.auth import TooManyFailures, limited, limiter_for
from labelport.web.app import PREFIX, WebState, html, served_over_https, set_session_cookie
from labelport.web.sessions import COOKIE, LOGIN_CSRF_COOKIE, same_token

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only a path of these pages: a sign-in form must not become an open redirect."""
    if target and target.startswith(f"{PREFIX}/") and "\\" not in target and "//" not in target:
        return target
    return f"{PREFIX}/"


def _form(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    # Sign-in CSRF (double submit): the form's hidden value must equal this cookie's.
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = html(
        request,
        "signin.html",
        {
            "error": error,
            "csrf": csrf,
            "next": safe_next(request.query_params.get("next")),
            "session": None,
            "project": None,
        },
        status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=served_over_https(request),
    )
    return response


@router.get("/signin")
def signin_form(request: Request, token: str | None = None) -> Response:
    state: WebState = request.app.state.web
    if token is None:
        return _form(request)
    started = state.sessions.redeem(token)
    if started is None:
        return _form(
            request,
            error="This sign-in link was already used or has expired. Restart `labelport serve`"
            " for a new one, or sign in with an API key.",
            status=403,
        )
    # Redirect at once: the token leaves the address bar and the browser's history entry.
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    set_session_cookie(response, request, started[0])
    return response


@router.post("/signin")
def signin_submit(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form()] = "",
    client_secret: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    state: WebState = request.app.state.web
    if not same_token(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _form(request, error="The form expired; please try again.", status=403)
    if token.strip():
        started = state.sessions.redeem(token.strip())
        if started is None:
            return _form(
                request, error="That sign-in token was already used or is wrong.", status=403
            )
    else:
        remote = request.client.host if request.client is not None else None
        try:
            # The API's limit on failed sign-ins, counted in the same place.
            found = limited(
                limiter_for(state.service),
                state.service.authenticate,
                client_id.strip(),
                client_secret.strip(),
                remote,
            )
        except TooManyFailures as exc:
            refused = _form(request, error=f"{exc.message}.", status=429)
            refused.headers["Retry-After"] = str(exc.retry_after)
            return refused
        if not found:
            return _form(request, error="Unknown client id or wrong secret.", status=403)
        started = state.sessions.start(
            project_id=int(found["project_id"]), who=str(found["client_id"])
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, request, started[0])
    return response


@router.post("/signout")
def signout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    state: WebState = request.app.state.web
    cookie = request.cookies.get(COOKIE)
    session = state.sessions.load(cookie)
    if session is not None and not same_token(csrf, session.csrf):
        return html(
            request,
            "error.html",
            {"title": "Form expired", "message": "Reload the page and try again.",
             "session": session, "project": None},
            403,
        )  # fmt: skip
    # Revoked in the database: a copy of the cookie (another tab, a stolen one) stops working
    # on every server at once, not just in this browser.
    state.sessions.revoke(cookie)
    response = RedirectResponse(f"{PREFIX}/signin", status_code=303)
    response.delete_cookie(
        COOKIE, path=PREFIX, httponly=True, samesite="lax", secure=served_over_https(request)
    )
    return response
