"""Screenshots of the pages for the README: `make screenshots` (or
`python -m labelport.web.screenshots docs/screenshots`).

Builds a throwaway project in a temp directory through the real import path (generated street
scene picture and clip, their annotations, one import that fails), serves it, and photographs
the Import page, a failed import, the image viewer and the video viewer (a frame, and a frame
zoomed in; label names beside the shapes) with Debian's Chromium driven by Playwright (the dev
extra).
"""

from __future__ import annotations

import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelport.shapes import ImportOut, is_dry_run

if TYPE_CHECKING:
    from labelport.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
LABELS = {"car": "#f5c518", "person": "#f032e6", "bicycle": "#f58231", "traffic sign": "#42d4f4",
          "lane": "#3cb44b", "building": "#911eb4"}  # fmt: skip


# -- media: a small drawn street, still and moving ----------------------------------------------


def _street(width: int, height: int, t: float = 0.0) -> Any:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height))
    d = ImageDraw.Draw(im)
    horizon = int(height * 0.55)
    for y in range(horizon):  # sky gradient
        k = y / horizon
        d.line([(0, y), (width, y)], fill=(int(120 + 80 * k), int(170 + 50 * k), 235))
    d.rectangle([0, horizon, width, height], fill=(88, 92, 98))
    d.rectangle([0, horizon, width, horizon + height // 30], fill=(170, 170, 160))  # kerb
    for i in range(6):  # buildings
        x0 = i * width // 6 + 8
        top = horizon - int(height * (0.25 + 0.12 * ((i * 7) % 3)))
        d.rectangle([x0, top, x0 + width // 6 - 16, horizon], fill=(150 + i * 12, 120, 110 + i * 9))
        for wy in range(top + 12, horizon - 20, 28):
            for wx in range(x0 + 10, x0 + width // 6 - 30, 26):
                d.rectangle([wx, wy, wx + 12, wy + 14], fill=(230, 220, 170))
    lane_y = int(height * 0.8)
    for x in range(-int(t * 40) % 90 - 90, width, 90):
        d.rectangle([x, lane_y - 3, x + 50, lane_y + 3], fill=(240, 240, 240))
    return im


def _car(d: Any, x: float, y: float, w: float, h: float, colour: tuple[int, int, int]) -> None:
    d.rounded_rectangle([x, y + h * 0.35, x + w, y + h * 0.85], radius=h * 0.12, fill=colour)
    d.rounded_rectangle([x + w * 0.2, y, x + w * 0.78, y + h * 0.45], radius=h * 0.12, fill=colour)
    d.rectangle([x + w * 0.27, y + h * 0.08, x + w * 0.72, y + h * 0.36], fill=(190, 220, 240))
    for cx in (x + w * 0.22, x + w * 0.78):
        d.ellipse([cx - h * 0.17, y + h * 0.68, cx + h * 0.17, y + h], fill=(30, 30, 30))


def _person(d: Any, x: float, y: float, h: float) -> dict[str, tuple[float, float]]:
    """Draws a stick person with its feet at y; returns its keypoints."""
    head = (x, y - h * 0.9)
    nodes = {
        "head": head,
        "neck": (x, y - h * 0.78),
        "hip": (x, y - h * 0.42),
        "left_hand": (x - h * 0.22, y - h * 0.5),
        "right_hand": (x + h * 0.22, y - h * 0.52),
        "left_foot": (x - h * 0.14, y),
        "right_foot": (x + h * 0.14, y),
    }
    r = h * 0.09
    d.ellipse([head[0] - r, head[1] - r, head[0] + r, head[1] + r], fill=(240, 200, 170))
    for a, b in (("neck", "hip"), ("neck", "left_hand"), ("neck", "right_hand"),
                 ("hip", "left_foot"), ("hip", "right_foot")):  # fmt: skip
        d.line([nodes[a], nodes[b]], fill=(40, 60, 120), width=max(int(h * 0.06), 2))
    return nodes


def make_scene(path: Path) -> list[dict[str, Any]]:
    """A street picture and the annotations a detector might have made of it."""
    from PIL import ImageDraw

    width, height = 960, 600
    im = _street(width, height)
    d = ImageDraw.Draw(im)
    cars = [(90, 380, 230, 120, (200, 40, 50)), (430, 400, 190, 100, (40, 90, 190)),
            (700, 370, 210, 125, (230, 180, 40))]  # fmt: skip
    out: list[dict[str, Any]] = []
    for n, (x, y, w, h, colour) in enumerate(cars):
        _car(d, x, y, w, h, colour)
        out.append(
            {"type": "box", "name": "car", "x_min": x, "y_min": y, "x_max": x + w,
             "y_max": y + h, "score": round(0.97 - 0.08 * n, 2), "model_ref": "detector-v3",
             "model_run_ref": "2024-06-01"}
        )  # fmt: skip
    nodes = _person(d, 380, 560, 150)
    ids = {name: str(i) for i, name in enumerate(nodes)}
    out.append(
        {"type": "keypoints", "name": "person", "score": 0.88,
         "nodes": [{"id": ids[k], "name": k, "x": v[0], "y": v[1]} for k, v in nodes.items()],
         "edges": [{"from": ids[a], "to": ids[b]} for a, b in (
             ("head", "neck"), ("neck", "hip"), ("neck", "left_hand"), ("neck", "right_hand"),
             ("hip", "left_foot"), ("hip", "right_foot"))]}
    )  # fmt: skip
    out.append({"type": "box", "name": "person", "x_min": 340, "y_min": 395, "x_max": 420,
                "y_max": 565, "score": 0.91})  # fmt: skip
    d.rectangle([655, 250, 661, 330], fill=(120, 120, 120))
    d.ellipse([638, 222, 678, 262], fill=(220, 30, 30))
    d.ellipse([646, 230, 670, 254], fill=(250, 250, 250))
    out.append({"type": "ellipse", "name": "traffic sign", "center_x": 658, "center_y": 242,
                "width": 40, "height": 40, "rotation": 0.0})  # fmt: skip
    out.append({"type": "point", "name": "traffic sign", "points": [{"x": 658, "y": 330}]})
    out.append(
        {"type": "line", "name": "lane", "machine_made": False,
         "points": [{"x": 0, "y": 480}, {"x": 480, "y": 480}, {"x": 959, "y": 480}]}
    )  # fmt: skip
    out.append(
        {"type": "polygon", "name": "building",
         "points": [{"x": 8, "y": 120}, {"x": 144, "y": 120}, {"x": 144, "y": 330},
                    {"x": 8, "y": 330}]}
    )  # fmt: skip
    out.append(
        {"type": "curve", "name": "lane", "p1": {"x": 20, "y": 590}, "cp": {"x": 480, "y": 500},
         "p2": {"x": 940, "y": 590}}
    )  # fmt: skip
    out.append(
        {"type": "cuboid", "name": "car",
         "front_face": {"top_left": {"x": 430, "y": 400}, "top_right": {"x": 600, "y": 400},
                        "bot_left": {"x": 430, "y": 500}, "bot_right": {"x": 600, "y": 500}},
         "rear_face": {"top_left": {"x": 450, "y": 392}, "top_right": {"x": 620, "y": 392},
                       "bot_left": {"x": 450, "y": 490}, "bot_right": {"x": 620, "y": 490}}}
    )  # fmt: skip
    out.append({"type": "tag", "name": "building"})
    im.save(path)
    return out


def make_clip(path: Path, frames: int = 48, fps: int = 12) -> dict[int, list[dict[str, Any]]]:
    """A clip of two cars and a cyclist crossing the street, and their tracks."""
    import av
    from PIL import ImageDraw

    width, height = 640, 360
    fpm: dict[int, list[dict[str, Any]]] = {}
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 2_000_000
        for f in range(frames):
            t = f / fps
            im = _street(width, height, t)
            d = ImageDraw.Draw(im)
            instances = []
            tracks = [("car", 1, -160 + 14 * f, 235, 150, 80, (200, 40, 50)),
                      ("car", 2, 620 - 9 * f, 260, 170, 90, (40, 90, 190))]  # fmt: skip
            for name, number, x, y, w, h, colour in tracks:
                _car(d, x, y, w, h, colour)
                box = [max(x, 0), y, min(x + w, width - 1), y + h]
                if box[2] - box[0] > 8:
                    instances.append(
                        {"type": "box", "name": name, "number": number, "x_min": box[0],
                         "y_min": box[1], "x_max": box[2], "y_max": box[3],
                         "score": round(0.9 + 0.05 * math.sin(f / 5), 3)}
                    )  # fmt: skip
            if f >= 10:  # the cyclist enters later: its track starts at frame 10
                cx = 40 + 8 * (f - 10)
                d.ellipse([cx - 18, 300, cx + 2, 320], outline=(20, 20, 20), width=3)
                d.ellipse([cx + 18, 300, cx + 38, 320], outline=(20, 20, 20), width=3)
                _person(d, cx + 10, 305, 60)
                instances.append(
                    {"type": "box", "name": "bicycle", "number": 1, "x_min": cx - 20,
                     "y_min": 245, "x_max": cx + 40, "y_max": 322}
                )  # fmt: skip
            fpm[f] = instances
            frame = av.VideoFrame.from_image(im)
            frame.pts = f
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return fpm


# -- the project ---------------------------------------------------------------------------------


def build_project(service: Service, media: Path) -> dict[str, Any]:
    project = service.create_project("Street scenes")
    pid = project["id"]
    for name, colour in LABELS.items():
        service.create_labels(pid, [name], colour=colour)
    done: dict[str, Any] = {"project": project}

    def submit(path: Path, packet: dict[str, Any]) -> ImportOut:
        with open(path, "rb") as stream:
            created = service.submit_packet(pid, packet, upload=(path.name, stream))
        if is_dry_run(created):  # a packet may ask for a dry run itself: these are imports
            raise RuntimeError(f"{path.name}: the packet asked for a dry run")
        return service.wait_import(pid, created["id"], timeout=120)

    text = media / "report.txt"
    text.write_text("A red car stops at the sign. Two people cross the street near the bakery.")
    submit(text, {"media": {"type": "text"}, "instance_list": [
        {"type": "text_token", "name": "car", "start_token": 1, "end_token": 2},
        {"type": "text_token", "name": "traffic sign", "start_token": 5, "end_token": 5},
        {"type": "text_token", "name": "person", "start_token": 7, "end_token": 8}]})  # fmt: skip
    for n in range(3):  # earlier imports, so that the list looks like a day's work
        extra = media / f"frame_{n:03d}.png"
        scene = make_scene(extra)
        submit(extra, {"instance_list": scene[: 3 + n]})
    bad = media / "frame_113.png"
    scene = make_scene(bad)
    scene[0]["x_max"] = 1280  # outside the 960 px picture
    scene[2]["y_max"] = 640  # below the 600 px picture
    scene.append({"type": "point", "name": "traffic sign", "points": [{"x": 658, "y": 912}]})
    scene.append({"type": "box", "name": "car", "x_min": 1000, "y_min": 20, "x_max": 1100,
                  "y_max": 90, "score": 0.4})  # fmt: skip
    try:
        done["failed"] = submit(bad, {"instance_list": scene})
    except Exception as exc:  # rejected before any media check: show that instead
        done["failed"] = {"error": str(exc)}
    image = media / "frame_114.png"
    done["image"] = submit(image, {"instance_list": make_scene(image)})
    clip = media / "crossing.mp4"
    done["video"] = submit(clip, {"frame_packet_map": make_clip(clip)})
    return done


def take(out_dir: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from labelport.api import create_app
    from labelport.service import Service
    from labelport.web import signin_url

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="labelport-shots-") as tmp:
        root = Path(tmp)
        (root / "media").mkdir()
        service = Service.open(data_dir=root / "data", workers=2)
        try:
            made = build_project(service, root / "media")
            app = create_app(service)
            with _serve(app) as base, sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1360, "height": 820})
                page.goto(signin_url(app, base))
                with page.expect_navigation():  # the link's page asks to confirm
                    page.get_by_role("button", name="Continue").click()
                p = f"{base}/ui/p/{made['project']['string_id']}"
                shots: list[tuple[str, str, str | None]] = [("imports.png", f"{p}/imports", None)]
                if made["failed"].get("id"):
                    shots.append(("import-failed.png", f"{p}/imports/{made['failed']['id']}", None))
                shots.append(("image-viewer.png", f"{p}/files/{made['image']['file_id']}",
                              "#overlay[data-drawn]"))  # fmt: skip
                shots.append(("video-viewer.png", f"{p}/files/{made['video']['file_id']}",
                              "#overlay[data-frame='0']"))  # fmt: skip
                shots.append(("video-zoomed.png", f"{p}/files/{made['video']['file_id']}",
                              "#overlay[data-frame='0']"))  # fmt: skip
                for name, url, ready in shots:
                    page.goto(url)
                    if ready:
                        page.wait_for_selector(ready)
                    if name == "image-viewer.png":
                        page.locator("#overlay g.inst[data-type=keypoints]").click()
                    if name == "video-viewer.png":
                        page.locator("#slider").fill("24")
                        page.wait_for_selector("#overlay[data-frame='24']")
                        page.locator("#overlay g.inst .shape").first.dispatch_event("click")
                    if name == "video-zoomed.png":  # zoomed in on a shape, names beside shapes
                        page.locator("#jump-frame").fill("12")
                        page.locator("#jump-frame").press("Enter")
                        page.wait_for_selector("#overlay[data-frame='12']")
                        page.locator("#overlay g.inst[data-type=box]").last.focus()
                        page.keyboard.press("Enter")  # select the smallest box
                        page.keyboard.press("z")  # and zoom onto it
                        page.wait_for_function(
                            "Number(document.getElementById('overlay').dataset.zoom) > 1.5"
                        )
                        page.wait_for_selector("#overlay:not(.zooming) text.name")  # names back
                    target = out_dir / name
                    page.screenshot(path=str(target), full_page=False)
                    written.append(target)
                # the review queue of the detector run, against references drawn for it
                from labelport.web.evaluation_shots import review_queue_shot

                written.append(review_queue_shot(service, page, base, made, out_dir))
                browser.close()
        finally:
            service.close()
    return written


class _serve:
    """uvicorn in a thread on a free port, for the length of a with block."""

    def __init__(self, app: Any) -> None:
        import socket

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/screenshots")
    for path in take(out):
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
