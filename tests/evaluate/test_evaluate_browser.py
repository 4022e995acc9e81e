"""The model-run page (metrics, precision-recall plots, confusion, review queue, recompute when
stale) and the viewer's TP / FP / FN overlay, in Debian's Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from coco_data import generate
from eval_helpers import build

from labelport.service import Service

pytestmark = pytest.mark.browser
IMAGES, LABELS = 6, 2


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("evalweb")
    (root / "media").mkdir()
    svc = Service.open(data_dir=root / "data", media_roots=[root / "media"], workers=2)
    svc.media_dir = root / "media"  # type: ignore[attr-defined]
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture(scope="module")
def built(service: Service) -> Any:
    gts, dts = generate(21, IMAGES, LABELS)
    gts = [g for g in gts if not g["crowd"]]
    return build(service, service.media_dir, IMAGES, gts, {"r1": dts, "r2": dts[::3]}, LABELS)


def _queue(page: Any) -> list[dict[str, int]]:
    rows = page.locator("#review-queue tbody tr")
    out = []
    for i in range(rows.count()):
        row = rows.nth(i)
        cells = row.locator("td.num")
        out.append({
            "file_id": int(row.get_attribute("data-file-id")),
            "errors": int(row.get_attribute("data-errors")),
            "fp": int(cells.nth(1).inner_text()), "fn": int(cells.nth(2).inner_text()),
            "tp": int(cells.nth(3).inner_text()),
        })  # fmt: skip
    return out


def test_the_run_page_evaluates_and_shows_metrics_curves_and_the_queue(
    page: Any, base_url: str, service: Service, built: Any
) -> None:
    sid = service.store.get_project(built.project_id).string_id
    run = built.run_ids["r1"]
    page.goto(f"{base_url}/ui/p/{sid}")  # the project's header leads to its model runs
    with page.expect_navigation():
        page.locator("nav.crumbs a", has_text="Model runs").click()
    assert page.url == f"{base_url}/ui/p/{sid}/runs"
    page.locator(f"#runs tr[data-run-id='{run}'] a").click()
    page.wait_for_selector("#not-evaluated")
    page.locator("#evaluate").click()
    page.wait_for_selector("#metrics")
    ev = service.get_evaluation(built.project_id, int(page.url.rsplit("=", 1)[1]))
    # the table holds the stored figures, per label and overall
    total = page.locator("#metrics tr[data-label-id='all'] td.num")
    assert int(total.nth(2).inner_text()) == ev["overall"]["tp"]
    assert total.nth(9).inner_text() == f"{ev['overall']['ap']:.3f}"
    assert page.locator("#metrics tbody tr").count() == len(ev["labels"]) + 1
    # one precision-recall curve per label with references and predictions, drawn inline
    with_curve = [row for row in ev["labels"] if row["curve"]]
    assert page.locator("#pr-plots figure polyline").count() == len(with_curve) > 0
    points = page.locator("#pr-plots polyline").first.get_attribute("points")
    assert len(points.split()) > 3
    assert page.locator("#confusion td.diag").count() >= 1
    # the review queue: most errors first, each file linked to the viewer with the evaluation
    queue = _queue(page)
    assert len(queue) == ev["file_count"]
    assert [q["errors"] for q in queue] == sorted((q["errors"] for q in queue), reverse=True)
    assert sum(q["tp"] + q["fn"] for q in queue) == ev["overall"]["references"]
    href = page.locator("#review-queue tbody tr a").first.get_attribute("href")
    assert href == f"/ui/p/{sid}/files/{queue[0]['file_id']}?evaluation={ev['id']}"


def test_a_later_import_marks_it_stale_and_recompute_refreshes(
    page: Any, base_url: str, service: Service, built: Any
) -> None:
    sid = service.store.get_project(built.project_id).string_id
    run = built.run_ids["r2"]
    first = service.evaluate(built.project_id, run)
    page.goto(f"{base_url}/ui/p/{sid}/runs/{run}")
    assert page.locator("#stale").count() == 0
    file_id = next(f for f in built.files.values())
    extra = {"type": "box", "name": "l1", "x_min": 5, "y_min": 5, "x_max": 60, "y_max": 60,
             "machine_made": False}  # fmt: skip
    created = service.submit_packet(
        built.project_id, {"file_id": file_id, "mode": "update", "instance_list": [extra]}
    )
    assert service.wait_import(built.project_id, created["id"])["status"] == "success"
    page.reload()
    page.wait_for_selector("#stale")
    with page.expect_navigation():
        page.locator("#recompute").click()
    assert page.locator("#stale").count() == 0
    new_id = int(re.search(r"evaluation=(\d+)", page.url).group(1))
    assert new_id != first["id"]
    again = service.get_evaluation(built.project_id, new_id)
    assert again["overall"]["references"] == first["overall"]["references"] + 1


def test_the_viewer_colours_outcomes_and_steps_through_the_queue(
    page: Any, base_url: str, service: Service, built: Any
) -> None:
    sid = service.store.get_project(built.project_id).string_id
    ev = service.evaluate(built.project_id, "r1")
    page.goto(f"{base_url}/ui/p/{sid}/runs/{built.run_ids['r1']}?evaluation={ev['id']}")
    queue = _queue(page)
    # a file of the queue with errors and with found references (for the IoU slider to undo)
    top = next(q for q in queue if q["errors"] and q["tp"])
    page.locator(f"#review-queue tr[data-file-id='{top['file_id']}'] a").click()
    page.wait_for_selector("#eval-panel")
    page.wait_for_selector("#overlay g.inst.eval-tp, #overlay g.inst.eval-fp")

    def counts() -> dict[str, int]:
        return {k: int(page.locator(f"[data-eval-count='{k}']").inner_text())
                for k in ("tp", "fp", "fn")}  # fmt: skip

    def drawn(kind: str) -> int:
        return page.locator(f"#overlay g.inst.eval-{kind}").count()

    # at the evaluation's own thresholds: the stored counts, and the shapes coloured so
    assert counts() == {"tp": top["tp"], "fp": top["fp"], "fn": top["fn"]}
    assert drawn("fp") == top["fp"] and drawn("fn") == top["fn"]
    assert drawn("tp") == 2 * top["tp"]  # the prediction and the reference it found
    assert page.locator("#stage.eval-on").count() == 1
    # a stricter IoU: fewer matches; a score threshold of 1: no prediction counts
    page.locator("#eval-iou").fill("0.95")
    strict = counts()
    assert strict["tp"] < top["tp"] and strict["fn"] == top["fn"] + (top["tp"] - strict["tp"])
    assert drawn("tp") == 2 * strict["tp"]
    page.locator("#eval-score").fill("1")
    assert counts()["tp"] == 0 and counts()["fp"] == 0
    # the toggle takes the colours away
    page.locator("#eval-toggle").uncheck()
    assert page.locator("#stage.eval-on").count() == 0
    # "next file with errors" follows the queue
    with_errors = [q["file_id"] for q in queue if q["errors"]]
    after = with_errors[with_errors.index(top["file_id"]) + 1 :]
    assert after, "the test data needs a file with errors after this one"
    with page.expect_navigation():
        page.locator("#eval-next").click()
    assert f"/files/{after[0]}?evaluation={ev['id']}" in page.url
    page.wait_for_selector("#eval-panel")


def test_the_overlay_follows_a_video_frame_by_frame(
    page: Any, base_url: str, service: Service, built: Any
) -> None:
    from media_factory import make_mp4

    pid = built.project_id
    sid = service.store.get_project(pid).string_id
    clip = service.media_dir / "clip.mp4"
    make_mp4(clip, frames=12, fps=10, width=160, height=120)

    def car(frame: int, number: int, **extra: Any) -> dict[str, Any]:
        x = 10 + frame * 5
        return {"type": "box", "name": "l1", "number": number, "x_min": x, "y_min": 20,
                "x_max": x + 40, "y_max": 60, **extra}  # fmt: skip

    pred = {"model_ref": "vid", "model_run_ref": "v1", "score": 0.9}
    fpm = {str(f): [car(f, 1, machine_made=False)] + ([car(f, 2, **pred)] if f < 4 else [])
           for f in range(10)}  # fmt: skip
    packet = {"media": {"url": clip.resolve().as_uri(), "type": "video"}, "frame_packet_map": fpm}
    done = service.wait_import(pid, service.submit_packet(pid, packet)["id"])
    assert done["status"] == "success", done
    ev = service.evaluate(pid, "vid/v1")
    page.goto(f"{base_url}/ui/p/{sid}/files/{done['file_id']}?evaluation={ev['id']}")
    page.wait_for_selector("#eval-panel")
    page.wait_for_selector("#overlay g.inst.eval-tp")
    assert page.locator("#eval-frames").inner_text() == "frames 0\u2013299"
    # frame 0: the reference found (both shapes green); frame 6: nothing predicted, missed
    assert page.locator("#overlay g.inst.eval-tp").count() == 2
    page.locator("#slider").fill("6")
    page.wait_for_selector("#overlay[data-frame='6']")
    page.wait_for_selector("#overlay g.inst.eval-fn")
    assert page.locator("#overlay g.inst.eval-tp").count() == 0
