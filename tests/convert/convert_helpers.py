"""Helpers of the converter tests: projects with instances, reading them back, the CLI."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from labelport.cli import app
from media_factory import make_png

# Keys that name rows of one project: they differ between two projects with the same data.
ROW_KEYS = ("id", "file_id", "label_id", "sequence_id", "model_id", "model_run_id")


def submit(service: Any, project_id: int, packet: dict, media: Path | None = None) -> dict:
    if media is None:
        created = service.submit_packet(project_id, packet)
    else:
        with open(media, "rb") as stream:
            created = service.submit_packet(project_id, packet, upload=(media.name, stream))
    done = service.wait_import(project_id, created["id"], timeout=60)
    assert done["status"] == "success", done
    return done


def project_instances(service: Any, project_id: int) -> dict[str, list[dict[str, Any]]]:
    """{original filename: instances without row ids, in a stable order}."""
    store = service.store
    models = {m.id: m.reference for m in store.list_models(project_id)}
    runs = {r.id: r.reference for r in store.list_model_runs(project_id)}
    groups = {str(g["id"]): g for g in service.list_attribute_groups(project_id)}
    out: dict[str, list[dict[str, Any]]] = {}
    files, _total = service.list_files(project_id, per_page=1000)
    for f in files:
        instances, _ = service.list_instances(project_id, f["id"], per_page=10_000)
        shown = []
        for inst in instances:
            inst["model_ref"] = models.get(inst["model_id"])
            inst["model_run_ref"] = runs.get(inst["model_run_id"])
            inst["attribute_groups"] = _named(inst["attribute_groups"], groups)
            shown.append({k: v for k, v in inst.items() if k not in ROW_KEYS})
        shown.sort(key=lambda i: (i["frame"] or 0, str(i["external_id"]), i["type"]))
        out[f["original_filename"]] = shown
    return out


def _named(values: dict[str, Any], groups: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        group = groups[str(key)]
        options = {o["id"]: o["name"] for o in group["options"]}
        if isinstance(value, list):
            value = sorted(options.get(v, v) for v in value)
        elif group["kind"] in ("select", "radio"):
            value = options.get(value, value)
        out[group["name"]] = value
    return out


def geometry(service: Any, project_id: int) -> dict[str, list[tuple]]:
    """{filename: sorted (label, type, coordinates...)} for boxes and polygons."""
    out = {}
    for name, instances in project_instances(service, project_id).items():
        rows = []
        for inst in instances:
            if inst["type"] == "box":
                rows.append((inst["label_name"], "box", inst["x_min"], inst["y_min"],
                             inst["x_max"], inst["y_max"]))  # fmt: skip
            elif inst["type"] == "polygon":
                flat = tuple(v for p in inst["points"] for v in (p["x"], p["y"]))
                rows.append((inst["label_name"], "polygon", *flat))
        out[name] = sorted(rows)
    return out


def boxes_and_polygons_project(
    service: Any,
    media_dir: Path,
    *,
    files: int = 3,
    per_file: int = 6,
    seed: int = 7,
    kinds: tuple[str, ...] = ("box", "polygon"),
) -> int:
    """Images with boxes and polygons at arbitrary float coordinates (not round numbers)."""
    rng = random.Random(seed)
    project = service.create_project(f"geometry {seed}")
    service.create_labels(project["id"], ["cat", "dog", "person"])
    media_dir.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        width, height = rng.choice([(64, 48), (97, 61), (120, 33)])
        image = make_png(media_dir / f"img{n}.png", width, height)
        instances = []
        for k in range(per_file):
            label = rng.choice(["cat", "dog", "person"])
            if kinds[k % len(kinds)] == "box":
                x1, x2 = sorted(rng.uniform(0, width) for _ in range(2))
                y1, y2 = sorted(rng.uniform(0, height) for _ in range(2))
                if k == 0:
                    x1, y1 = 0.0, 0.0  # edges on the border survive too
                instances.append({"type": "box", "name": label, "x_min": x1, "y_min": y1,
                                  "x_max": x2 + 0.5, "y_max": y2 + 0.5} if x2 + 0.5 <= width
                                 and y2 + 0.5 <= height else
                                 {"type": "box", "name": label, "x_min": x1, "y_min": y1,
                                  "x_max": x2, "y_max": y2})  # fmt: skip
            else:
                points = [
                    {"x": rng.uniform(0, width), "y": rng.uniform(0, height)}
                    for _ in range(rng.randint(3, 7))
                ]
                instances.append({"type": "polygon", "name": label, "points": points})
        submit(service, project["id"], {"media": {"type": "image"}, "instance_list": instances},
               image)  # fmt: skip
    return project["id"]


def cli(*args: str) -> Any:
    # wide enough that Rich tables do not wrap the paths the tests look for
    return CliRunner().invoke(
        app, [str(a) for a in args], catch_exceptions=False, env={"COLUMNS": "250"}
    )
