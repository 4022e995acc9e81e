"""Sign in (a user account, an API key or a one-time link) and sign out.

A one-time link's GET only shows a page with a button: a link preview (chat apps, mail
scanners) fetches the link and must not use it up. The button's POST redeems the token.

Every password and secret check goes through the service's limit on failed sign-ins (counted
in the database, shared by every server): per account or client id, and per remote address.
Passwords are never logged, echoed back into the form or kept.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from labelport.accounts import Accounts
from labelport.auth import TooManyFailures, limited, limiter_for
from labelport.web.sessions import COOKIE, LOGIN_CSRF_COOKIE, same_token
from labelport.web.state import PREFIX, WebState, html, served_over_https, set_session_cookie

router = APIRouter()

_USED_LINK = (
    "This sign-in link was already used or has expired. Restart `labelport serve` for a new"
    " one, or sign in with your account or an API key."
)


def safe_next(target: str | None) -> str:
    """Only a path of these pages: a sign-in form must not become an open redirect."""
    if target and target.startswith(f"{PREFIX}/") and "\\" not in target and "//" not in target:
        return target
    return f"{PREFIX}/"


def _form(
    request: Request,
    *,
    error: str | None = None,
    status: int = 200,
    token: str | None = None,
    email: str = "",
    next_: str | None = None,
) -> Response:
    # Sign-in CSRF (double submit): the form's hidden value must equal this cookie's.
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = html(
        request,
        "signin.html",
        {
            "error": error,
            "csrf": csrf,
            "next": safe_next(next_ if next_ is not None else request.query_params.get("next")),
            "token": token,  # a link's token: the page asks to confirm, nothing else
            "email": email,  # given back after a failure; the password never is
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


def _signed_in(request: Request, cookie: str, next_: str) -> Response:
    response = RedirectResponse(safe_next(next_), status_code=303)
    set_session_cookie(response, request, cookie)
    return response


def _refused(request: Request, exc: TooManyFailures, **form: Any) -> Response:
    refused = _form(request, error=f"{exc.message}.", status=429, **form)
    refused.headers["Retry-After"] = str(exc.retry_after)
    return refused


@router.get("/signin")
def signin_form(request: Request, token: str | None = None) -> Response:
    state: WebState = request.app.state.web
    if token is None:
        return _form(request)
    # Reading the link uses nothing up: only the confirm button's POST does.
    if not state.sessions.link_is_live(token):
        return _form(request, error=_USED_LINK, status=403)
    return _form(request, token=token)


@router.post("/signin")
def signin_submit(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form()] = "",
    client_secret: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    state: WebState = request.app.state.web
    if not same_token(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _form(request, error="The form expired; please try again.", status=403, next_=next)
    remote = request.client.host if request.client is not None else None
    if token.strip():
        started = state.sessions.redeem(token.strip())
        if started is None:
            return _form(request, error=_USED_LINK, status=403, next_=next)
        return _signed_in(request, started[0], next)
    if email.strip():
        shown = email.strip()[:320]
        try:
            account = limited(
                limiter_for(state.service),
                Accounts(state.service.store).authenticate,
                email.strip(),
                password,
                remote,
                kind="account",
            )
        except TooManyFailures as exc:
            return _refused(request, exc, email=shown, next_=next)
        if account is None:
            return _form(
                request,
                error="Unknown account or wrong password.",
                status=403,
                email=shown,
                next_=next,
            )
        cookie, _ = state.sessions.start_for_user(account.user_id, account.email)
        return _signed_in(request, cookie, next)
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
        return _refused(request, exc, next_=next)
    if not found:
        return _form(request, error="Unknown client id or wrong secret.", status=403, next_=next)
    cookie, _ = state.sessions.start(
        project_id=int(found["project_id"]), who=str(found["client_id"]), role=str(found["role"])
    )
    return _signed_in(request, cookie, next)


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
