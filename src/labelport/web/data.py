"""What the pages' scripts fetch: media bytes, video frames, instances by frame window, import
progress. Same session and project checks as the pages."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from labelport.errors import LabelportError, NotFound
from labelport.store import tables as t
from labelport.web import frames, queries
from labelport.web.sessions import same_token
from labelport.web.state import WebState, project_for, signed_in

router = APIRouter()

# One answer never carries more than this many instances; the script asks again from where the
# answer stopped (`complete_through`), so a frame of 2,000 boxes is one request, 1M never is.
MAX_INSTANCES = 5000
MAX_WINDOW = 300


def _file(request: Request, project_string_id: str, file_id: int) -> tuple[WebState, Any]:
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)
    return state, state.service.store.get_file(file_id, project["id"])


@router.get("/p/{project_string_id}/files/{file_id}/media")
def media(request: Request, project_string_id: str, file_id: int) -> Response:
    state, row = _file(request, project_string_id, file_id)
    if row.blob_key is None:
        raise NotFound(f"file {file_id} has no stored media")
    # The same type and safety headers as the API's media route (`Service.serve_file_media`).
    served = state.service.serve_file_media(row.project_id, file_id)
    headers = {**served.headers, "Cache-Control": "private, max-age=3600"}
    local = state.service.blobs.local_path(row.blob_key)
    if local is not None:
        served.stream.close()
        return FileResponse(local, media_type=served.content_type, headers=headers)
    return StreamingResponse(
        _chunks(served.stream), media_type=served.content_type, headers=headers
    )


def _chunks(stream: Any) -> Any:
    with stream:
        while chunk := stream.read(1 << 16):
            yield chunk


@router.get("/p/{project_string_id}/files/{file_id}/frames/{frame}.jpg")
async def frame_image(request: Request, project_string_id: str, file_id: int, frame: int) -> Any:
    state, row = _file(request, project_string_id, file_id)
    if row.media_type != "video" or row.blob_key is None:
        raise NotFound(f"file {file_id} is not a stored video")
    if frame < 0 or (row.frame_count is not None and frame >= row.frame_count):
        raise NotFound(f"frame {frame} is outside the video (0..{(row.frame_count or 1) - 1})")
    cache = state.cache_dir / "frames" / str(row.sha256 or row.id)
    try:
        path = await run_in_threadpool(_frame, state, row, frame, cache)
    except IndexError as exc:
        raise NotFound(str(exc)) from None
    except ValueError as exc:
        return JSONResponse({"error": {"code": "media.unreadable", "message": str(exc)}}, 422)
    return FileResponse(
        path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )


def _frame(state: WebState, row: Any, frame: int, cache: Path) -> Path:
    video = state.service.blobs.local_path(row.blob_key)
    if video is None:  # a remote blob store: keep one local copy beside its frames
        video = cache / "video"
        if not video.exists():
            cache.mkdir(parents=True, exist_ok=True)
            tmp = cache / "video.part"
            with state.service.blobs.open(row.blob_key) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            tmp.replace(video)
    return frames.frame_jpeg(Path(video), frame, cache)


@router.get("/p/{project_string_id}/files/{file_id}/instances.json")
def instances(
    request: Request,
    project_string_id: str,
    file_id: int,
    frame_start: int | None = None,
    frame_end: int | None = None,
) -> JSONResponse:
    """Instances of a file, or of frames [frame_start, frame_end] of a video.

    `complete_through`: the last frame whose instances are all in this answer (None when the
    answer holds every instance asked for); `truncated`: the answer stopped at MAX_INSTANCES.
    """
    state, _row = _file(request, project_string_id, file_id)
    if frame_start is not None and frame_end is not None:
        frame_end = min(frame_end, frame_start + MAX_WINDOW - 1)
    found = queries.instances(
        state.engine,
        file_id,
        frame_min=frame_start,
        frame_max=frame_end,
        limit=MAX_INSTANCES + 1,
    )
    truncated = len(found) > MAX_INSTANCES
    found = found[:MAX_INSTANCES]
    complete_through = frame_end
    if truncated and found and found[-1]["frame"] is not None:
        # The last frame in the answer may be cut short; every frame before it is whole.
        complete_through = found[-1]["frame"] - 1
    return JSONResponse(
        {
            "instances": found,
            "frame_start": frame_start,
            "frame_end": frame_end,
            "truncated": truncated,
            "complete_through": complete_through,
        }
    )


@router.post("/p/{project_string_id}/labels/{label_id}/colour")
async def label_colour(request: Request, project_string_id: str, label_id: int) -> JSONResponse:
    """The viewer legend's colour input: `{"colour": "#rrggbb" | null}` with the session's CSRF
    token in `X-CSRF-Token`; an editor's (or admin's) session only. Answers the label."""
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)

    def refused(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status)

    try:  # another project's label is not found here, as a missing one
        state.service.get_label(project["id"], label_id)
    except NotFound as exc:
        return refused(404, exc.code, exc.message)
    if not same_token(request.headers.get("x-csrf-token"), session.csrf):
        return refused(403, "auth.csrf", "the page is out of date; reload it and try again")
    if not session.may(project["id"], "editor"):
        return refused(403, "auth.forbidden", "setting a label's colour needs an editor's role")
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("colour", 0), str | None):
        return refused(400, "label.colour_invalid", 'send {"colour": "#rrggbb"}')
    try:
        label = await run_in_threadpool(
            state.service.set_label_colour, project["id"], label_id, body.get("colour")
        )
    except LabelportError as exc:
        return refused(404 if isinstance(exc, NotFound) else 400, exc.code, exc.message)
    return JSONResponse(label)


@router.get("/p/{project_string_id}/imports/progress.json")
def progress(request: Request, project_string_id: str, ids: str = "") -> JSONResponse:
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)
    wanted = []
    for part in ids.split(",")[: queries.MAX_POLL_IDS]:
        if part.strip().isdigit():
            wanted.append(int(part))
    rows = queries.imports_by_id(state.engine, project["id"], wanted)
    return JSONResponse(
        {
            "imports": [
                {
                    "id": r["id"],
                    "status": r["status"],
                    "percent": r["percent"],
                    "problem_count": r["problem_count"],
                    "instances": (r["counts"] or {}).get("instances"),
                    "finished": r["status"] in t.TERMINAL_STATUSES,
                }
                for r in rows
            ]
        }
    )
