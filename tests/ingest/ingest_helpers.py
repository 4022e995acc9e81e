"""Helpers of the ingest tests: the served media, a project handle, row counts, batches of boxes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import func, select

from labelport.errors import Rejected
from labelport.service import Service
from labelport.store import Store, tables
from media_factory import LocalServer, make_geojson, make_mp4, make_pcd, make_png, make_wav

IMAGE_SIZE = (640, 480)
VIDEO = {"frames": 30, "fps": 10, "width": 320, "height": 240}
AUDIO_SECONDS = 2.0
# Tables an import writes into; a failed import must leave each of them as it was.
WRITTEN_TABLES = ("instance", "sequence", "model", "model_run", "file")


def build_media(root: Path) -> Path:
    make_png(root / "image.png", *IMAGE_SIZE)
    make_png(root / "other.png", *IMAGE_SIZE)
    make_mp4(root / "clip.mp4", **VIDEO)
    make_wav(root / "tone.wav", seconds=AUDIO_SECONDS)
    make_pcd(root / "cloud.pcd", [(0.0, 0.0, 0.0), (1.0, 2.0, 3.0), (-1.0, 0.5, 2.0)])
    make_geojson(root / "places.geojson")
    return root


@dataclass
class Media:
    server: LocalServer

    def url(self, name: str) -> str:
        return self.server.url(name)

    def packet(self, name: str, media_type: str, **rest: Any) -> dict[str, Any]:
        return {"media": {"url": self.url(name), "type": media_type}, **rest}


@dataclass
class Project:
    service: Service
    id: int
    labels: dict[str, int]

    def submit(self, packet: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.service.submit_packet(self.id, packet, **kwargs)

    def run(self, packet: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        """Submit and wait for the import's end; fails the test if it never ends."""
        submitted = self.submit(packet)
        done = self.service.wait_import(self.id, submitted["id"], timeout=timeout)
        assert done["status"] in ("success", "failed"), done
        return done

    def rejected(self, packet: dict[str, Any]) -> list[dict[str, str]]:
        """The problems of a packet refused at submit."""
        try:
            self.submit(packet)
        except Rejected as exc:
            return [
                {"code": p.code, "path": p.path, "message": p.message} for p in exc.report.problems
            ]
        raise AssertionError("the packet was accepted")

    def instances(self, file_id: int) -> list[dict[str, Any]]:
        rows, total = self.service.list_instances(self.id, file_id, per_page=10_000)
        assert len(rows) == total
        return rows

    def sequences(self, file_id: int) -> dict[tuple[str, int], dict[str, Any]]:
        return {
            (s["label_name"], s["number"]): s for s in self.service.list_sequences(self.id, file_id)
        }


def row_counts(service: Service) -> dict[str, int]:
    with service.store.engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(getattr(tables, name))).scalar_one()
            for name in WRITTEN_TABLES
        }


def codes(problems: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(p["code"], p["path"]) for p in problems}


def box(name: str, x_min: float, y_min: float, x_max: float, y_max: float, **rest: Any) -> dict:
    return {
        "type": "box",
        "name": name,
        "x_min": x_min,
        "y_min": y_min,
        "x_max": x_max,
        "y_max": y_max,
        **rest,
    }


def batch_of_boxes(urls: list[str], lines: int, boxes: int) -> bytes:
    """An NDJSON batch body: `lines` image packets, line n on urls[n % len(urls)] with `boxes`
    boxes of "cat"; every third line carries an idempotency key."""
    packets = []
    for n in range(lines):
        packet: dict[str, Any] = {
            "media": {"url": urls[n % len(urls)], "type": "image"},
            "instance_list": [box("cat", k, 1, k + 5, 9) for k in range(boxes)],
        }
        if n % 3 == 0:
            packet["idempotency_key"] = f"line-{n}"
        packets.append(msgspec.json.encode(packet))
    return b"\n".join(packets) + b"\n"


def assert_each_line_its_own_file(store: Store, lines: int, boxes: int) -> None:
    """A batch of `batch_of_boxes` ended with every line one file holding exactly its own
    boxes: nothing twice, nothing lost."""
    i = tables.instance
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.file)).scalar_one() == lines
        assert conn.execute(select(func.count()).select_from(i)).scalar_one() == lines * boxes
        uneven = conn.execute(
            select(func.count()).select_from(
                select(i.c.import_id).group_by(i.c.import_id).having(func.count() != boxes)
                .subquery()
            )
        ).scalar_one()  # fmt: skip
    assert uneven == 0  # every import holds exactly its own boxes
