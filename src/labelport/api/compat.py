"""The routes the published `diffgram` SDK (0.15.0) calls, answered in the shapes it reads.

The SDK is the contract (docs/diffgram-compat.md): code written for it runs against labelport
with only `host`, `client_id` and `client_secret` changed. Everything here is translation; the
work is the Service's. Bad input answers 400 with a readable `log.error` (see api/errors.py).
"""

from __future__ import annotations

import math
import mmap
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from typing import Annotated, Any, BinaryIO

import msgspec
from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from labelport import shapes
from labelport.api import models as m
from labelport.api.auth import Principal, check_project, check_role, current_principal
from labelport.api.auth import editor as editor_dep
from labelport.api.auth import viewer as viewer_dep
from labelport.api.errors import readable, require_json_body
from labelport.api.native import read_body, spool_body
from labelport.errors import Invalid, NotFound
from labelport.service import Service

router = APIRouter(tags=["diffgram compatibility"])

Psid = Annotated[str, PathParam(min_length=1, max_length=200)]
IdPath = Annotated[int, PathParam(ge=1, le=m.MAX_ID)]
FramePath = Annotated[int, PathParam(ge=0, le=2**31)]
Viewer = Annotated[Principal, Depends(viewer_dep)]
Editor = Annotated[Principal, Depends(editor_dep)]

OK = {"success": True, "error": {}, "info": {}}

# Keys the SDK puts on every packet that mean nothing to labelport (or are set to None).
_SDK_ONLY_KEYS = ("type", "connection_id", "bucket_name", "raw_data_blob_path", "job_id")
_SDK_INSTANCES_PER_PAGE = 10_000


def _svc(request: Request) -> Service:
    svc: Service = request.app.state.service  # Starlette's state holds Any
    return svc


Svc = Annotated[Service, Depends(_svc)]


# --- translation into the SDK's shapes --------------------------------------------------------


def dg_directory(d: shapes.DirectoryOut) -> dict[str, Any]:
    # No other keys: the SDK copies every key onto its Directory object (a "project" key would
    # replace the client it later calls through).
    return {"directory_id": d["id"], "id": d["id"], "nickname": d["nickname"]}


def dg_file(f: shapes.FileOut, request: Request | None = None, psid: str = "") -> dict[str, Any]:
    media_type = f.get("media_type")
    out: dict[str, Any] = {
        "id": f["id"],
        "type": media_type,
        "original_filename": f.get("original_filename"),
        "hash": f.get("sha256"),
        "size": f.get("size"),
        "state": "added",
        "created_time": f.get("created_at"),
        "directory_id": f.get("directory_id"),
        "parent_id": f.get("parent_file_id"),
        "ordinal": f.get("ordinal"),
        "source_url": f.get("source_url"),
    }
    detail: dict[str, Any] = {}
    if media_type in ("image", "video"):
        detail = {"width": f.get("width"), "height": f.get("height")}
    if media_type == "video":
        detail.update(
            frame_count=f.get("frame_count"), fps=f.get("fps"), duration=f.get("duration")
        )
    elif media_type == "audio":
        detail = {"duration": f.get("duration")}
    elif media_type == "text":
        detail = {"token_count": f.get("token_count")}
    if media_type and request is not None:
        # Needs the same credentials as every other route: labelport signs no URLs.
        psid = psid or request.path_params.get("project_string_id") or ""
        detail["url_signed"] = str(request.base_url).rstrip("/") + (
            f"/api/v1/projects/{psid}/files/{f['id']}/media"
        )
    if media_type:
        out[media_type] = detail
    return out


def dg_label_file(label: shapes.LabelOut) -> dict[str, Any]:
    return {
        "id": label["id"],
        "type": "label",
        "label": {"id": label["id"], "name": label["name"]},
        "colour": {"hex": label.get("colour")},
        "schema_id": label.get("schema_id"),
    }


def dg_instance(i: shapes.InstanceOut) -> dict[str, Any]:
    out: dict[str, Any] = {**i}
    out["label_file_id"] = i.get("label_id")
    out["label_file"] = {"id": i.get("label_id"), "label": {"name": i.get("label_name")}}
    out["frame_number"] = i.get("frame")
    return out


def dg_input(imp: shapes.ImportOut) -> dict[str, Any]:
    # Diffgram's clients know an input as success, failed or in progress; a packet refused when
    # sent is a failed input to them (labelport's own routes say `rejected`).
    rejected = imp.get("status") == "rejected"
    return {
        "id": imp["id"],
        "status": "failed" if rejected else imp.get("status"),
        "percent_complete": imp.get("percent"),
        "file_id": imp.get("file_id"),
        "directory_id": imp.get("directory_id"),
        "media_type": imp.get("media_type"),
        "mode": imp.get("mode"),
        "source": imp.get("source"),
        "created_time": imp.get("created_at"),
        "time_completed": imp.get("finished_at"),
        "status_text": imp.get("error") or ("rejected when sent" if rejected else None),
        "counts": imp.get("counts"),
        "idempotency_key": imp.get("idempotency_key"),
        "update_log": {
            "error": imp.get("error"),
            "problem_count": imp.get("problem_count", 0),
            "problems": imp["problems"],
            "warning_count": imp.get("warning_count", 0),
            "warnings": imp["warnings"],
        },
    }


def dg_sequence(s: shapes.SequenceOut) -> dict[str, Any]:
    return {
        "id": s["id"],
        "video_file_id": s.get("file_id"),
        "label_file_id": s.get("label_id"),
        "label": {"id": s.get("label_id"), "name": s.get("label_name")},
        "number": s.get("number"),
        "instance_count": s.get("instance_count"),
        "first_frame": s.get("first_frame"),
        "last_frame": s.get("last_frame"),
        "keyframe_list": {"frame_number_list": list(s.get("keyframes") or [])},
    }


def dg_attribute_group(g: shapes.AttributeGroupOut) -> dict[str, Any]:
    return {
        "id": g["id"],
        "name": g.get("name"),
        "prompt": g.get("prompt"),
        "kind": g.get("kind"),
        "min_value": g.get("min_value"),
        "max_value": g.get("max_value"),
        "label_file_list": [{"id": lid} for lid in g.get("label_ids") or []],
        "attribute_template_list": list(g.get("options") or []),
    }


# --- reading the SDK's requests -----------------------------------------------------------------


async def json_body(request: Request) -> Any:
    raw = await read_body(request)
    if not raw.strip():
        return {}
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise Invalid(f"the body is not valid JSON: {exc}") from None


def _obj(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def _opt_id(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Invalid(f"{name} must be an integer id, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"{name} must be an integer id, got {value!r}") from None
    if isinstance(value, float) and value != number:
        raise Invalid(f"{name} must be an integer id, got {value!r}")
    if not 1 <= number <= m.MAX_ID:
        # An id that cannot exist: the same answer as one that does not.
        raise NotFound(f"{name} {number} not found")
    return number


def _int(value: Any, name: str, default: int, lo: int, hi: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Invalid(f"{name} must be an integer, got {value!r}")
    try:
        return max(lo, min(hi, int(value)))
    except ValueError:
        raise Invalid(f"{name} must be an integer, got {value!r}") from None


def header_directory_id(request: Request) -> int | None:
    """The SDK sends its current directory as a `directory_id` header on most calls."""
    value = request.headers.get("directory_id")
    try:
        return _opt_id(value, "directory_id")
    except Invalid:
        return None


def sdk_packet(packet: Any, request: Request) -> Any:
    """The SDK's packet as the Service's packet: its placeholders dropped, its header applied.

    Everything else (including `null` instances, string frame keys) goes through untouched: the
    format checks are the ones that explain problems.
    """
    if not isinstance(packet, dict):
        return packet
    return _translated(packet, header_directory_id(request))


def _translated(packet: dict[str, Any], header_directory: int | None) -> dict[str, Any]:
    """`sdk_packet` of a packet's top-level keys; values may be left undecoded (msgspec.Raw),
    but a `null` must be None."""
    if packet.get("type") == "from_blob_path" or packet.get("raw_data_blob_path"):
        raise Invalid(
            "from_blob_path needs a storage connection, which labelport does not have: "
            "use from_url or from_local"
        )
    if packet.get("job_id") is not None or packet.get("mode") == "attach_to_job":
        raise Invalid("labelport has no jobs: send the packet without job / job_id")
    out = {k: v for k, v in packet.items() if v is not None and k not in _SDK_ONLY_KEYS}
    media = out.get("media")
    if isinstance(media, dict) and media.get("url") is None:
        # from_text_data and file updates carry an empty media object.
        out.pop("media")
    if out.get("ordinal") == 0 and "parent_file_id" not in out:
        out.pop("ordinal")
    if "directory_id" not in out and "file_id" not in out and header_directory is not None:
        out["directory_id"] = header_directory
    return out


# Kept undecoded by `spooled_sdk_packet`: the instances, decoded once, by the Service.
_INSTANCE_KEYS = frozenset({"instance_list", "frame_packet_map"})
_NULL = b"null"


def spooled_sdk_packet(body: BinaryIO, header_directory: int | None) -> BinaryIO | dict[str, Any]:
    """`sdk_packet` of a packet spooled to a file, without decoding its instances.

    Only the packet's own keys are decoded (the instance lists are skipped over as raw JSON).
    Where the translation changes nothing, the spooled file itself is the packet; otherwise the
    kept keys are copied, byte for byte, into a new temporary file (the caller closes it). Either
    way the Service decodes the instances once, from a file, as it does for the native route.
    """
    body.seek(0, os.SEEK_END)
    if body.tell() == 0:
        return _translated({}, header_directory)
    # Not closed explicitly: the raw values are views of it; it goes with the last of them.
    data = mmap.mmap(body.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        top = msgspec.json.decode(data, type=dict[str, msgspec.Raw])
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        # Not an object, not JSON, or JSON msgspec does not read (NaN, a lone surrogate, too
        # deep): the Service explains, with a code and a path, as on the native route.
        if not data[:].strip():
            return _translated({}, header_directory)
        body.seek(0)
        return body
    try:
        decoded = {
            key: (raw if key in _INSTANCE_KEYS else msgspec.json.decode(raw))
            if not (len(raw) == len(_NULL) and bytes(raw) == _NULL)
            else None
            for key, raw in top.items()
        }
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        body.seek(0)  # 1e400, an integer of 5,000 digits: the Service explains
        return body
    out = _translated(decoded, header_directory)
    if out.keys() == top.keys():
        body.seek(0)
        return body
    packet = tempfile.TemporaryFile(prefix="labelport-packet-")  # noqa: SIM115  (returned)
    try:
        separator = b"{"
        for key, value in out.items():
            packet.write(separator + msgspec.json.encode(key) + b":")
            packet.write(top[key] if key in top else msgspec.json.encode(value))
            separator = b","
        packet.write(b"}" if out else b"{}")
        packet.flush()
    except BaseException:
        packet.close()
        raise
    packet.seek(0)
    return packet


def _all_instances(
    svc: Service, project_id: int, file_id: int, start: int | None = None, end: int | None = None
) -> list[shapes.InstanceOut]:
    out: list[shapes.InstanceOut] = []
    page = 1
    while True:
        items, total = svc.list_instances(
            project_id,
            file_id,
            frame_start=start,
            frame_end=end,
            page=page,
            per_page=_SDK_INSTANCES_PER_PAGE,
        )
        out.extend(items)
        if not items or len(out) >= total:
            return out
        page += 1


def _check_schema(svc: Service, project_id: int, schema_id: int | None) -> None:
    if schema_id is None:
        return
    if not any(s["id"] == schema_id for s in svc.list_label_schemas(project_id)):
        raise NotFound(f"label schema {schema_id} not found")


# --- 1, 15: directories ---------------------------------------------------------------------


@router.get("/api/project/{project_string_id}/user/legacy/working_dir/view")
def working_dir_view(
    project_string_id: Psid, who: Viewer, svc: Svc, name: str | None = None
) -> Any:
    try:
        directory = svc.get_directory(who.project_id, nickname=name)
    except NotFound:
        raise Invalid("Dataset not found") from None
    return {"working_dir": dg_directory(directory)}


@router.post("/api/v1/project/{project_string_id}/directory/list")
def directory_list(project_string_id: Psid, who: Viewer, svc: Svc) -> Any:
    directories = svc.list_directories(who.project_id)
    default = next((d for d in directories if d.get("is_default")), None)
    return {
        "directory_list": [dg_directory(d) for d in directories],
        "default_directory": dg_directory(default) if default else None,
    }


@router.post("/api/v1/project/{project_string_id}/directory/new")
async def directory_new(request: Request, project_string_id: Psid, who: Editor, svc: Svc) -> Any:
    body = _obj(await json_body(request))
    nickname = body.get("nickname")
    if not isinstance(nickname, str) or not nickname.strip():
        raise Invalid("nickname: send the new dataset's name")
    created = await run_in_threadpool(svc.create_directory, who.project_id, nickname)
    directories = await run_in_threadpool(svc.list_directories, who.project_id)
    return {
        "log": OK,
        "new_directory": dg_directory(created),
        "project": {"directory_list": [dg_directory(d) for d in directories]},
    }


# --- 2, 3, 9, 10: files -----------------------------------------------------------------------


@router.post("/api/project/{project_string_id}/user/sdk/file/list")
async def file_list(request: Request, project_string_id: Psid, who: Viewer, svc: Svc) -> Any:
    body = _obj(await json_body(request))
    meta = body.get("metadata") or {}
    if not isinstance(meta, dict):
        raise Invalid("metadata must be an object")
    limit = _int(meta.get("limit"), "limit", 100, 1, 5000)
    page = _int(meta.get("page"), "page", 1, 1, 1_000_000)
    mode = meta.get("file_view_mode") or "annotation"
    directory_id = _opt_id(meta.get("directory_id"), "directory_id")
    if directory_id is None:
        directory_id = header_directory_id(request)
    files, total = await run_in_threadpool(
        lambda: svc.list_files(who.project_id, directory_id=directory_id, page=page, per_page=limit)
    )
    total_pages = max(1, math.ceil(total / limit))
    file_list = [f["id"] for f in files] if mode == "ids_only" else [dg_file(f) for f in files]
    return {
        "file_list": file_list,
        "metadata": {
            "page": page,
            "limit": limit,
            "total": total,
            "total_pages": total_pages,
            "next_page": page + 1 if page < total_pages else None,
            "directory_id": directory_id,
        },
    }


@router.post("/api/v1/project/{project_string_id}/file/exists")
async def file_exists(request: Request, project_string_id: Psid, who: Viewer, svc: Svc) -> Any:
    body = _obj(await json_body(request))
    ids = body.get("file_id_list")
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise Invalid("file_id_list must be a list of integer file ids")
    in_range = [i for i in ids if 1 <= i <= m.MAX_ID]
    missing = await run_in_threadpool(svc.files_exist, who.project_id, in_range)
    missing = sorted(set(missing) | {i for i in ids if not 1 <= i <= m.MAX_ID})
    return {"result": {"exists": not missing, "missing_files": missing}}


@router.post("/api/v1/file/view")
async def file_view(
    request: Request, svc: Svc, who: Annotated[Principal, Depends(current_principal)]
) -> Any:
    body = _obj(await json_body(request))
    who = check_project(who, str(body.get("project_string_id")))
    check_role(who, "viewer")
    file_id = _opt_id(body.get("file_id"), "file_id")
    if file_id is None:
        raise Invalid("file_id: send the id of the file to view")
    f = await run_in_threadpool(svc.get_file, who.project_id, file_id)
    return {"file": dg_file(f, request, who.project_string_id)}


@router.post("/api/project/{project_string_id}/file/{file_id}/annotation/list")
def annotation_list(
    request: Request, project_string_id: Psid, file_id: IdPath, who: Viewer, svc: Svc
) -> Any:
    f = svc.get_file(who.project_id, file_id)
    out = dg_file(f, request)
    out["instance_list"] = [dg_instance(i) for i in _all_instances(svc, who.project_id, file_id)]
    return {"file_serialized": out}


# --- 4, 5, 6, 15: labels, schemas, attributes --------------------------------------------------


@router.get("/api/v1/project/{project_string_id}/labels/view/name_to_file_id")
def name_to_file_id(
    project_string_id: Psid, who: Viewer, svc: Svc, schema_id: int | None = None
) -> Any:
    _check_schema(svc, who.project_id, schema_id)
    labels = svc.list_labels(who.project_id)
    if schema_id is not None:
        labels = [label for label in labels if label.get("schema_id") == schema_id]
    return {"log": OK, "name_to_file_id": {label["name"]: label["id"] for label in labels}}


@router.get("/api/project/{project_string_id}/labels")
def labels(project_string_id: Psid, who: Viewer, svc: Svc, schema_id: int | None = None) -> Any:
    _check_schema(svc, who.project_id, schema_id)
    labels = svc.list_labels(who.project_id)
    if schema_id is not None:
        labels = [label for label in labels if label.get("schema_id") == schema_id]
    return {"labels_out": [dg_label_file(label) for label in labels]}


@router.get("/api/v1/project/{project_string_id}/labels-schema")
def labels_schema(project_string_id: Psid, who: Viewer, svc: Svc) -> Any:
    return svc.list_label_schemas(who.project_id)


@router.post("/api/v1/project/{project_string_id}/labels-schema/new")
async def labels_schema_new(
    request: Request, project_string_id: Psid, who: Editor, svc: Svc
) -> Any:
    body = _obj(await json_body(request))
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name: send the new schema's name")
    return await run_in_threadpool(svc.create_label_schema, who.project_id, name)


@router.post("/api/v1/project/{project_string_id}/label/new")
async def label_new(request: Request, project_string_id: Psid, who: Editor, svc: Svc) -> Any:
    body = _obj(await json_body(request))
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name: send the label's name")
    schema_id = _opt_id(body.get("schema_id"), "schema_id")
    colour = body.get("colour")
    if isinstance(colour, dict):
        colour = colour.get("hex")
    if colour is not None and not isinstance(colour, str):
        raise Invalid("colour must be a string such as '#ff0000'")
    created = await run_in_threadpool(
        lambda: svc.create_labels(who.project_id, [name], schema_id=schema_id, colour=colour)
    )
    label = created[0]
    return {
        "log": OK,
        "label": {
            "id": label["id"],
            "label": {"id": label["id"], "name": label["name"]},
            "colour": label.get("colour"),
            "schema_id": label.get("schema_id"),
        },
    }


@router.post("/api/v1/project/{project_string_id}/attribute/template/list")
async def attribute_template_list(
    request: Request, project_string_id: Psid, who: Viewer, svc: Svc
) -> Any:
    body = _obj(await json_body(request))
    schema_id = _opt_id(body.get("schema_id"), "schema_id")
    await run_in_threadpool(_check_schema, svc, who.project_id, schema_id)
    groups = await run_in_threadpool(svc.list_attribute_groups, who.project_id)
    return {"log": OK, "attribute_group_list": [dg_attribute_group(g) for g in groups]}


@router.post("/api/v1/project/{project_string_id}/attribute/group/new")
async def attribute_group_new(
    request: Request, project_string_id: Psid, who: Editor, svc: Svc
) -> Any:
    body = _obj(await json_body(request))
    schema_id = _opt_id(body.get("schema_id"), "schema_id")
    await run_in_threadpool(_check_schema, svc, who.project_id, schema_id)
    # The SDK creates an empty group, then names and shapes it with group/update.
    group = await run_in_threadpool(
        lambda: svc.create_attribute_group(
            who.project_id, name=f"attribute group {secrets.token_hex(3)}", kind="select"
        )
    )
    return {"log": OK, "attribute_template_group": dg_attribute_group(group)}


@router.post("/api/v1/project/{project_string_id}/attribute/group/update")
async def attribute_group_update(
    request: Request, project_string_id: Psid, who: Editor, svc: Svc
) -> Any:
    body = _obj(await json_body(request))
    group_id = _opt_id(body.get("group_id"), "group_id")
    if group_id is None:
        raise Invalid("group_id: send the id of the attribute group")
    mode = body.get("mode", "UPDATE")
    if mode != "UPDATE":
        raise Invalid(f"mode {mode!r} is not supported; use 'UPDATE'")
    fields: dict[str, Any] = {}
    for key in ("prompt", "name", "kind"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise Invalid(f"{key} must be a string")
            fields[key] = value
    label_files = body.get("label_file_list")
    if label_files is not None:
        if not isinstance(label_files, list):
            raise Invalid("label_file_list must be a list of labels")
        fields["label_ids"] = [
            _opt_id(lf.get("id") if isinstance(lf, dict) else lf, "label_file_list id")
            for lf in label_files
        ]
    group = await run_in_threadpool(
        lambda: svc.update_attribute_group(who.project_id, group_id, **fields)
    )
    return {"log": OK, "group": dg_attribute_group(group)}


# --- 7, 8, 11, 12: imports ----------------------------------------------------------------------


@router.post("/api/walrus/v1/project/{project_string_id}/input/packet")
async def input_packet(request: Request, project_string_id: Psid, who: Editor, svc: Svc) -> Any:
    # Spooled and decoded once, like the native route: a video's frame_packet_map may be
    # hundreds of MB, and decoding it to dicts (to translate a few keys) cost seconds and GBs.
    header_directory = header_directory_id(request)
    require_json_body(request)  # 415 (a 400 here) for a form, text or a compressed body
    with await spool_body(request) as body:
        result = await run_in_threadpool(
            _submit_spooled, svc, who.project_id, body, header_directory
        )
    return {"log": OK, "input_id": result["id"], "input": dg_input(result)}


def _stored(answer: shapes.ImportOut | shapes.DryRunOut) -> shapes.ImportOut:
    """The import of an SDK packet. A packet may ask for a dry run itself, whose answer is no
    input: a 400 that says where dry runs are (it used to be a 500, a KeyError on its id)."""
    if shapes.is_dry_run(answer):
        raise Invalid(
            "the diffgram SDK routes import what they are sent: check a packet with"
            " POST /api/v1/projects/{project_string_id}/packets?dry_run=true"
        )
    return answer


def _submit_spooled(
    svc: Service, project_id: int, body: BinaryIO, header_directory: int | None
) -> shapes.ImportOut:
    packet = spooled_sdk_packet(body, header_directory)
    try:
        return _stored(svc.submit_packet(project_id, packet, source="diffgram_sdk"))
    finally:
        if packet is not body and hasattr(packet, "close"):
            packet.close()


async def _sdk_form(request: Request) -> AsyncIterator[tuple[StarletteUpload, str | None]]:
    """from_local's `file` and `json` parts. A long video's `json` part (its frame_packet_map)
    is often over Starlette's 1 MB default for a text part: the part may be as large as the
    whole body may be (`labelport serve --max-body-mb`)."""
    from labelport.api.errors import PayloadTooLarge

    limit = request.app.state.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:  # refused unread, as on the native routes
        raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
    async with request.form(max_part_size=limit) as form:
        file, json_part = form.get("file"), form.get("json")
        if not isinstance(file, StarletteUpload):
            raise Invalid("the request has no `file` part (the media file)")
        if json_part is not None and not isinstance(json_part, str):
            json_part = (await json_part.read()).decode("utf-8", "replace")
        yield file, json_part


@router.post("/api/walrus/v1/project/{project_string_id}/input/from_local")
def input_from_local(
    request: Request,
    project_string_id: Psid,
    who: Editor,
    svc: Svc,
    parts: Annotated[tuple[StarletteUpload, str | None], Depends(_sdk_form)],
) -> Any:
    file, json_part = parts
    try:
        packet = msgspec.json.decode(json_part) if json_part else {}
    except msgspec.DecodeError as exc:
        raise Invalid(f"the json part is not valid JSON: {exc}") from None
    packet = sdk_packet(packet, request)
    result = _stored(
        svc.submit_packet(
            who.project_id,
            packet,
            source="diffgram_sdk",
            upload=(file.filename or "upload", file.file),
        )
    )
    # The SDK returns a File from this answer, so the file must exist: wait for the import,
    # and report a failed one as the 400 the SDK shows.
    timeout = request.app.state.compat_wait_seconds
    try:
        result = svc.wait_import(who.project_id, result["id"], timeout=timeout)
    except TimeoutError:
        result = svc.get_import(who.project_id, result["id"])
    if result["status"] == "failed":
        problems = result["problems"]
        count = int(result["problem_count"] or len(problems))
        message = result["error"] or f"the import failed with {count} problem(s)"
        raise Invalid(readable(message, problems, count))
    file_id = result["file_id"]
    f = (
        {"id": file_id}
        if file_id is None
        else dg_file(svc.get_file(who.project_id, file_id), request)
    )
    return {"log": OK, "file": f, "input": dg_input(result)}


@router.post("/api/walrus/v1/project/{project_string_id}/input/view/list")
async def input_view_list(request: Request, project_string_id: Psid, who: Viewer, svc: Svc) -> Any:
    body = _obj(await json_body(request))
    limit = _int(body.get("limit"), "limit", 50, 1, 500)
    status = body.get("status")
    status = status if isinstance(status, str) and status and status != "All" else None
    imports, _total = await run_in_threadpool(
        lambda: svc.list_imports(who.project_id, status=status, page=1, per_page=limit)
    )
    return {"input_list": [dg_input(i) for i in imports]}


@router.post("/api/walrus/v1/project/{project_string_id}/input/view/{input_id}")
def input_view(project_string_id: Psid, input_id: IdPath, who: Viewer, svc: Svc) -> Any:
    return {"input": dg_input(svc.get_import(who.project_id, input_id))}


# --- 13, 14: video -----------------------------------------------------------------------------


@router.get("/api/project/{project_string_id}/video/single/{video_id}/sequence/list")
def sequence_list(project_string_id: Psid, video_id: IdPath, who: Viewer, svc: Svc) -> Any:
    sequences = svc.list_sequences(who.project_id, video_id)
    return {"sequence_list": [dg_sequence(s) for s in sequences]}


@router.get(
    "/api/project/{project_string_id}/video/single/{video_id}/label/{label_id}/sequence/list"
)
def sequence_list_for_label(
    project_string_id: Psid, video_id: IdPath, label_id: IdPath, who: Viewer, svc: Svc
) -> Any:
    svc.get_label(who.project_id, label_id)
    sequences = svc.list_sequences(who.project_id, video_id, label_id=label_id)
    return {"sequence_list": [dg_sequence(s) for s in sequences]}


@router.post(
    "/api/project/{project_string_id}/video/{video_id}/instance/buffer/start/{start}/end/{end}/list"
)
def instance_buffer(
    project_string_id: Psid,
    video_id: IdPath,
    start: FramePath,
    end: FramePath,
    who: Viewer,
    svc: Svc,
) -> Any:
    if end < start:
        raise Invalid(f"end ({end}) is before start ({start})")
    svc.get_file(who.project_id, video_id)
    buffer: dict[str, list[dict[str, Any]]] = {}
    for i in _all_instances(svc, who.project_id, video_id, start, end):
        buffer.setdefault(str(i.get("frame")), []).append(dg_instance(i))
    return {"instance_buffer_dict": buffer}
