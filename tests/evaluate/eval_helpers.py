"""A project whose files hold people's boxes and a model run's scored boxes, from coco_data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelport.service import Service
from media_factory import make_png

SIZE = 640


@dataclass
class Built:
    project_id: int
    files: dict[int, int]  # image number -> file id
    run_ids: dict[str, int]  # run reference -> id


def clip(r: dict) -> tuple[float, float, float, float]:
    x0, y0 = max(r["x"], 0.0), max(r["y"], 0.0)
    return x0, y0, min(r["x"] + r["w"], SIZE - 1.0), min(r["y"] + r["h"], SIZE - 1.0)


def box(r: dict, label: str, **extra: Any) -> dict[str, Any]:
    x0, y0, x1, y1 = clip(r)
    return {"type": "box", "name": label, "x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1,
            **extra}  # fmt: skip


def build(
    service: Service,
    media: Path,
    images: int,
    gts: list[dict],
    runs: dict[str, list[dict]],
    labels: int,
    name: str = "Eval project",
) -> Built:
    project = service.create_project(name)
    pid = project["id"]
    service.create_labels(pid, [f"l{k}" for k in range(labels + 1)])
    packets = []
    for image in range(1, images + 1):
        path = media / f"img{image}.png"
        if not path.exists():
            make_png(path, SIZE, SIZE)
        instances = [
            box(r, f"l{r['label']}", machine_made=False) for r in gts if r["image"] == image
        ]
        for run, dts in runs.items():
            instances += [
                box(r, f"l{r['label']}", model_ref="det", model_run_ref=run, score=r["score"])
                for r in dts
                if r["image"] == image
            ]
        packets.append(
            {"media": {"url": path.resolve().as_uri(), "type": "image"},
             "original_filename": path.name, "instance_list": instances}
        )  # fmt: skip
    batch = service.submit_batch(pid, packets)
    done = service.wait_batch(pid, batch["id"], timeout=120)
    assert done["status"] == "success", done
    got = service.get_batch(pid, batch["id"], per_page=10_000)
    files = {f["line"] + 1: f["file_id"] for f in got["files"]}
    run_ids = {r.reference: r.id for r in service.store.list_model_runs(pid)}
    return Built(pid, files, run_ids)


def coco_rows(gts: list[dict], dts: list[dict]) -> tuple[list[dict], list[dict]]:
    """The same rows, clipped as stored, for pycocotools."""

    def clipped(r: dict) -> dict:
        x0, y0, x1, y1 = clip(r)
        return {**r, "x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}

    return [clipped(r) for r in gts], [clipped(r) for r in dts]
