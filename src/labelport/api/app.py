"""`create_app(service)`: the HTTP app; native API and `diffgram`-compatible routes, one Service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from labelport import __version__
from labelport.api import compat, errors, evaluate, native
from labelport.api.auth import Authenticator

if TYPE_CHECKING:
    from labelport.service import Service

DESCRIPTION = """\
Import existing annotations into a labelport project: send one **packet** per media file (media
plus instances), watch the **import**, read back files, instances and sequences.

Authenticate with HTTP Basic `client_id:client_secret`. A key belongs to one project; its role is
`viewer` (read), `editor` (also import, labels, attributes, directories) or `admin` (also keys).
A person may send a user account's `email:password` instead: the account's role in the project
named in the path applies, through the same checks (403 `auth.not_a_member` outside it).

Errors always answer `{"error": {"code", "message", ...}}`; a rejected packet answers 422 with
every problem (`code`, `path`, `message`) and `import_id`, the import of status `rejected` that
records the refusal (it holds no idempotency key: the corrected packet may reuse it).
"""


# The largest packet accepted by default: a million boxes are ~100 MB, and the server needs
# about 4x a packet's size to check it; `labelport serve --max-body-mb` sets it.
DEFAULT_MAX_BODY_MB = 256


def create_app(
    service: Service,
    *,
    auth_cache_seconds: float = 60.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_MB << 20,
    compat_wait_seconds: float = 300.0,
    include_compat: bool = True,
    include_web: bool = True,
) -> FastAPI:
    """The app over `service` (a `labelport.service.Service`); the caller owns its lifetime.

    auth_cache_seconds: how long a checked key is trusted without hashing its secret again.
    max_body_bytes: the largest request body (a packet) accepted; larger answers 413.
    compat_wait_seconds: how long the SDK's `from_local` waits for its import to finish.
    """
    app = FastAPI(
        title="labelport",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served below, with Swagger UI's files from the package (no CDN)
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    from labelport.api.docs import install_docs

    install_docs(app, "/ui/static/favicon.svg" if include_web else None)
    app.state.service = service
    app.state.authenticator = Authenticator(service, ttl=auth_cache_seconds)
    app.state.max_body_bytes = max_body_bytes
    app.state.compat_wait_seconds = compat_wait_seconds
    errors.install(app)
    app.include_router(native.router, tags=["labelport"])
    app.include_router(evaluate.router, tags=["evaluations"])
    if include_compat:
        # Kept out of the OpenAPI document: their shapes are the diffgram SDK's, not ours.
        app.include_router(compat.router, include_in_schema=False)
    if include_web:
        # The verification pages: a sub-app at /ui with its own (cookie) sign-in and errors.
        from labelport.web import mount

        mount(app, service)

        @app.get("/", include_in_schema=False)
        def home() -> RedirectResponse:
            # A person opening the server's address wants the pages, not a 404.
            return RedirectResponse("/ui/", status_code=307)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def route_table(app: FastAPI) -> list[tuple[str, str, bool]]:
    """(method, path template, in the OpenAPI schema) of every route, included routers flattened.

    Tests walk this so that a new route cannot escape the isolation and auth checks.
    """
    out: list[tuple[str, str, bool]] = []
    for route in app.routes:
        # FastAPI keeps an included router as one entry; its routes are behind it.
        contexts = getattr(route, "effective_route_contexts", None)
        entries = list(contexts()) if callable(contexts) else [route]
        for entry in entries:
            path: str = getattr(entry, "path_format", "") or getattr(entry, "path", "")
            in_schema = bool(getattr(entry, "include_in_schema", False))
            for method in sorted(getattr(entry, "methods", None) or ()):
                if method != "HEAD":
                    out.append((method, path, in_schema))
    return out
