"""The idempotency keys `labelport import` writes stay those earlier versions wrote, however
the reader and the importer come to them: a re-run after an upgrade finds every file
unchanged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labelport.convert.importer import ImportOptions, run
from labelport.convert.targets import EmbeddedTarget, Found
from labelport.service import Service

FIXTURES = Path(__file__).parent / "fixtures"


class _Keys(EmbeddedTarget):
    """An embedded target that notes every key the importer looks up."""

    def __init__(self, service: Service, project: str) -> None:
        super().__init__(service, project)
        self.keys: list[str] = []

    def find_many(self, keys: Sequence[str], stems: Sequence[str]) -> Found:
        self.keys.extend(keys)
        return super().find_many(keys, stems)


def _coco(root: Path) -> Path:
    """A COCO file of every kind of annotation the reader has a path for; two media files of
    fixed sizes (a digest holds the media's size) and one named only by its URL."""
    media = root / "media"
    media.mkdir(parents=True)
    (media / "a.jpg").write_bytes(b"a" * 1000)
    (media / "b c.jpg").write_bytes(b"b" * 2345)
    doc = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "b c.jpg", "width": 64, "height": 48},
            {"id": 3, "file_name": "gone.jpg", "coco_url": "http://media.invalid/gone.jpg"},
        ],
        "categories": [
            {"id": 1, "name": "cat"},
            {"id": 2, "name": "person", "keypoints": ["nose", "eye"], "skeleton": [[1, 2]]},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1.5, 2.25, 10, 10.125]},
            {"id": "s", "image_id": 1, "category_id": 1, "bbox": [3, 4, 5, 6]},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "iscrowd": 1},
            {"id": 5, "image_id": 2, "category_id": 1, "segmentation": [[1, 1, 9, 1, 9, 9]]},
            {
                "id": 6,
                "image_id": 2,
                "category_id": 1,
                "bbox": [2, 2, 3, 3],
                "attributes": {"occluded": True, "colour": "red"},
            },
            {
                "id": 7,
                "image_id": 2,
                "category_id": 2,
                "bbox": [0, 0, 20, 20],
                "keypoints": [5, 5, 2, 6, 6, 1],
            },
            {"id": 8, "image_id": 3, "category_id": 1, "bbox": [0, 0, 1, 1]},
        ],
    }
    path = root / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def _keys(tmp_path: Path, source: Path, **options: Any) -> list[str]:
    with Service.open(data_dir=tmp_path / "data", workers=0) as service:
        service.create_project("keys")
        target = _Keys(service, "keys")
        run(source, target, ImportOptions(create_labels=True, dry_run=True, **options))
        return sorted(target.keys)


# Written by labelport as of commit 0c502ad: the same source must give the same keys, or a
# re-run after an upgrade would import every file again.
KEYS_COCO = [
    "labelport-import:coco:a.jpg#91494019b8fbf9e775f4",
    "labelport-import:coco:b c.jpg#7bb91c514663882ae21b",
    "labelport-import:coco:gone.jpg#d9c68a5f4f279d307b90",
]
KEYS_COCO_MACHINE_MADE = [
    "labelport-import:coco:a.jpg#9f29484b3cc387aa9793",
    "labelport-import:coco:b c.jpg#8495fd24a01a1169aa57",
    "labelport-import:coco:gone.jpg#c7ac32d43d8ac69f2643",
]
KEYS_VIDEO = ["labelport-import:cvat:annotations.xml:hands.mp4#22737cace38e8b116182"]


def test_keys_are_those_earlier_versions_wrote(tmp_path: Path) -> None:
    source = _coco(tmp_path / "coco")
    media = source.parent / "media"
    assert _keys(tmp_path / "1", source, media_dir=media) == KEYS_COCO
    assert _keys(tmp_path / "2", source, media_dir=media, machine_made=True) == (
        KEYS_COCO_MACHINE_MADE
    )
    video = FIXTURES / "cvat_video_points"
    assert _keys(tmp_path / "3", video, media_url="http://media.invalid/") == KEYS_VIDEO
