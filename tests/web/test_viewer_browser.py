"""The pages in a real browser (Playwright + Debian's Chromium): shapes are read back from the
SVG DOM (attributes, getBBox, screen boxes), never from the page's JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labelport.service import Service
from media_factory import make_mp4, make_png
from web_helpers import import_upload

IMAGE_W, IMAGE_H = 640, 480
BOXES = [  # (label, x_min, y_min, x_max, y_max)
    ("cat", 10, 20, 110, 220),
    ("cat", 200, 50, 260, 90),
    ("dog", 400, 300, 600, 460),
]
POLYGON = ("dog", [(300, 100), (380, 120), (340, 200)])


@pytest.fixture(scope="module")
def project(service: Service) -> dict[str, Any]:
    project = service.create_project("Browser project")
    service.create_labels(project["id"], ["cat", "dog"])
    labels = {lab["name"]: lab["id"] for lab in service.list_labels(project["id"])}
    return {**project, "labels": labels}


def _shapes(page: Any) -> list[dict[str, Any]]:
    """Every drawn instance as the DOM has it: its label id, type, and the element's geometry."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#overlay g.inst')].map((g) => {
            const shape = g.querySelector('.shape');
            const b = shape.getBBox();
            const attrs = {};
            for (const a of shape.attributes) attrs[a.name] = a.value;
            return {label: Number(g.dataset.labelId), type: g.dataset.type, tag: shape.tagName,
                    attrs, bbox: [b.x, b.y, b.width, b.height],
                    hidden: getComputedStyle(g).display === 'none'};
        })"""
    )


def test_image_viewer_draws_each_instance_at_its_pixels(
    page: Any, service: Service, project: dict[str, Any], base_url: str, media_dir: Path
) -> None:
    image = make_png(media_dir / "street.png", IMAGE_W, IMAGE_H)
    instances = [
        {"type": "box", "name": n, "x_min": a, "y_min": b, "x_max": c, "y_max": d}
        for n, a, b, c, d in BOXES
    ]
    instances.append(
        {"type": "polygon", "name": POLYGON[0], "points": [{"x": x, "y": y} for x, y in POLYGON[1]]}
    )
    done = import_upload(service, project["id"], image, {"instance_list": instances})
    assert done["status"] == "success", done

    page.goto(f"{base_url}/ui/p/{project['string_id']}/files/{done['file_id']}")
    page.wait_for_selector("#overlay[data-drawn='4']")
    shapes = _shapes(page)
    assert len(shapes) == 4

    rects = sorted((s for s in shapes if s["type"] == "box"), key=lambda s: s["bbox"])
    expected = sorted(BOXES, key=lambda b: (b[1], b[2]))
    for shape, (name, x0, y0, x1, y1) in zip(rects, expected, strict=True):
        assert shape["tag"] == "rect"
        assert shape["label"] == project["labels"][name]
        assert [float(shape["attrs"][k]) for k in ("x", "y", "width", "height")] == [
            x0, y0, x1 - x0, y1 - y0,
        ]  # fmt: skip
        assert shape["bbox"] == pytest.approx([x0, y0, x1 - x0, y1 - y0])

    (polygon,) = [s for s in shapes if s["type"] == "polygon"]
    drawn = [tuple(map(float, p.split(","))) for p in polygon["attrs"]["points"].split()]
    assert drawn == [(float(x), float(y)) for x, y in POLYGON[1]]
    assert polygon["bbox"] == pytest.approx([300, 100, 80, 100])
    assert polygon["label"] == project["labels"]["dog"]

    # The overlay sits on the picture: a box's screen rectangle is its pixels scaled to the image.
    img = page.locator("#media").bounding_box()
    first = rects[0]["bbox"]
    screen = page.locator(f"#overlay rect.shape[x='{first[0]:g}'][y='{first[1]:g}']").bounding_box()
    scale = img["width"] / IMAGE_W
    assert screen["x"] == pytest.approx(img["x"] + first[0] * scale, abs=2)
    assert screen["y"] == pytest.approx(img["y"] + first[1] * scale, abs=2)
    assert screen["width"] == pytest.approx(first[2] * scale, abs=3)

    # Clicking a shape shows its label, type and machine_made; the dog toggle hides dogs only.
    page.locator("#overlay g.inst[data-type=polygon]").click()
    details = page.locator("#details").inner_text()
    assert "dog" in details and "polygon" in details and "machine made" in details
    page.locator(f"#label-toggles input[data-label-id='{project['labels']['dog']}']").uncheck()
    hidden = {s["label"]: s["hidden"] for s in _shapes(page)}
    assert hidden == {project["labels"]["cat"]: False, project["labels"]["dog"]: True}


def _video_map() -> dict[int, list[dict[str, Any]]]:
    """cat #1, cat #2 on all 10 frames; dog #1 on all; dog #2 on frames 3..9. Boxes move."""
    fpm: dict[int, list[dict[str, Any]]] = {}
    for frame in range(10):
        fpm[frame] = []
        for name, top in (("cat", 10), ("dog", 120)):
            for number in (1, 2):
                if name == "dog" and number == 2 and frame < 3:
                    continue
                x = 5 + 10 * frame + 140 * (number - 1)
                fpm[frame].append(
                    {"type": "box", "name": name, "number": number, "x_min": x, "y_min": top,
                     "x_max": x + 40, "y_max": top + 60}
                )  # fmt: skip
    return fpm


def test_video_viewer_lists_sequences_and_draws_frame_7(
    page: Any, service: Service, project: dict[str, Any], base_url: str, media_dir: Path
) -> None:
    video = make_mp4(media_dir / "clip.mp4", frames=10, fps=10, width=320, height=240)
    fpm = _video_map()
    done = import_upload(service, project["id"], video, {"frame_packet_map": fpm})
    assert done["status"] == "success", done

    page.goto(f"{base_url}/ui/p/{project['string_id']}/files/{done['file_id']}")
    page.wait_for_selector("#overlay[data-frame='0']")
    for name in ("cat", "dog"):
        block = page.locator(f".seq-label[data-label-id='{project['labels'][name]}']")
        assert block.get_attribute("data-count") == "2"
        assert block.locator("li.seq").count() == 2
        assert "2 sequences" in block.locator("h3").inner_text()

    page.locator("#slider").fill("7")
    page.wait_for_selector("#overlay[data-frame='7']")
    assert page.locator("#frame-number").inner_text() == "7"
    assert page.evaluate("document.getElementById('media').src").endswith("/frames/7.jpg")
    assert page.evaluate("document.getElementById('media').naturalWidth") == 320
    drawn = sorted(
        (s["label"], *(float(s["attrs"][k]) for k in ("x", "y", "width", "height")))
        for s in _shapes(page)
    )
    expected = sorted(
        (project["labels"][i["name"]], i["x_min"], i["y_min"], 40.0, 60.0) for i in fpm[7]
    )
    assert drawn == expected

    # A sequence's click jumps to its first keyframe: dog #2 starts on frame 3.
    dog_seqs = page.locator(f".seq-label[data-label-id='{project['labels']['dog']}'] li.seq")
    dog_seqs.nth(1).click()
    page.wait_for_selector("#overlay[data-frame='3']")
    assert len(_shapes(page)) == 4  # cat #1, cat #2, dog #1, dog #2 (its first frame)
    page.locator("#next").click()
    page.wait_for_selector("#overlay[data-frame='4']")


def test_failed_import_shows_its_problem_paths(
    page: Any, service: Service, project: dict[str, Any], base_url: str, media_dir: Path
) -> None:
    image = make_png(media_dir / "small.png", 64, 48)
    packet = {
        "instance_list": [
            {"type": "box", "name": "cat", "x_min": 1, "y_min": 1, "x_max": 5000, "y_max": 10},
            {"type": "box", "name": "dog", "x_min": 1, "y_min": 1, "x_max": 10, "y_max": 10},
            {"type": "point", "name": "dog", "points": [{"x": 3, "y": 999}]},
        ]
    }
    done = import_upload(service, project["id"], image, packet)
    assert done["status"] == "failed", done
    paths = {p["path"] for p in done["problems"]}

    page.goto(f"{base_url}/ui/p/{project['string_id']}/imports")
    page.select_option("select[name=status]", "failed")
    page.click("form.filters button")
    page.wait_for_url("**status=failed**")
    rows = page.locator("table.imports tbody tr")
    assert rows.count() >= 1
    assert all(s == "failed" for s in rows.locator("[data-role=status]").all_inner_texts())
    page.click(f"a[href$='/imports/{done['id']}']")
    table = page.locator("table.problems").first
    shown = set(table.locator("code.path").all_inner_texts())
    assert paths <= shown and "instance_list/0/x_max" in shown
    assert "instance_list/2/points/0/y" in " ".join(shown)


def test_a_label_made_of_html_stays_text(
    page: Any, service: Service, base_url: str, media_dir: Path
) -> None:
    evil = "<img src=x onerror=alert(1)>"
    project = service.create_project("Escaping")
    service.create_labels(project["id"], [evil])
    image = make_png(media_dir / "evil.png", 64, 48)
    done = import_upload(
        service,
        project["id"],
        image,
        {"instance_list": [
            {"type": "box", "name": evil, "x_min": 1, "y_min": 1, "x_max": 30, "y_max": 30},
            {"type": "tag", "name": evil},
        ]},
    )  # fmt: skip
    assert done["status"] == "success", done
    base = f"{base_url}/ui/p/{project['string_id']}"
    for path in ("", "/imports", f"/imports/{done['id']}", f"/files/{done['file_id']}"):
        page.goto(base + path)
        if "/files/" in path:
            page.wait_for_selector("#overlay[data-drawn='1']")
            page.locator("#overlay g.inst .shape").click()  # the box (its name may overhang)
            assert evil in page.locator("#details").inner_text()
            assert evil in page.locator("#tags").inner_text()
        if path != "/imports":  # the list names files, not labels
            assert page.get_by_text(evil, exact=True).count() >= 1, path
        assert page.locator("img[src='x']").count() == 0, path
    page.wait_for_timeout(200)  # an onerror would fire as soon as the image failed to load
    assert page.dialogs.seen == []


def test_text_audio_point_cloud_and_geo_viewers_draw_their_instances(
    page: Any, service: Service, project: dict[str, Any], base_url: str, media_dir: Path
) -> None:
    from media_factory import make_geojson, make_pcd, make_wav

    text = media_dir / "note.txt"
    text.write_text("The cat sat on the mat. A dog barked.")
    cases = [
        (text, {"media": {"type": "text"}, "instance_list": [
            {"type": "text_token", "name": "cat", "start_token": 1, "end_token": 1},
            {"type": "text_token", "name": "dog", "start_token": 7, "end_token": 8}]},
         "#text[data-drawn='2']"),
        (make_wav(media_dir / "a.wav", 2.0), {"instance_list": [
            {"type": "audio", "name": "cat", "start_time": 0.2, "end_time": 0.9},
            {"type": "audio", "name": "dog", "start_time": 1.0, "end_time": 1.5}]},
         "#overlay[data-drawn='2']"),
        (make_pcd(media_dir / "c.pcd", [(0, 0, 0), (10, 5, 1), (-4, 8, 2)]), {"instance_list": [
            {"type": "cuboid_3d", "name": "cat", "center_3d": {"x": 2, "y": 3, "z": 0},
             "dimensions_3d": {"width": 2, "height": 1, "depth": 1}}]},
         "#overlay[data-drawn='1']"),
        (make_geojson(media_dir / "g.geojson"), {"instance_list": [
            {"type": "geo_point", "name": "cat", "lonlat": [2.35, 48.85]},
            {"type": "geo_box", "name": "dog", "bounds_lonlat": [[2.3, 48.8], [2.4, 48.9]]}]},
         "#overlay[data-drawn='2']"),
    ]  # fmt: skip
    for path, packet, ready in cases:
        done = import_upload(service, project["id"], path, packet)
        assert done["status"] == "success", done
        page.goto(f"{base_url}/ui/p/{project['string_id']}/files/{done['file_id']}")
        page.wait_for_selector(ready)
    # The last page (geo): the box spans its bounds in lon / -lat plot units.
    box = page.locator("#overlay g.inst[data-type=geo_box] rect")
    assert [round(float(box.get_attribute(k)), 6) for k in ("x", "y", "width", "height")] == [
        2.3, -48.9, 0.1, 0.1,
    ]  # fmt: skip
