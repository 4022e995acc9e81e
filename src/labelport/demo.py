"""`make demo`: the seed walkthrough end to end on the embedded default (SQLite + local files).

Starts the server, creates a project with labels, generates an image and a short video, imports
the walkthrough's instance list and frame packet map through labelport's SDK, waits, prints what
was stored, and keeps serving so a person can look. Running it again imports nothing new: the
packets carry idempotency keys.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import socket
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from labelport.errors import Conflict, NotFound
from labelport.service import Service
from labelport.shapes import ProjectOut

PROJECT = "walkthrough"
LABELS = ("cat", "another")
IMAGE_SIZE = (1280, 960)  # the walkthrough's mock boxes reach x, y = 800
VIDEO_FRAMES = 30


# -- the walkthrough's own mapping functions (seed: "Importing Instances Walkthrough") ----------


def mock_box_from_external_format(
    sequence_number: int | None = None, name: Any = None
) -> dict[str, Any]:
    return {
        "name": name,
        "number": sequence_number,
        "type": "box",
        "x_max": random.randint(500, 800),
        "x_min": random.randint(400, 499),
        "y_max": random.randint(500, 800),
        "y_min": random.randint(400, 499),
    }


def mock_frame_packet_map(
    number_of_frames: int, number_of_sequences: int = 1
) -> dict[int, list[dict[str, Any]]]:
    frame_packet_map: dict[int, list[dict[str, Any]]] = {}
    for i in range(number_of_frames):
        frame_packet_map[i] = []
        for name in LABELS:
            for j in range(1, number_of_sequences + 1):
                frame_packet_map[i].append(
                    mock_box_from_external_format(sequence_number=j, name=name)
                )
    return frame_packet_map


# -- media ------------------------------------------------------------------------------------


def make_image(path: Path) -> Path:
    from PIL import Image, ImageDraw

    width, height = IMAGE_SIZE
    image = Image.new("RGB", IMAGE_SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 8):  # a gradient so the boxes have something to sit on
        draw.rectangle([0, y, width, y + 8], fill=(30 + y * 120 // height, 60, 110))
    draw.ellipse([420, 420, 780, 780], fill=(220, 170, 60))
    image.save(path, quality=90)
    return path


def make_video(path: Path) -> Path:
    import av
    from PIL import Image, ImageDraw

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = *IMAGE_SIZE, "yuv420p"
        for n in range(VIDEO_FRAMES):
            frame = Image.new("RGB", IMAGE_SIZE, (20, 40, 90))
            x = 400 + n * 10  # an object moving right
            ImageDraw.Draw(frame).rectangle([x, 420, x + 200, 780], fill=(230, 180, 70))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# -- the run ----------------------------------------------------------------------------------


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def ensure_project(service: Service) -> ProjectOut:
    try:
        project = service.get_project(PROJECT)
    except NotFound:
        project = service.create_project("Walkthrough", string_id=PROJECT)
    known = {label["name"] for label in service.list_labels(project["id"])}
    missing = [name for name in LABELS if name not in known]
    if missing:
        with contextlib.suppress(Conflict):  # a concurrent demo created them first
            service.create_labels(project["id"], missing)
    return project


def start_server(service: Service, port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    from labelport.api import create_app

    config = uvicorn.Config(
        create_app(service), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the server did not start on port {port}")
        time.sleep(0.05)
    return server, thread


def summarise(console: Console, label: str, imported: Any, file: Any) -> None:
    counts = imported.counts
    seconds = import_seconds(imported.data)
    console.print(
        f"[bold]{label}[/bold]: import {imported.id} [green]{imported.status}[/green]"
        + (f" in {seconds:.2f} s" if seconds else "")
        + f", file {file.id} ({file.media_type} {file.width}x{file.height})"
    )
    table = Table("label", "instances", box=None, pad_edge=False)
    for name, n in sorted(counts.get("instances_per_label", {}).items()):
        table.add_row(name, str(n))
    console.print(table)
    if file.media_type == "video":
        seqs = Table("label", "number", "instances", "keyframes", box=None, pad_edge=False)
        for s in file.sequences():
            frames = s["keyframes"]
            seqs.add_row(
                s["label_name"], str(s["number"]), str(s["instance_count"]), compact(frames)
            )
        console.print(seqs)
    if imported.warning_count:
        console.print(f"  {imported.warning_count} warning(s), e.g. {imported.warnings[0]}")
    if imported.problems:
        for p in imported.problems:
            console.print(f"  [red]{p.path}[/red] {p.message} [{p.code}]")


def import_seconds(data: dict[str, Any]) -> float | None:
    from datetime import datetime

    if not data.get("finished_at") or not data.get("created_at"):
        return None
    finished = datetime.fromisoformat(data["finished_at"])
    return (finished - datetime.fromisoformat(data["created_at"])).total_seconds()


def compact(frames: list[int]) -> str:
    """0-19 rather than twenty numbers."""
    ranges: list[str] = []
    start = prev = None
    for f in [*frames, None]:
        if f is not None and prev is not None and f == prev + 1:
            prev = f
            continue
        if start is not None:
            ranges.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = f
    return ", ".join(ranges)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="labelport-data", type=Path)
    parser.add_argument("--port", default=8085, type=int)
    parser.add_argument("--once", action="store_true", help="stop after the summary")
    args = parser.parse_args(argv)
    console = Console()
    random.seed(7)  # the same mock boxes every run, so a re-run is recognisably the same data

    from labelport.sdk import Project

    with Service.open(data_dir=args.data_dir, workers=2) as service:
        project = ensure_project(service)
        key = service.create_api_key(project["id"], "editor")
        port = free_port(args.port)
        server, thread = start_server(service, port)
        host = f"http://127.0.0.1:{port}"
        console.print(
            f"labelport serving on [bold]{host}[/bold] (data in {args.data_dir})", soft_wrap=True
        )

        media = args.data_dir / "demo-media"
        media.mkdir(parents=True, exist_ok=True)
        image = make_image(media / "cat.jpg")
        video = make_video(media / "cats.mp4")
        instance_list = [mock_box_from_external_format(name="cat") for _ in range(3)]
        frame_packet_map = mock_frame_packet_map(number_of_frames=20, number_of_sequences=2)

        with Project(PROJECT, key["client_id"], key["client_secret"], host=host) as sdk:
            started = time.monotonic()
            image_import = sdk.file.from_local(
                image, media_type="image", instance_list=instance_list,
                idempotency_key="walkthrough-image-v1",
            ).wait(60)  # fmt: skip
            video_import = sdk.file.from_local(
                video, media_type="video", frame_packet_map=frame_packet_map,
                idempotency_key="walkthrough-video-v1",
            ).wait(120)  # fmt: skip
            elapsed = time.monotonic() - started
            for label, imported in (("image", image_import), ("video", video_import)):
                if imported.file_id is None:
                    console.print(f"[red]{label} import {imported.id}: {imported.status}[/red]")
                    continue
                summarise(console, label, imported, sdk.file.get_by_id(imported.file_id))
        console.print(f"both imports verified in {elapsed:.2f} s")
        from labelport.web import signin_url

        console.print(
            f"see them in a browser: [bold]{signin_url(server.config.app, host)}[/bold]"
            f" (one-time sign-in link; an API key also signs in); API docs at {host}/docs",
            soft_wrap=True,  # a wrapped link cannot be clicked
        )
        ok = image_import.status == video_import.status == "success"
        if not args.once:
            console.print("serving until Ctrl-C")
            try:
                while thread.is_alive():
                    thread.join(0.5)
            except KeyboardInterrupt:
                pass
        server.should_exit = True
        thread.join(10)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
