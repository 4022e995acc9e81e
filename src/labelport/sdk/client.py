"""The HTTP session of the SDK: one httpx.Client, Basic auth, errors turned into exceptions."""

from __future__ import annotations

from typing import Any

import httpx

from labelport.sdk.errors import LabelportHTTPError, PacketRejected, Problem

DEFAULT_HOST = "http://127.0.0.1:8085"


class Client:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        host: str = DEFAULT_HOST,
        *,
        timeout: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.host = host.rstrip("/")
        self._http = httpx.Client(
            base_url=self.host,
            auth=(client_id, client_secret),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "labelport-sdk"},
        )

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise LabelportHTTPError(0, "connection", f"{self.host}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def stream_bytes(self, path: str) -> bytes:
        response = self._http.get(path)
        if response.status_code >= 400:
            raise error_from(response)
        return response.content


def error_from(response: httpx.Response) -> LabelportHTTPError:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = response.text.strip()[:500] or response.reason_phrase
        return LabelportHTTPError(response.status_code, "http_error", text)
    code = str(error.get("code", "error"))
    message = str(error.get("message", ""))
    if error.get("problems") is not None:
        problems = [Problem.from_dict(p) for p in error.get("problems") or []]
        warnings = [Problem.from_dict(p) for p in error.get("warnings") or []]
        return PacketRejected(
            response.status_code,
            code,
            message,
            problems,
            int(error.get("problem_count") or len(problems)),
            warnings,
            body,
        )
    return LabelportHTTPError(response.status_code, code, message, body)
