"""/docs: Swagger UI over /openapi.json. Its script and styles are served by this server from
the swagger-ui-py package's copy of Swagger UI (5.x, which reads OpenAPI 3.1), so the page
works offline and asks no CDN for anything."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_STATIC = "/docs/static"


def swagger_ui_files() -> Path:
    """The folder of Swagger UI's files inside the swagger-ui-py package (not imported: only
    its files are used)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise RuntimeError("the swagger-ui-py package is missing: pip install swagger-ui-py")
    return Path(spec.origin).parent / "static"


def install_docs(app: FastAPI, favicon: str | None = None) -> None:
    app.mount(DOCS_STATIC, StaticFiles(directory=swagger_ui_files()), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="labelport API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=favicon or f"{DOCS_STATIC}/favicon-32x32.png",
            # No validator badge: it would send the schema to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )
