"""The review-queue screenshot (`make screenshots`, web/screenshots.py): the street project's
detector run against references a person drew, evaluated, its model-run page photographed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# What a person drew on each street picture (car boxes; one image's person too), against the
# detector's cars at (90, 380, 230x120), (430, 400, 190x100), (700, 370, 210x125): some found,
# one shifted too far, one car the detector missed.
_REFERENCES = [
    [(92, 382, 228, 118), (432, 398, 190, 102)],
    [(88, 378, 232, 122), (430, 402, 188, 98), (705, 372, 205, 122)],
    [(95, 384, 226, 116), (520, 420, 190, 100), (30, 420, 120, 90)],
    [(90, 380, 230, 120), (433, 401, 187, 99), (702, 371, 208, 124), (30, 420, 120, 90)],
]


def add_references(service: Any, project_id: int, file_ids: list[int]) -> None:
    for file_id, boxes in zip(file_ids, _REFERENCES, strict=False):
        instances = [
            {"type": "box", "name": "car", "machine_made": False, "x_min": x, "y_min": y,
             "x_max": x + w, "y_max": y + h}
            for x, y, w, h in boxes
        ] + [{"type": "box", "name": "person", "machine_made": False, "x_min": 338,
              "y_min": 392, "x_max": 424, "y_max": 566}]  # fmt: skip
        packet = {"file_id": file_id, "mode": "update", "instance_list": instances}
        created = service.submit_packet(project_id, packet)
        service.wait_import(project_id, created["id"], timeout=120)


def review_queue_shot(
    service: Any, page: Any, base: str, made: dict[str, Any], out_dir: Path
) -> Path:
    """Evaluate the street project's detector run and photograph its page at the queue."""
    pid = made["project"]["id"]
    files = [f for f in service.list_files(pid, per_page=100)[0] if f["media_type"] == "image"]
    add_references(service, pid, [f["id"] for f in files])
    result = service.evaluate(pid, "detector-v3/2024-06-01")
    sid = made["project"]["string_id"]
    page.goto(f"{base}/ui/p/{sid}/runs/{result['model_run_id']}")
    page.wait_for_selector("#review-queue")
    page.locator("#review-queue").scroll_into_view_if_needed()
    target = out_dir / "review-queue.png"
    page.screenshot(path=str(target), full_page=False)
    return target
