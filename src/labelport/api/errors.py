"""One answer per error, in one of two shapes: the native API's and the `diffgram` SDK's.

Native:  {"error": {"code", "message", "problems"?, "problem_count"?, "warnings"?,
          "problem_counts_by_code"?, "problems_not_listed"?, ...}}
Compat:  {"log": {"success": false, "error": "<readable text>"}, "problems"?, "problem_count"?}

The `diffgram` SDK raises with `body["log"]["error"]` on a 400 and loses the body of a 500, so on
the compatibility routes bad input is a 400 whose `log.error` already reads well on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from labelport import format as fmt
from labelport.auth import TooManyFailures
from labelport.errors import (
    Conflict,
    Forbidden,
    Invalid,
    LabelportError,
    NotFound,
    Rejected,
    Unauthorized,
)
from labelport.shapes import problem_dicts

log = logging.getLogger("labelport.api")

# Paths served for the `diffgram` SDK. Everything else (native API, docs) answers the native shape.
COMPAT_PREFIXES = ("/api/project/", "/api/walrus/", "/api/v1/project/", "/api/v1/file/")

# How many problems a compat 400 spells out in `log.error`; the full list is in `problems`.
_READABLE_PROBLEMS = 25

_STATUS = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 400,
    Rejected: 422,
    Unauthorized: 401,
    Forbidden: 403,
    TooManyFailures: 429,
}


class PayloadTooLarge(LabelportError):
    code = "request.too_large"
    path = ""  # the body as a whole


class UnsupportedMediaType(LabelportError):
    """A packet (or batch) body that is not JSON (NDJSON) by its headers: a form or text (what a
    page of another site can post without asking), or compressed (request bodies are never
    decompressed: a gzip bomb stays a few kB)."""

    code = "request.unsupported_media_type"
    path = ""


_STATUS[PayloadTooLarge] = 413
_STATUS[UnsupportedMediaType] = 415


def require_json_body(request: Request) -> None:
    """Refuse a packet body whose Content-Type is not JSON (none is read as JSON) or whose
    Content-Encoding is not identity: 415 request.unsupported_media_type."""
    _require_body(request, "a packet", "application/json", _is_json)


# NDJSON goes by several names; a batch of one packet may come as plain JSON.
_LINES_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
    }
)


def require_ndjson_body(request: Request) -> None:
    """`require_json_body` for a batch: NDJSON (or JSON), uncompressed."""
    _require_body(
        request, "a batch", "application/x-ndjson", lambda t: t in _LINES_TYPES or _is_json(t)
    )


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _require_body(
    request: Request, what: str, expected: str, accepted: Callable[[str], bool]
) -> None:
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} is not accepted: send {what} uncompressed"
        )
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not accepted(media_type):
        raise UnsupportedMediaType(
            f"Content-Type {media_type or content_type!r} is not accepted: {what} is sent as "
            f"{expected}"
        )


def is_compat(path: str) -> bool:
    return path.startswith(COMPAT_PREFIXES)


def report_of(exc: Rejected) -> dict[str, Any]:
    report = exc.report
    problems = problem_dicts(getattr(report, "problems", None))
    warnings = problem_dicts(getattr(report, "warnings", None))
    summary = getattr(report, "summary", None)
    return {
        "problems": problems,
        "problem_count": int(getattr(report, "problem_count", len(problems))),
        "warnings": warnings,
        "warning_count": int(getattr(report, "warning_count", len(warnings))),
        # The lists are capped (the first 1,000); these say what they leave out.
        **(summary() if summary is not None else {}),
        # The record the refusal left (status `rejected`, on the Import page), when one was kept.
        **({"import_id": import_id} if (import_id := getattr(exc, "import_id", None)) else {}),
    }


def rejected_message(exc: Rejected) -> str:
    """The 422's message, saying when the problems listed are not all of them."""
    report = exc.report
    not_listed = int(getattr(report, "problems_not_listed", 0))
    if not_listed <= 0:
        return exc.message
    listed = len(report.problems)
    return (
        f"{exc.message}. The first {listed} are listed; {not_listed} more are counted per code "
        "in problem_counts_by_code"
    )


def readable(message: str, problems: Sequence[Mapping[str, Any]], problem_count: int) -> str:
    """One text a person can read in a terminal: the summary, then one line per problem."""
    lines = [message]
    for p in problems[:_READABLE_PROBLEMS]:
        where = f"{p['path']}: " if p["path"] else ""
        lines.append(f"  {where}{p['message']} [{p['code']}]")
    more = problem_count - min(len(problems), _READABLE_PROBLEMS)
    if more > 0:
        lines.append(f"  ... and {more} more")
    return "\n".join(lines)


def native_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def compat_body(message: str, **extra: Any) -> dict[str, Any]:
    return {"log": {"success": False, "error": message, "errors": message}, **extra}


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="labelport"'
    if is_compat(request.url.path):
        problems = extra.get("problems")
        if problems:
            message = readable(message, problems, extra.get("problem_count", len(problems)))
        # The SDK shows 400 bodies and hides most others: bad input there is always a 400.
        if status in (409, 413, 415, 422):
            status = 400
        body = compat_body(message, code=code, **extra)
    else:
        body = native_body(code, message, **extra)
    return JSONResponse(body, status_code=status, headers=headers)


def _labelport_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LabelportError)
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
    if isinstance(exc, Rejected):
        return error_response(request, status, exc.code, rejected_message(exc), **report_of(exc))
    if isinstance(exc, TooManyFailures):
        headers = {"Retry-After": str(exc.retry_after)}
        return error_response(request, status, exc.code, exc.message, headers=headers)
    # An error about the request as a whole (its size, its type) says so: path "".
    path = getattr(exc, "path", None)
    where: dict[str, Any] = {"path": path} if isinstance(path, str) else {}
    return error_response(request, status, exc.code, exc.message, **where)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = problem_dicts(
        fmt.Problem(
            "request." + str(err.get("type", "invalid")),
            "/".join(str(part) for part in err.get("loc", ())),
            str(err.get("msg", "invalid value")),
        )
        for err in exc.errors()
    )
    n = len(problems)
    message = f"the request has {n} problem{'s' if n != 1 else ''}"
    return error_response(
        request, 400, "request.invalid", message, problems=problems, problem_count=n
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return error_response(request, exc.status_code, code, message)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Logged with its traceback here, answered without one.
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "internal", "internal error; see the server log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(LabelportError, _labelport_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
