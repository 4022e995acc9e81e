"""The pages: projects, a project, its imports, one import, one file."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from labelport.errors import NotFound
from labelport.format.problem_groups import from_dicts, group_problems
from labelport.store import tables as t
from labelport.web import queries
from labelport.web.filters import safe_colour, seconds_between
from labelport.web.state import PREFIX, WebState, html, project_for, signed_in

router: APIRouter = APIRouter()

IMPORTS_PER_PAGE = 50
FILES_PER_PAGE = 50
PROBLEMS_PER_PAGE = 50
WARNINGS_SHOWN = 100
MEDIA_TYPES = ("image", "video", "text", "audio", "point_cloud", "geo")
MAX_TOKENS_SHOWN = 20_000


def page_number(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), 1_000_000)
    except ValueError:
        return 1


def paging_of(total: int, per_page: int, page: int) -> dict[str, int]:
    last = max((total + per_page - 1) // per_page, 1)
    return {"page": min(page, last), "last": last, "total": total, "per_page": per_page}


def label_view(labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**lab, "colour": safe_colour(lab["colour"], lab["name"])} for lab in labels]


def with_took(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["took"] = seconds_between(row.get("started_at") or row.get("created_at"),
                                      row.get("finished_at"))  # fmt: skip
    return rows


@router.get("/")
def home(request: Request) -> Response:
    state, session = signed_in(request)
    if session.user_id is not None:
        # An account: its projects; straight to the one when there is only one.
        if len(session.memberships) == 1:
            only = session.memberships[0].project_string_id
            return RedirectResponse(f"{PREFIX}/p/{only}", status_code=303)
        projects = [state.service.store.get_project(m.project_id) for m in session.memberships]
        return html(
            request,
            "projects.html",
            {"session": session, "project": None, "projects": projects},
        )
    if not session.all_projects:
        assert session.project_id is not None  # a key's session: its one project
        project = state.service.store.get_project(session.project_id)
        return RedirectResponse(f"{PREFIX}/p/{project.string_id}", status_code=303)
    projects = state.service.store.list_projects(limit=200)
    return html(
        request,
        "projects.html",
        {"session": session, "project": None, "projects": projects},
    )


@router.get("/p/{project_string_id}")
def project_page(request: Request, project_string_id: str, page: str | None = None) -> Response:
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)
    pid = project["id"]
    counts = queries.instance_counts_per_label(state.engine, pid)
    labels = label_view(queries.labels(state.engine, pid))
    for label in labels:
        label["instances"] = counts.get(label["id"], 0)
    wanted = page_number(page)
    files, total = state.service.list_files(pid, page=wanted, per_page=FILES_PER_PAGE)
    recent = with_took(
        queries.imports_page(state.engine, pid, status=None, media_type=None, limit=10, offset=0)
    )
    return html(
        request,
        "project.html",
        {
            "session": session,
            "project": project,
            "labels": labels,
            "unlabelled": counts.get(None, 0),
            "directories": queries.directories(state.engine, pid),
            "files": files,
            "files_paging": paging_of(total, FILES_PER_PAGE, wanted),
            "recent": recent,
        },
    )


@router.get("/p/{project_string_id}/imports")
def imports_page(
    request: Request,
    project_string_id: str,
    status: str | None = None,
    media_type: str | None = None,
    page: str | None = None,
) -> Response:
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)
    status = status if status in t.IMPORT_STATUSES else None
    media_type = media_type if media_type in MEDIA_TYPES else None
    total = state.service.store.count_imports(project["id"], status=status, media_type=media_type)
    paging = paging_of(total, IMPORTS_PER_PAGE, page_number(page))
    rows = queries.imports_page(
        state.engine,
        project["id"],
        status=status,
        media_type=media_type,
        limit=IMPORTS_PER_PAGE,
        offset=(paging["page"] - 1) * IMPORTS_PER_PAGE,
    )
    return html(
        request,
        "imports.html",
        {
            "session": session,
            "project": project,
            "imports": with_took(rows),
            "paging": paging,
            "status": status or "",
            "media_type": media_type or "",
            "statuses": t.IMPORT_STATUSES,
            "media_types": MEDIA_TYPES,
        },
    )


@router.get("/p/{project_string_id}/imports/{import_id:int}")
def import_page(
    request: Request, project_string_id: str, import_id: int, page: str | None = None
) -> Response:
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)
    row = state.service.store.get_import(import_id, project["id"])
    problems = row.problems or []
    paging = paging_of(len(problems), PROBLEMS_PER_PAGE, page_number(page))
    start = (paging["page"] - 1) * PROBLEMS_PER_PAGE
    counts = row.counts or {}
    file = None
    reconciliation = None
    if row.file_id is not None:
        try:
            file = state.service.get_file(project["id"], row.file_id)
        except NotFound:
            file = None
    if file is not None and row.status == "success":
        reconciliation = _reconcile(state, project["id"], file["id"], counts)
    return html(
        request,
        "import.html",
        {
            "session": session,
            "project": project,
            "imp": row,
            "took": seconds_between(row.started_at or row.created_at, row.finished_at),
            "counts": counts,
            "problems": problems[start : start + PROBLEMS_PER_PAGE],
            "problem_total": max(row.problem_count or 0, len(problems)),
            "problems_start": start,
            "paging": paging,
            "warnings": (row.warnings or [])[:WARNINGS_SHOWN],
            # the stored problems grouped by code and message (format/problem_groups.py)
            "groups": from_dicts(counts["problem_groups"])
            if counts.get("problem_groups")  # a rejected one's: of its whole list
            else group_problems(problems, counts.get("problem_counts_by_code")),
            "media": {
                "name": row.media_name or (file["original_filename"] if file else None),
                "url": row.media_url,
                "key": row.idempotency_key or row.rejected_key,
            },
            "warning_total": counts.get("warning_count", len(row.warnings or [])),
            "file": file,
            "reconciliation": reconciliation,
        },
    )


def _reconcile(
    state: WebState, project_id: int, file_id: int, counts: dict[str, Any]
) -> dict[str, Any]:
    """Expected (what the packet held) beside stored (what the file holds now), per label, per
    type, and sequences per label: where they differ, the row is marked."""
    names = {lab["id"]: lab for lab in label_view(queries.labels(state.engine, project_id))}
    stored_label: dict[str, int] = {}
    stored_type: dict[str, int] = {}
    for row in queries.instance_counts(state.engine, file_id):
        name = names[row["label_id"]]["name"] if row["label_id"] in names else "(no label)"
        stored_label[name] = stored_label.get(name, 0) + row["count"]
        stored_type[row["type"]] = stored_type.get(row["type"], 0) + row["count"]
    _, seq_totals = queries.sequences(state.engine, file_id)
    stored_seq = {(names[k]["name"] if k in names else str(k)): n for k, n in seq_totals.items()}
    colour = {lab["name"]: lab["colour"] for lab in names.values()}

    def rows(
        expected: dict[str, int], stored: dict[str, int], coloured: bool
    ) -> list[dict[str, Any]]:
        keys = sorted(set(expected) | set(stored))
        return [
            {
                "name": k,
                "colour": colour.get(k) if coloured else None,
                "expected": expected.get(k, 0),
                "stored": stored.get(k, 0),
            }
            for k in keys
        ]

    return {
        "labels": rows(counts.get("instances_per_label") or {}, stored_label, True),
        "types": rows(counts.get("instances_per_type") or {}, stored_type, False),
        "sequences": rows(counts.get("sequences_expected_per_label") or {}, stored_seq, True)
        if counts.get("sequences_expected") or stored_seq
        else [],
    }


@router.get("/p/{project_string_id}/files/{file_id}")
def file_page(request: Request, project_string_id: str, file_id: int) -> Response:
    state, session = signed_in(request)
    project = project_for(state, session, project_string_id)
    row = state.service.store.get_file(file_id, project["id"])
    labels = label_view(queries.labels(state.engine, project["id"]))
    per_label: dict[int | None, int] = {}
    for count in queries.instance_counts(state.engine, file_id):
        per_label[count["label_id"]] = per_label.get(count["label_id"], 0) + count["count"]
    total = sum(per_label.values())
    for label in labels:
        label["instances"] = per_label.get(label["id"], 0)
    sequences: list[Any] = []
    seq_totals: dict[Any, Any] = {}
    if row.media_type == "video":
        sequences, seq_totals = queries.sequences(state.engine, file_id)
    base = f"{PREFIX}/p/{project['string_id']}/files/{file_id}"
    tokens = (row.tokens or [])[:MAX_TOKENS_SHOWN] if row.media_type == "text" else []
    page_data = {
        "file": {
            "id": row.id,
            "media_type": row.media_type,
            "width": row.width,
            "height": row.height,
            "frame_count": row.frame_count,
            "fps": row.fps,
            "duration": row.duration,
            "bounds": row.bounds,
            "token_count": row.token_count,
        },
        "labels": [
            {"id": lab["id"], "name": lab["name"], "colour": lab["colour"]}
            for lab in labels
            if lab["instances"]
        ],
        "sequences": sequences,
        "sequence_totals": {str(k): v for k, v in seq_totals.items()},
        "tokens": [_token(tok) for tok in tokens],
        "urls": {
            "media": f"{base}/media",
            "frame": f"{base}/frames/",
            "instances": f"{base}/instances.json",
            "label_colour": f"{PREFIX}/p/{project['string_id']}/labels/",
        },
        "instance_total": total,
        # The viewer's filters (by model, model run, machine-made) and its colour inputs.
        "models": queries.file_models(state.engine, file_id),
        "can_edit": session.may(project["id"], "editor"),
        "csrf": session.csrf,
    }
    imports = with_took(
        queries.imports_page(
            state.engine, project["id"], status=None, media_type=None, file_id=file_id,
            limit=20, offset=0,
        )
    )  # fmt: skip
    return html(
        request,
        "file.html",
        {
            "session": session,
            "project": project,
            "file": row,
            "labels": [lab for lab in labels if lab["instances"]],
            "unlabelled": per_label.get(None, 0),
            "instance_total": total,
            "can_edit": page_data["can_edit"],
            "imports": imports,
            "page_data": page_data,
        },
    )


def _token(token: Any) -> dict[str, Any]:
    if isinstance(token, dict):
        return {"text": str(token.get("text", "")), "sentence": token.get("sentence")}
    return {"text": str(token), "sentence": None}
