"""A project as the writers see it: labels, attribute groups, and its files one by one.

Files are paged from the Service (or from a running server, through the SDK: `Export.from_server`)
and each file's instances fetched when its turn comes, so an export holds one file's instances at
a time, never the project.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from labelport.convert.model import LOSS_KINDS
from labelport.shapes import FileOut, SequenceOut

if TYPE_CHECKING:
    from labelport.service import Service

FILES_PER_PAGE = 500
INSTANCES_PER_PAGE = 10_000


@dataclass
class ExportFile:
    file: FileOut
    media_name: str  # unique within the export
    instances: list[dict[str, Any]]  # Service.list_instances' shape + model_ref, model_run_ref
    sequences: list[SequenceOut]


class Source(Protocol):
    """Where an export reads a project: the embedded Service, or a server through the SDK."""

    def list_files(self, page: int, per_page: int) -> tuple[list[FileOut], int]: ...
    def list_instances(
        self, file_id: int, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], int]: ...
    def list_sequences(self, file_id: int) -> list[SequenceOut]: ...
    def open_media(self, file_id: int) -> BinaryIO: ...


class _ServiceSource:
    def __init__(self, service: Service, project_id: int) -> None:
        self.service = service
        self.project_id = project_id

    def list_files(self, page: int, per_page: int) -> tuple[list[FileOut], int]:
        return self.service.list_files(self.project_id, page=page, per_page=per_page)

    def list_instances(
        self, file_id: int, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], int]:
        # Plain dicts: the export adds model_ref and model_run_ref to each.
        items, total = self.service.list_instances(
            self.project_id, file_id, page=page, per_page=per_page
        )
        return [{**i} for i in items], total

    def list_sequences(self, file_id: int) -> list[SequenceOut]:
        return self.service.list_sequences(self.project_id, file_id)

    def open_media(self, file_id: int) -> BinaryIO:
        stream, _type = self.service.open_file_media(self.project_id, file_id)
        return stream


class _ServerSource:
    """The same reads over HTTP (`labelport.sdk.Project`)."""

    def __init__(self, sdk: Any) -> None:
        self.sdk = sdk

    def list_files(self, page: int, per_page: int) -> tuple[list[FileOut], int]:
        data = self.sdk._get("/files", params={"page": page, "per_page": per_page})
        return data["items"], data["total"]

    def list_instances(
        self, file_id: int, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], int]:
        params = {"page": page, "per_page": per_page}
        data = self.sdk._get(f"/files/{file_id}/instances", params=params)
        return data["items"], data["total"]

    def list_sequences(self, file_id: int) -> list[SequenceOut]:
        return self.sdk.file.get_by_id(file_id).sequences()

    def open_media(self, file_id: int) -> BinaryIO:
        import io

        return io.BytesIO(self.sdk.file.get_by_id(file_id).media())


class Export:
    def __init__(self, service: Service, project_id: int, media_dir: Path | None = None) -> None:
        self.source: Source = _ServiceSource(service, project_id)
        self.project: Any = service.store.get_project(project_id)
        self.labels = service.list_labels(project_id)
        self.attribute_groups = service.list_attribute_groups(project_id)
        self.media_dir = media_dir  # copy each file's media here when set
        self.losses: Counter[str] = Counter()
        models = service.store.list_models(project_id)
        self._model_refs: dict[int, str] | None = {m.id: m.reference for m in models}
        self._run_refs: dict[int, str] | None = {
            r.id: r.reference for r in service.store.list_model_runs(project_id)
        }
        self.file_count = service.store.count_files(project_id, None)

    @classmethod
    def from_server(cls, sdk: Any, media_dir: Path | None = None) -> Export:
        """An export read from a running server with an SDK `Project`. The API lists no models
        or runs: instances that name one export without its reference, counted as a loss."""
        export = cls.__new__(cls)
        export.source = _ServerSource(sdk)
        info = sdk.info()
        export.project = SimpleNamespace(**info)
        export.labels = sdk.labels()
        export.attribute_groups = sdk.attribute_groups()
        export.media_dir = media_dir
        export.losses = Counter()
        export._model_refs = export._run_refs = None
        _rows, export.file_count = export.source.list_files(1, 1)
        return export

    def lose(self, kind: str, n: int = 1) -> None:
        assert kind in LOSS_KINDS, kind
        self.losses[kind] += n

    def files(self) -> Iterator[ExportFile]:
        used: set[str] = set()
        page = 1
        while True:
            rows, total = self.source.list_files(page, FILES_PER_PAGE)
            for row in rows:
                yield self._file(row, used)
            if not rows or page * FILES_PER_PAGE >= total:
                return
            page += 1

    def _file(self, row: FileOut, used: set[str]) -> ExportFile:
        name = Path(row["original_filename"] or f"file-{row['id']}").name
        if name in used:  # two files of one name: the later ones get their id in front
            name = f"{row['id']}-{name}"
        used.add(name)
        instances: list[dict[str, Any]] = []
        page = 1
        while True:
            batch, total = self.source.list_instances(row["id"], page, INSTANCES_PER_PAGE)
            instances.extend(batch)
            if not batch or len(instances) >= total:
                break
            page += 1
        for inst in instances:
            if self._model_refs is None or self._run_refs is None:
                inst["model_ref"] = inst["model_run_ref"] = None
                if inst.get("model_id") is not None or inst.get("model_run_id") is not None:
                    self.lose("model_reference")
                continue
            inst["model_ref"] = self._model_refs.get(inst["model_id"])
            inst["model_run_ref"] = self._run_refs.get(inst["model_run_id"])
        sequences = self.source.list_sequences(row["id"]) if row["media_type"] == "video" else []
        if self.media_dir is not None:
            self._copy_media(row, name)
        return ExportFile(row, name, instances, sequences)

    def _copy_media(self, row: FileOut, name: str) -> None:
        assert self.media_dir is not None  # called only with a media folder
        self.media_dir.mkdir(parents=True, exist_ok=True)
        stream = self.source.open_media(row["id"])
        with stream, open(self.media_dir / name, "wb") as out:
            shutil.copyfileobj(stream, out)

    @staticmethod
    def attribute_names(values: dict[str, Any], groups: dict[str, Any]) -> dict[str, Any]:
        """`{group id: value}` -> `{group name: option name(s) or value}` for formats that name
        attributes (COCO, CVAT, the Diffgram reader of another project)."""
        out: dict[str, Any] = {}
        for key, value in values.items():
            group = groups.get(str(key))
            if group is None:
                continue
            options = {o["id"]: o["name"] for o in group["options"]}

            def name_of(v: Any, options: dict[Any, str] = options) -> Any:
                option_id = v.get("id") if isinstance(v, dict) else v
                return options.get(option_id, v)

            if group["kind"] in ("select", "radio"):
                out[group["name"]] = name_of(value)
            elif group["kind"] == "multiple_select" and isinstance(value, list):
                out[group["name"]] = [name_of(v) for v in value]
            else:
                out[group["name"]] = value
        return out
