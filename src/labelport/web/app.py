"""`create_web_app(service)`: the verification pages, a FastAPI app mounted at /ui. It assembles
the page modules (signin, pages, evaluation, data), which share `web/state.py`.

A sub-application rather than a router on the API: its callers carry a session cookie, not
HTTP Basic, its errors are pages rather than JSON, and it sets its own security headers.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from labelport.errors import Forbidden, LabelportError, NotFound
from labelport.media.blobs import LocalBlobStore
from labelport.web import data, evaluation, filters, pages, signin
from labelport.web.sessions import COOKIE
from labelport.web.state import PREFIX, SignInRequired, WebState

if TYPE_CHECKING:
    from labelport.service import Service

HERE = Path(__file__).parent

# Scripts and styles come only from /ui/static: no inline script can run, whatever a label says.
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def default_cache_dir(service: Service) -> Path:
    blobs = getattr(service, "blobs", None)  # create_app(None) builds an app for its schema only
    if isinstance(blobs, LocalBlobStore):  # the data directory is its parent
        return Path(blobs.root).parent / "cache" / "web"
    return Path(tempfile.gettempdir()) / f"labelport-web-cache-{secrets.token_hex(4)}"


def create_web_app(service: Service, *, cache_dir: Path | None = None) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    state = WebState(service, cache_dir or default_cache_dir(service))
    app.state.web = state
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    filters.install(templates.env)
    app.state.templates = templates

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        # The sign-in token travels in a URL once: never send it on as a Referer.
        response.headers["Referrer-Policy"] = "no-referrer"
        if "cache-control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, exc: SignInRequired) -> Response:
        if wants_json(request):
            return JSONResponse({"error": {"code": "auth.signin", "message": "sign in"}}, 401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/signin?next={quote(target)}", status_code=303)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return error_page(request, 404, "Not found", exc.message)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        # A signed-in account opening a project it is not a member of: said, not hidden.
        return error_page(request, 403, "No access to this project", exc.message)

    @app.exception_handler(LabelportError)
    async def labelport_error(request: Request, exc: LabelportError) -> Response:
        return error_page(request, 400, "Cannot do that", exc.message)

    @app.exception_handler(404)
    async def no_route(request: Request, exc: Exception) -> Response:
        return error_page(request, 404, "Not found", "There is no page at this address.")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # Never a traceback on a page: the log has it (uvicorn logs unhandled errors).
        return error_page(request, 500, "Something went wrong", "The server could not do this.")

    app.include_router(signin.router)
    app.include_router(pages.router)
    app.include_router(evaluation.router)
    app.include_router(data.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json")


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": {"code": str(status), "message": message}}, status)
    templates: Jinja2Templates = request.app.state.templates
    try:
        session = request.app.state.web.sessions.load(request.cookies.get(COOKIE))
    except Exception:
        # The error may be the database's: the page must still be shown, just signed out.
        session = None
    return templates.TemplateResponse(
        request,
        "error.html",
        {"title": title, "message": message, "session": session, "project": None},
        status_code=status,
    )


def mount(api_app: FastAPI, service: Service, *, cache_dir: Path | None = None) -> FastAPI:
    """Mount the pages on the API app at /ui; returns the pages' app."""
    web = create_web_app(service, cache_dir=cache_dir)
    api_app.mount(PREFIX, web, name="web")
    api_app.state.web = web.state.web
    return web


def signin_url(api_app: FastAPI, base_url: str) -> str:
    """A fresh one-time sign-in link for every project of this server."""
    state: WebState = api_app.state.web
    return f"{base_url.rstrip('/')}{PREFIX}/signin?token={state.sessions.issue_token()}"
