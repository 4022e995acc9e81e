"""The native API: /api/v1/projects/{project_string_id}/..., a thin layer over the Service.

A route's request body is declared beside it; the fields that name one of the project's things
say which (`m.LabelId`, `m.SchemaId`, `m.id_of(kind)`).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, BinaryIO, Literal

import msgspec
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, TypeAdapter
from starlette.background import BackgroundTask

from labelport import shapes
from labelport.api import models as m
from labelport.api.auth import Principal, admin, editor, viewer
from labelport.api.errors import PayloadTooLarge, require_json_body, require_ndjson_body
from labelport.errors import Invalid
from labelport.service import Service
from labelport.store.tables import SOURCE_CHARS

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": m.ErrorOut, "description": text}
    for status, text in (
        (400, "Bad request: the problems are listed"),
        (401, "Missing or wrong credentials"),
        (403, "The key's role does not allow this"),
        (404, "Not found (or another project's)"),
        (409, "Name or reference already taken"),
        (413, "Body too large"),
        (415, "Not JSON: a packet is application/json, uncompressed"),
        (422, "Packet rejected: every problem; nothing stored but its `rejected` record"),
    )
}

router = APIRouter(prefix="/api/v1/projects/{project_string_id}", responses=ERROR_RESPONSES)

Psid = Annotated[str, PathParam(min_length=1, max_length=200)]
IdPath = Annotated[int, PathParam(ge=1, le=m.MAX_ID)]
Page = Annotated[int, Query(ge=1, le=1_000_000)]

# The packet is passed to the Service as raw bytes (decoded there, typed, in one pass), so FastAPI
# does not see a model; this schema documents it for /docs, schemathesis and the isolation test
# (the ids it names, as `m.id_of` marks a model's).
_POINT = {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}}
_INSTANCE = {
    "type": "object",
    "description": "One instance; see docs/instance-format.md for every type's keys.",
    "properties": {
        "type": {"type": "string"},
        "name": {"type": "string"},
        "label_file_id": {"type": "integer", **m.id_of("label")},
        "number": {"type": "integer"},
        "x_min": {"type": "number"},
        "y_min": {"type": "number"},
        "x_max": {"type": "number"},
        "y_max": {"type": "number"},
        "points": {"type": "array", "items": _POINT},
        "machine_made": {"type": "boolean"},
        "score": {"type": "number"},
        "id": {"type": "string"},
    },
    "additionalProperties": True,
}
PACKET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Packet",
    "description": "One media file and its instances.",
    "properties": {
        "media": {
            "type": "object",
            "properties": {"url": {"type": "string"}, "type": {"type": "string"}},
        },
        "file_id": {"type": "integer", **m.id_of("file")},
        "mode": {"type": "string", "enum": ["update", "update_with_existing"]},
        "text_data": {"type": "string"},
        "original_filename": {"type": "string"},
        "instance_list": {"type": "array", "items": _INSTANCE},
        "frame_packet_map": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": _INSTANCE},
        },
        "directory_id": {"type": "integer", **m.id_of("directory")},
        "parent_file_id": {"type": "integer", **m.id_of("file")},
        "ordinal": {"type": "integer"},
        "idempotency_key": {"type": "string"},
        "on_error": {"type": "string", "enum": ["reject", "skip_instances"]},
        "auto_create_labels": {"type": "boolean"},
        "clip_to_media": {"type": "boolean"},
        "dry_run": {"type": "boolean"},
        "strict": {"type": "boolean"},
    },
    "additionalProperties": True,
}


def service(request: Request) -> Service:
    svc: Service = request.app.state.service  # Starlette's state holds Any
    return svc


Svc = Annotated[Service, Depends(service)]
Viewer = Annotated[Principal, Depends(viewer)]
Editor = Annotated[Principal, Depends(editor)]
Admin = Annotated[Principal, Depends(admin)]


async def read_body(request: Request) -> bytes:
    """The whole body, refusing early once it passes the app's limit."""
    chunks: list[bytes] = []
    async for chunk in _limited_stream(request):
        chunks.append(chunk)
    return b"".join(chunks)


async def spool_body(request: Request) -> BinaryIO:
    """The body in a temporary file: a packet of hundreds of MB is then decoded from the file
    (see Service.submit_packet) instead of being held in memory beside its instances."""
    spool = tempfile.TemporaryFile(prefix="labelport-body-")  # noqa: SIM115  (the caller closes it)
    try:
        async for chunk in _limited_stream(request):
            spool.write(chunk)
        spool.flush()
    except BaseException:
        spool.close()
        raise
    return spool


async def _limited_stream(request: Request) -> AsyncIterator[bytes]:
    limit: int = request.app.state.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
        yield chunk


_IMPORT = TypeAdapter(shapes.ImportOut)
_DRY_RUN = TypeAdapter(shapes.DryRunOut)
_BATCH = TypeAdapter(shapes.BatchOut)


def import_answer(result: shapes.ImportOut | shapes.DryRunOut) -> JSONResponse:
    """202 for a queued (or already known) import; 200 for a dry run, which stores nothing."""
    if shapes.is_dry_run(result):
        return JSONResponse(_DRY_RUN.dump_python(_DRY_RUN.validate_python(result), mode="json"))
    queued = _IMPORT.dump_python(_IMPORT.validate_python(result), mode="json")
    return JSONResponse(queued, status_code=202)


# --- project and keys ------------------------------------------------------------------------


@router.get("", response_model=shapes.ProjectOut, summary="The project of this key")
def get_project(project_string_id: Psid, who: Viewer, svc: Svc) -> shapes.ProjectOut:
    return svc.get_project(project_string_id)


class KeyIn(BaseModel):
    role: Literal["admin", "editor", "viewer"] = "admin"


@router.post("/keys", response_model=shapes.KeyOut, status_code=201, summary="Create an API key")
def create_key(project_string_id: Psid, body: KeyIn, who: Admin, svc: Svc) -> shapes.KeyOut:
    return svc.create_api_key(who.project_id, role=body.role)


# --- labels, schemas, attributes -------------------------------------------------------------


@router.get("/labels", response_model=list[shapes.LabelOut])
def list_labels(project_string_id: Psid, who: Viewer, svc: Svc) -> list[shapes.LabelOut]:
    return svc.list_labels(who.project_id)


class LabelsIn(BaseModel):
    # 255: what a packet may name (and auto-create), the format's limit (docs/problems.md)
    names: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        min_length=1, max_length=10_000, examples=[["cat", "dog"]]
    )
    schema_id: m.SchemaId | None = None
    colour: str | None = Field(default=None, max_length=64)


@router.post("/labels", response_model=list[shapes.LabelOut], status_code=201)
def create_labels(
    project_string_id: Psid, body: LabelsIn, who: Editor, svc: Svc
) -> list[shapes.LabelOut]:
    return svc.create_labels(
        who.project_id, body.names, schema_id=body.schema_id, colour=body.colour
    )


@router.get("/labels/{label_id}", response_model=shapes.LabelOut)
def get_label(project_string_id: Psid, label_id: IdPath, who: Viewer, svc: Svc) -> shapes.LabelOut:
    return svc.get_label(who.project_id, label_id)


@router.get("/labels/{label_id}/colour", response_model=shapes.LabelOut, summary="A label's colour")
def get_label_colour(
    project_string_id: Psid, label_id: IdPath, who: Viewer, svc: Svc
) -> shapes.LabelOut:
    return svc.get_label(who.project_id, label_id)


class LabelColourIn(BaseModel):
    colour: str | None = Field(max_length=64, examples=["#ff8800"])


@router.put(
    "/labels/{label_id}/colour", response_model=shapes.LabelOut, summary="Set a label's colour"
)
def set_label_colour(
    project_string_id: Psid, label_id: IdPath, body: LabelColourIn, who: Editor, svc: Svc
) -> shapes.LabelOut:
    """`{"colour": "#rrggbb"}`; `{"colour": null}` gives the label back its default colour."""
    return svc.set_label_colour(who.project_id, label_id, body.colour)


@router.get("/label-schemas", response_model=list[shapes.SchemaOut])
def list_label_schemas(project_string_id: Psid, who: Viewer, svc: Svc) -> list[shapes.SchemaOut]:
    return svc.list_label_schemas(who.project_id)


class SchemaIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["vehicles"])


@router.post("/label-schemas", response_model=shapes.SchemaOut, status_code=201)
def create_label_schema(
    project_string_id: Psid, body: SchemaIn, who: Editor, svc: Svc
) -> shapes.SchemaOut:
    return svc.create_label_schema(who.project_id, body.name)


@router.get("/attribute-groups", response_model=list[shapes.AttributeGroupOut])
def list_attribute_groups(
    project_string_id: Psid, who: Viewer, svc: Svc
) -> list[shapes.AttributeGroupOut]:
    return svc.list_attribute_groups(who.project_id)


class AttributeGroupIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["pose"])
    kind: str = Field(min_length=1, max_length=32, examples=["select"])
    prompt: str = Field(default="", max_length=2000)
    label_ids: list[m.LabelId] = Field(default=[], max_length=10_000)
    options: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default=[], max_length=10_000
    )
    min_value: m.Number | None = None
    max_value: m.Number | None = None


@router.post("/attribute-groups", response_model=shapes.AttributeGroupOut, status_code=201)
def create_attribute_group(
    project_string_id: Psid, body: AttributeGroupIn, who: Editor, svc: Svc
) -> shapes.AttributeGroupOut:
    return svc.create_attribute_group(who.project_id, **body.model_dump())


class AttributeGroupPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = Field(default=None, min_length=1, max_length=32)
    prompt: str | None = Field(default=None, max_length=2000)
    label_ids: list[m.LabelId] | None = Field(default=None, max_length=10_000)
    min_value: m.Number | None = None
    max_value: m.Number | None = None


@router.patch("/attribute-groups/{group_id}", response_model=shapes.AttributeGroupOut)
def update_attribute_group(
    project_string_id: Psid,
    group_id: IdPath,
    body: AttributeGroupPatch,
    who: Editor,
    svc: Svc,
) -> shapes.AttributeGroupOut:
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise Invalid("nothing to change: send at least one field")
    return svc.update_attribute_group(who.project_id, group_id, **fields)


class OptionIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["standing"])
    display_name: str | None = Field(default=None, max_length=200)


@router.post(
    "/attribute-groups/{group_id}/options", response_model=shapes.OptionOut, status_code=201
)
def add_attribute_option(
    project_string_id: Psid, group_id: IdPath, body: OptionIn, who: Editor, svc: Svc
) -> shapes.OptionOut:
    return svc.add_attribute_option(
        who.project_id, group_id, body.name, display_name=body.display_name
    )


# --- directories -----------------------------------------------------------------------------


@router.get("/directories", response_model=list[shapes.DirectoryOut])
def list_directories(project_string_id: Psid, who: Viewer, svc: Svc) -> list[shapes.DirectoryOut]:
    return svc.list_directories(who.project_id)


class DirectoryIn(BaseModel):
    nickname: str = Field(min_length=1, max_length=200, examples=["train"])


@router.post("/directories", response_model=shapes.DirectoryOut, status_code=201)
def create_directory(
    project_string_id: Psid, body: DirectoryIn, who: Editor, svc: Svc
) -> shapes.DirectoryOut:
    return svc.create_directory(who.project_id, body.nickname)


@router.get("/directories/{directory_id}", response_model=shapes.DirectoryOut)
def get_directory(
    project_string_id: Psid, directory_id: IdPath, who: Viewer, svc: Svc
) -> shapes.DirectoryOut:
    return svc.get_directory(who.project_id, directory_id=directory_id)


# --- files -----------------------------------------------------------------------------------


@router.get("/files", response_model=shapes.FilePage)
def list_files(
    project_string_id: Psid,
    who: Viewer,
    svc: Svc,
    directory_id: Annotated[int | None, Query(ge=1, le=m.MAX_ID)] = None,
    page: Page = 1,
    per_page: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> shapes.FilePage:
    items, total = svc.list_files(
        who.project_id, directory_id=directory_id, page=page, per_page=per_page
    )
    return {"items": items, "total": total, "page": page, "per_page": per_page}


@router.get("/files/{file_id}", response_model=shapes.FileOut)
def get_file(project_string_id: Psid, file_id: IdPath, who: Viewer, svc: Svc) -> shapes.FileOut:
    return svc.get_file(who.project_id, file_id)


@router.get(
    "/files/{file_id}/media",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The media bytes, as the type probed from their content (never their"
            " name), with nosniff, a sandbox CSP, and a download for non-media types",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def get_file_media(project_string_id: Psid, file_id: IdPath, who: Viewer, svc: Svc) -> Any:
    media = svc.serve_file_media(who.project_id, file_id)
    stream = media.stream

    def chunks() -> Iterator[bytes]:
        while chunk := stream.read(1 << 16):
            yield chunk

    return StreamingResponse(
        chunks(),
        media_type=media.content_type,
        headers=media.headers,
        background=BackgroundTask(stream.close),
    )


@router.get("/files/{file_id}/tokens", response_model=list[shapes.TokenOut])
def get_tokens(
    project_string_id: Psid, file_id: IdPath, who: Viewer, svc: Svc
) -> list[shapes.TokenOut]:
    return svc.get_tokens(who.project_id, file_id)


@router.get("/files/{file_id}/instances", response_model=shapes.InstancePage)
def list_instances(
    project_string_id: Psid,
    file_id: IdPath,
    who: Viewer,
    svc: Svc,
    frame_start: Annotated[int | None, Query(ge=0, le=2**31)] = None,
    frame_end: Annotated[int | None, Query(ge=0, le=2**31)] = None,
    page: Page = 1,
    per_page: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> shapes.InstancePage:
    items, total = svc.list_instances(
        who.project_id,
        file_id,
        frame_start=frame_start,
        frame_end=frame_end,
        page=page,
        per_page=per_page,
    )
    return {"items": items, "total": total, "page": page, "per_page": per_page}


@router.get("/files/{file_id}/sequences", response_model=list[shapes.SequenceOut])
def list_sequences(
    project_string_id: Psid,
    file_id: IdPath,
    who: Viewer,
    svc: Svc,
    label_id: Annotated[int | None, Query(ge=1, le=m.MAX_ID)] = None,
) -> list[shapes.SequenceOut]:
    return svc.list_sequences(who.project_id, file_id, label_id=label_id)


@router.post(
    "/files/upload",
    status_code=202,
    response_model=shapes.ImportOut,
    responses={200: {"model": shapes.DryRunOut, "description": "Dry run: checked, nothing stored"}},
    summary="Upload a local file with its packet (multipart: file, packet)",
)
def upload_file(
    project_string_id: Psid,
    who: Editor,
    svc: Svc,
    file: Annotated[UploadFile, File(description="The media file")],
    packet: Annotated[
        str | None,
        Form(
            description="The packet as JSON, without media",
            json_schema_extra={
                "contentMediaType": "application/json",
                "contentSchema": PACKET_SCHEMA,
            },
        ),
    ] = None,
    dry_run: bool = False,
) -> Any:
    raw = packet.encode() if packet else b"{}"
    result = svc.submit_packet(
        who.project_id,
        raw,
        source="upload",
        upload=(file.filename or "upload", file.file),
        dry_run=dry_run,
    )
    return import_answer(result)


# --- packets and imports ---------------------------------------------------------------------


@router.post(
    "/packets",
    status_code=202,
    response_model=shapes.ImportOut,
    responses={200: {"model": shapes.DryRunOut, "description": "Dry run: checked, nothing stored"}},
    summary="Send one packet (media + instances); answers the queued import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PACKET_SCHEMA}},
        }
    },
)
async def post_packet(
    request: Request, project_string_id: Psid, who: Editor, svc: Svc, dry_run: bool = False
) -> Any:
    require_json_body(request)  # 415 for a form, text or a compressed body
    with await spool_body(request) as body:
        result = await run_in_threadpool(
            svc.submit_packet, who.project_id, body, source="api", dry_run=dry_run
        )
    return import_answer(result)


@router.post(
    "/batches",
    status_code=202,
    response_model=shapes.BatchOut,
    summary="Send many packets at once (NDJSON, one packet a line); answers the queued batch",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {
                        "type": "string",
                        "description": "One packet a line",
                        # What the isolation test reads for a body that is not one JSON object.
                        "x-isolation": "each line's ids are checked in the batch's job, where a"
                        " line naming another project's file fails as one naming no file",
                    }
                }
            },
        }
    },
)
async def post_batch(
    request: Request,
    project_string_id: Psid,
    who: Editor,
    svc: Svc,
    on_error: Annotated[Literal["reject", "skip_instances"], Query()] = "reject",
    media: Annotated[Literal["copy", "reference"], Query()] = "copy",
    source: Annotated[str, Query(min_length=1, max_length=SOURCE_CHARS)] = "api",
    envelope: Annotated[bool, Query()] = False,
) -> Any:
    """With `envelope=true` each line is `{"packet": {...}, "counts": {"losses": {...}}}`: the
    packet is the line of the batch, and `counts` (what a converter left out, by kind) is stored
    on that line's import beside what the import counts itself."""
    require_ndjson_body(request)  # 415 for a form, text or a compressed body
    with await spool_body(request) as body:
        counts: dict[int, dict[str, Any]] | None = None
        if envelope:
            body, counts = await run_in_threadpool(_unwrapped, body)
        with body:
            result = await run_in_threadpool(
                svc.submit_batch,
                who.project_id,
                body,
                on_error=on_error,
                media=media,
                source=source,
                import_counts=counts or None,
            )
    return JSONResponse(_BATCH.dump_python(_BATCH.validate_python(result), mode="json"), 202)


class _LineCounts(msgspec.Struct, forbid_unknown_fields=True):
    losses: dict[str, Annotated[int, msgspec.Meta(ge=0)]]


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    packet: msgspec.Raw
    counts: _LineCounts | None = None


_envelope = msgspec.json.Decoder(_Envelope).decode


def _unwrapped(body: BinaryIO) -> tuple[BinaryIO, dict[int, dict[str, Any]]]:
    """Envelope lines -> a body of their packets (byte for byte, as the batch's lines) and the
    counts of each line, numbered as the batch numbers lines (blank lines skipped)."""
    body.seek(0)
    packets = tempfile.TemporaryFile(prefix="labelport-body-")  # noqa: SIM115  (the caller closes it)
    counts: dict[int, dict[str, Any]] = {}
    line = 0
    try:
        for raw in body:
            stripped = raw.strip()
            if not stripped:
                continue
            try:
                wrapped = _envelope(stripped)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise Invalid(
                    f'line {line}: with envelope=true each line is {{"packet": {{...}},'
                    f' "counts": {{"losses": {{kind: count}}}}}}: {exc}'
                ) from None
            packets.write(bytes(wrapped.packet))
            packets.write(b"\n")
            if wrapped.counts is not None and wrapped.counts.losses:
                counts[line] = {"losses": wrapped.counts.losses}
            line += 1
        packets.flush()
    except BaseException:
        packets.close()
        raise
    return packets, counts


@router.get(
    "/batches", response_model=shapes.BatchPage, summary="The project's batches, newest first"
)
def list_batches(
    project_string_id: Psid,
    who: Viewer,
    svc: Svc,
    page: Page = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> shapes.BatchPage:
    batches, total = svc.list_batches(who.project_id, page=page, per_page=per_page)
    return {"batches": batches, "total": total}


@router.get(
    "/batches/{batch_id}",
    response_model=shapes.BatchOut,
    summary="A batch: its lines per status and one page of per-line outcomes",
)
def get_batch(
    project_string_id: Psid,
    batch_id: IdPath,
    who: Viewer,
    svc: Svc,
    page: Page = 1,
    per_page: Annotated[int, Query(ge=0, le=1000)] = 100,
    warned: Annotated[bool, Query()] = False,
) -> shapes.BatchOut:
    """With `warned=true`, `files` pages through the lines whose import has warnings only."""
    return svc.get_batch(who.project_id, batch_id, page=page, per_page=per_page, warned=warned)


Key = Annotated[str, Field(min_length=1, max_length=255)]
KeyStem = Annotated[str, Field(min_length=1, max_length=254)]


class ImportsFindIn(BaseModel):
    keys: Annotated[list[Key], Field(max_length=10_000)] = []
    stems: Annotated[list[KeyStem], Field(max_length=10_000)] = []


@router.post(
    "/imports/find",
    response_model=shapes.ImportsFound,
    summary="Many look-ups at once: imports by idempotency key, and the newest per key stem",
)
def find_imports(
    project_string_id: Psid, body: ImportsFindIn, who: Viewer, svc: Svc
) -> shapes.ImportsFound:
    found = svc.find_imports(who.project_id, keys=body.keys, stems=body.stems)
    return found


@router.get("/imports", response_model=shapes.ImportPage)
def list_imports(
    project_string_id: Psid,
    who: Viewer,
    svc: Svc,
    status: Annotated[str | None, Query(max_length=32)] = None,
    media_type: Annotated[str | None, Query(max_length=32)] = None,
    page: Page = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> shapes.ImportPage:
    items, total = svc.list_imports(
        who.project_id, status=status, media_type=media_type, page=page, per_page=per_page
    )
    return {
        "items": items,
        "total": total,
        "page": page,
        "per_page": per_page,
    }


# Declared before /imports/{import_id}, which would otherwise take "find" for an id.
@router.get(
    "/imports/find",
    response_model=shapes.ImportFound,
    summary="The import of an idempotency key, or the newest of a key stem (keys STEM#VERSION)",
)
def find_import(
    project_string_id: Psid,
    who: Viewer,
    svc: Svc,
    idempotency_key: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    key_stem: Annotated[str | None, Query(min_length=1, max_length=254)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> shapes.ImportFound:
    found = svc.find_import(
        who.project_id, idempotency_key=idempotency_key, key_stem=key_stem, status=status
    )
    return {"found": found}


@router.get("/imports/{import_id}", response_model=shapes.ImportOut)
def get_import(
    project_string_id: Psid,
    import_id: IdPath,
    who: Viewer,
    svc: Svc,
    problems_page: Page = 1,
    problems_per_page: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> shapes.ImportOut:
    result = svc.get_import(
        who.project_id,
        import_id,
        problems_page=problems_page,
        problems_per_page=problems_per_page,
    )
    return result
