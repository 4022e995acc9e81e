"""Reviewing in the viewer (Playwright + Debian's Chromium): label colours and names, zoom and
pan that keep shapes on their pixels, the score threshold and filters, frame stepping at
key-repeat speed, jump to a frame, and keyboard access. Read back from the DOM."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from labelport.service import Service
from media_factory import make_mp4, make_png
from web_helpers import import_upload

W, H = 640, 480
BOX = (40, 60, 200, 180)  # the cat's box: x_min, y_min, x_max, y_max


def _box(name: str, x0: float, y0: float, x1: float, y1: float, **more: Any) -> dict[str, Any]:
    return {"type": "box", "name": name, "x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1, **more}


@pytest.fixture(scope="module")
def seed(service: Service, media_dir: Path) -> dict[str, Any]:
    """The seed's labels `cat` and `another`; an image with predictions of two models and one
    box drawn by a person."""
    project = service.create_project("Review project")
    service.create_labels(project["id"], ["cat", "another"])
    labels = {lab["name"]: lab["id"] for lab in service.list_labels(project["id"])}
    image = make_png(media_dir / "review.png", W, H)
    instances = [
        _box("cat", *BOX, score=0.9, model_ref="detector", model_run_ref="v1"),
        _box("another", 300, 60, 420, 200, score=0.5, model_ref="detector", model_run_ref="v2"),
        _box("another", 450, 250, 600, 400, score=0.2, model_ref="segmenter", model_run_ref="a"),
        _box("cat", 60, 300, 200, 440, machine_made=False),
    ]
    done = import_upload(service, project["id"], image, {"instance_list": instances})
    assert done["status"] == "success", done
    return {**project, "labels": labels, "file_id": done["file_id"]}


def _open(page: Any, base_url: str, seed: dict[str, Any], file_id: int | None = None) -> None:
    page.goto(f"{base_url}/ui/p/{seed['string_id']}/files/{file_id or seed['file_id']}")
    page.wait_for_selector("#overlay[data-drawn]")


def _colours(page: Any) -> dict[int, set[str]]:
    found = page.evaluate(
        """() => [...document.querySelectorAll('#overlay g.inst')].map((g) => [
            Number(g.dataset.labelId), getComputedStyle(g.querySelector('.shape')).stroke])"""
    )
    out: dict[int, set[str]] = {}
    for label, colour in found:
        out.setdefault(label, set()).add(colour)
    return out


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def _visible(page: Any) -> int:
    return page.evaluate(
        """() => [...document.querySelectorAll('#overlay g.inst')]
            .filter((g) => getComputedStyle(g).display !== 'none').length"""
    )


def test_labels_have_distinct_colours_and_a_set_colour_shows(
    page: Any, service: Service, seed: dict[str, Any], base_url: str
) -> None:
    _open(page, base_url, seed)
    colours = _colours(page)
    cat, another = seed["labels"]["cat"], seed["labels"]["another"]
    assert len(colours[cat]) == 1 and len(colours[another]) == 1
    assert colours[cat] != colours[another]
    # Each outline has a dark halo under it.
    halo = page.evaluate("getComputedStyle(document.querySelector('#overlay .halo')).stroke")
    assert halo.startswith("rgba(10, 12, 20")

    page.locator(f"input.label-colour[data-colour-label-id='{cat}']").fill("#ff8800")
    page.wait_for_selector(
        f"input.label-colour[data-colour-label-id='{cat}'][data-saved='#ff8800']"
    )
    assert _colours(page)[cat] == {_rgb("#ff8800")}
    assert service.get_label(seed["id"], cat)["colour"] == "#ff8800"
    _open(page, base_url, seed)  # kept: the page draws it after a reload
    assert _colours(page)[cat] == {_rgb("#ff8800")}
    service.set_label_colour(seed["id"], cat, None)


def test_the_project_page_sets_a_colour_the_viewer_draws(
    page: Any, service: Service, seed: dict[str, Any], base_url: str
) -> None:
    another = seed["labels"]["another"]
    page.goto(f"{base_url}/ui/p/{seed['string_id']}")
    colour_box = page.locator(f"#project-labels input[data-colour-label-id='{another}']")
    assert colour_box.input_value() == service.get_label(seed["id"], another)["colour"]
    colour_box.fill("#12ab34")
    page.wait_for_selector("#project-labels input[data-saved='#12ab34']")
    swatch = page.locator(f"#project-labels tr[data-label-id='{another}'] svg.swatch rect")
    assert swatch.get_attribute("fill") == "#12ab34"
    _open(page, base_url, seed)
    assert _colours(page)[another] == {_rgb("#12ab34")}
    service.set_label_colour(seed["id"], another, None)


def test_label_names_are_drawn_and_can_be_hidden(
    page: Any, seed: dict[str, Any], base_url: str
) -> None:
    _open(page, base_url, seed)
    names = page.locator("#overlay text.name")
    assert sorted(names.all_text_contents()) == ["another", "another", "cat", "cat"]
    cat_name = page.locator("#overlay g.inst[data-score='0.9'] text.name").bounding_box()
    cat_box = page.locator("#overlay g.inst[data-score='0.9'] rect.shape").bounding_box()
    assert cat_name["y"] + cat_name["height"] <= cat_box["y"] + 3  # just above its box
    assert abs(cat_name["x"] - cat_box["x"]) < 4
    page.locator("#show-names").uncheck()
    assert page.locator("#overlay text.name").first.is_hidden()
    page.locator("#show-names").check()
    assert page.locator("#overlay text.name").first.is_visible()


def _no_outlines(page: Any) -> None:
    page.evaluate(
        """() => document.querySelectorAll('#overlay .shape, #overlay .halo')
            .forEach((s) => { s.style.strokeWidth = '0'; })"""
    )


def _aligned(page: Any) -> None:
    """The cat's box on screen is exactly its pixels, scaled and moved like the image."""
    # Measured without its outline (a screen box includes the stroke, drawn at any zoom).
    _no_outlines(page)
    img = page.locator("#media").bounding_box()
    box = page.locator("#overlay g.inst[data-score='0.9'] rect.shape").bounding_box()
    scale = img["width"] / W
    assert img["height"] / H == pytest.approx(scale, rel=0.01)
    x0, y0, x1, y1 = BOX
    assert box["x"] == pytest.approx(img["x"] + x0 * scale, abs=2)
    assert box["y"] == pytest.approx(img["y"] + y0 * scale, abs=2)
    assert box["width"] == pytest.approx((x1 - x0) * scale, abs=3)
    assert box["height"] == pytest.approx((y1 - y0) * scale, abs=3)


def test_zoom_and_pan_keep_shapes_on_their_pixels(
    page: Any, seed: dict[str, Any], base_url: str
) -> None:
    _open(page, base_url, seed)
    fitted = page.locator("#media").bounding_box()
    _aligned(page)

    page.locator("#zoom-in").click()
    page.locator("#zoom-in").click()
    assert page.locator("#zoom-level").inner_text() == "225%"
    zoomed = page.locator("#media").bounding_box()
    assert zoomed["width"] == pytest.approx(fitted["width"] * 2.25, rel=0.01)
    _aligned(page)

    # The wheel zooms about the pointer: the media point under it stays under it.
    stage = page.locator("#stage").bounding_box()
    px, py = stage["x"] + stage["width"] * 0.3, stage["y"] + stage["height"] * 0.4
    before = page.locator("#media").bounding_box()
    u = (px - before["x"]) / before["width"]
    page.mouse.move(px, py)
    page.mouse.wheel(0, -300)
    page.wait_for_function("Number(document.getElementById('overlay').dataset.zoom) > 2.3")
    after = page.locator("#media").bounding_box()
    assert after["x"] + u * after["width"] == pytest.approx(px, abs=2)
    _aligned(page)

    # Drag pans; so do the arrow keys while zoomed.
    start = page.locator("#media").bounding_box()
    page.mouse.move(px, py)
    page.mouse.down()
    page.mouse.move(px + 60, py + 40, steps=5)
    page.mouse.up()
    moved = page.locator("#media").bounding_box()
    assert (moved["x"] - start["x"], moved["y"] - start["y"]) == (
        pytest.approx(60, abs=2),
        pytest.approx(40, abs=2),
    )
    _aligned(page)
    page.locator("body").focus()
    page.keyboard.press("ArrowLeft")
    assert page.locator("#media").bounding_box()["x"] > moved["x"] + 5
    _aligned(page)
    page.keyboard.press("-")
    page.keyboard.press("0")
    assert page.locator("#zoom-level").inner_text() == "100%"
    assert page.locator("#media").bounding_box() == pytest.approx(fitted)
    _aligned(page)

    # z zooms onto the selected shape and centres it (as far as the media's edges allow).
    page.locator("#overlay g.inst[data-score='0.5']").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("z")
    assert float(page.locator("#overlay").get_attribute("data-zoom")) > 1.3
    stage = page.locator("#stage").bounding_box()
    other = page.locator("#overlay g.inst[data-score='0.5'] rect.shape").bounding_box()
    assert other["x"] + other["width"] / 2 == pytest.approx(stage["x"] + stage["width"] / 2, abs=2)
    _aligned(page)


def test_the_score_threshold_hides_instances_and_counts_follow(
    page: Any, seed: dict[str, Any], base_url: str
) -> None:
    _open(page, base_url, seed)
    summary = page.locator("#shown-summary")
    cat, another = seed["labels"]["cat"], seed["labels"]["another"]
    assert summary.get_attribute("data-shown") == "4"
    page.locator("#score-threshold").fill("0.6")
    assert page.locator("#score-value").inner_text() == "0.60"
    # 0.9 stays, 0.5 and 0.2 go; the person's box has no score and stays.
    assert _visible(page) == 2
    assert summary.get_attribute("data-shown") == "2"
    assert "2 hidden" in summary.inner_text()
    assert page.locator(f"[data-count-label='{cat}']").inner_text() == "2"
    assert page.locator(f"[data-count-label='{another}']").inner_text() == "0"
    page.locator("#score-threshold").fill("0.3")
    assert _visible(page) == 3
    assert page.locator(f"[data-count-label='{another}']").inner_text() == "1"


def test_no_scores_no_threshold(page: Any, seed: dict[str, Any], base_url: str, clip: int) -> None:
    _open(page, base_url, seed, clip)  # the clip's boxes have no score
    assert page.locator("#score-threshold").is_disabled()
    assert "no scores" in page.locator("#score-value").inner_text()


def test_filters_by_model_run_and_machine_made(
    page: Any, seed: dict[str, Any], base_url: str
) -> None:
    _open(page, base_url, seed)
    models = page.locator("#filter-model option").all_inner_texts()
    assert models == ["all", "detector", "segmenter", "no model"]
    page.locator("#filter-model").select_option(label="detector")
    assert _visible(page) == 2
    page.locator("#filter-run").select_option(label="detector / v2")
    scores = page.evaluate(
        """() => [...document.querySelectorAll('#overlay g.inst')]
            .filter((g) => getComputedStyle(g).display !== 'none').map((g) => g.dataset.score)"""
    )
    assert scores == ["0.5"]
    page.locator("#filter-model").select_option("")
    page.locator("#filter-run").select_option("")
    page.locator("#filter-made").select_option("human")
    assert _visible(page) == 1
    assert page.locator("#shown-summary").get_attribute("data-shown") == "1"
    page.locator("#filter-made").select_option("machine")
    assert _visible(page) == 3
    # The per-instance data stays with the page for other tools (e.g. evaluation colouring).
    kept = page.evaluate("window.labelportViewer.instances().map((i) => i.model_run)")
    assert sorted(filter(None, kept)) == ["a", "v1", "v2"]


def _video_map(frames: int) -> dict[int, list[dict[str, Any]]]:
    """One cat box per frame whose x is 10 * frame: the frame drawn can be read off the DOM."""
    return {f: [_box("cat", 10 * f, 20, 10 * f + 40, 80, number=1)] for f in range(frames)}


@pytest.fixture(scope="module")
def clip(service: Service, seed: dict[str, Any], media_dir: Path) -> int:
    video = make_mp4(media_dir / "review.mp4", frames=30, fps=10, width=400, height=240)
    done = import_upload(service, seed["id"], video, {"frame_packet_map": _video_map(30)})
    assert done["status"] == "success", done
    return done["file_id"]


def _drawn_frame(page: Any) -> tuple[str, float]:
    return tuple(
        page.evaluate(
            """() => [document.getElementById('overlay').dataset.frame,
            Number(document.querySelector('#overlay rect.shape').getAttribute('x'))]"""
        )
    )


def test_ten_arrow_presses_30_ms_apart_reach_frame_10(
    page: Any, seed: dict[str, Any], base_url: str, clip: int
) -> None:
    _open(page, base_url, seed, clip)
    page.wait_for_selector("#overlay[data-frame='0']")
    page.locator("body").focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
        time.sleep(0.03)
    assert page.locator("#frame-number").inner_text() == "10"
    page.wait_for_selector("#overlay[data-frame='10']")
    assert _drawn_frame(page) == ("10", 100.0)
    assert page.evaluate("document.getElementById('media').src").endswith("/frames/10.jpg")
    assert page.locator("#slider").input_value() == "10"
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
        time.sleep(0.03)
    page.wait_for_selector("#overlay[data-frame='6']")
    assert _drawn_frame(page) == ("6", 60.0)


def test_jump_to_a_frame(page: Any, seed: dict[str, Any], base_url: str, clip: int) -> None:
    _open(page, base_url, seed, clip)
    page.wait_for_selector("#overlay[data-frame='0']")
    page.locator("#jump-frame").fill("23")
    page.locator("#jump-frame").press("Enter")
    page.wait_for_selector("#overlay[data-frame='23']")
    assert _drawn_frame(page) == ("23", 230.0)
    assert page.locator("#frame-number").inner_text() == "23"
    page.locator("#jump-frame").fill("999")  # past the end: the last frame
    page.locator("#jump-form button").click()
    page.wait_for_selector("#overlay[data-frame='29']")


def test_zoomed_video_frames_stay_aligned(
    page: Any, seed: dict[str, Any], base_url: str, clip: int
) -> None:
    _open(page, base_url, seed, clip)
    page.wait_for_selector("#overlay[data-frame='0']")
    page.locator("#zoom-in").click()
    page.locator("#next").click()
    page.wait_for_selector("#overlay[data-frame='1']")
    _no_outlines(page)
    img = page.locator("#media").bounding_box()
    box = page.locator("#overlay rect.shape").bounding_box()
    scale = img["width"] / 400
    assert box["x"] == pytest.approx(img["x"] + 10 * scale, abs=2)
    assert box["width"] == pytest.approx(40 * scale, abs=3)


def _tab_until(page: Any, selector: str, limit: int = 80) -> list[str]:
    """Tab forward; the keys of every element matching `selector` that took the focus."""
    reached = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        key = page.evaluate(
            f"""() => {{ const a = document.activeElement;
                return a && a.matches({selector!r})
                    ? (a.dataset.instanceId || a.dataset.sequenceId) : null; }}"""
        )
        if key:
            reached.append(key)
    return reached


def test_every_shape_and_sequence_row_is_reachable_by_keyboard(
    page: Any, seed: dict[str, Any], base_url: str, clip: int
) -> None:
    _open(page, base_url, seed)
    ids = page.evaluate(
        "[...document.querySelectorAll('#overlay g.inst')].map(g => g.dataset.instanceId)"
    )
    reached = _tab_until(page, "g.inst")
    assert sorted(set(reached)) == sorted(ids)
    # Enter on a focused shape selects it and shows its details; it shows the focus.
    page.locator("#overlay g.inst[data-score='0.5']").focus()
    outline = page.evaluate(
        "getComputedStyle(document.querySelector("
        "'#overlay g.inst[data-score=\"0.5\"] .halo')).stroke"
    )
    assert outline == "rgb(255, 255, 255)"
    page.keyboard.press("Enter")
    assert page.locator("#overlay g.inst.selected").get_attribute("data-score") == "0.5"
    assert "0.5" in page.locator("#details").inner_text()

    _open(page, base_url, seed, clip)
    page.wait_for_selector("#overlay[data-frame='0']")
    page.locator("#jump-frame").fill("12")
    page.locator("#jump-frame").press("Enter")
    page.wait_for_selector("#overlay[data-frame='12']")
    page.locator("#sequences li.seq").first.focus()
    assert page.evaluate("document.activeElement.matches('li.seq')")
    page.keyboard.press("Enter")  # the row's first keyframe: frame 0
    page.wait_for_selector("#overlay[data-frame='0']")
    assert "chosen" in (page.locator("#sequences li.seq").first.get_attribute("class") or "")
    page.locator("body").focus()
    assert len(set(_tab_until(page, "li.seq", limit=120))) == 1
