"""How `labelport import` writes what it sends: each packet encoded once, for its digest and as
its batch line; a local media file named by its real file:// URL; the batch's body written
once. The idempotency keys stay those earlier versions wrote, so a re-run after an upgrade
finds every file unchanged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from labelport.convert.importer import ImportOptions, _encode, _encoded, run
from labelport.convert.targets import EmbeddedTarget, Found, file_url
from labelport.service import Service, batch_lines

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


@pytest.mark.parametrize(
    "packet",
    [
        {"media": {"type": "image"}, "original_filename": "a.jpg", "instance_list": []},
        {
            "instance_list": [{"type": "box", "name": "é", "x_min": 1.5, "machine_made": False}],
            "original_filename": "a/b c.jpg",
            "media": {"type": "image", "url": "http://x.invalid/a.jpg"},
        },
        {
            "media": {"type": "video"},
            "original_filename": "v.mp4",
            "frame_packet_map": {"0": [{"type": "point", "id": "z"}], "10": []},
        },
    ],
)
def test_a_packet_is_encoded_in_two_parts_that_make_its_whole_encoding(
    packet: dict[str, Any],
) -> None:
    head, tail = _encoded(packet)
    assert head + tail == _encode(packet)  # what its digest is made of, as before
    # a batch line: the first part, and keys of its own (the second part's, or others)
    own = {k: v for k, v in packet.items() if k in ("media", "original_filename")}
    line = head + b"," + _encode({**own, "idempotency_key": "k"})[1:]
    assert msgspec.json.decode(line) == {**packet, "idempotency_key": "k"}


@pytest.mark.parametrize("name", ["a.jpg", "b c.jpg", "100%#?.jpg", "é ü.png", "x;y=z&.jpg"])
def test_file_url_is_that_of_the_resolved_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    real = tmp_path / "real dir"
    real.mkdir()
    (real / name).write_bytes(b"x")
    (tmp_path / "linked").symlink_to(real)
    (tmp_path / f"link-{name}").symlink_to(real / name)
    monkeypatch.chdir(tmp_path)
    for path in (
        real / name,
        tmp_path / "linked" / name,  # a symlinked folder
        tmp_path / f"link-{name}",  # a symlinked file
        Path("linked") / name,  # relative to the working folder
        Path("real dir") / ".." / "linked" / name,
    ):
        assert file_url(path) == path.resolve().as_uri(), path


def test_batch_url_names_only_files_under_the_media_roots(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "in.jpg").write_bytes(b"x")
    (outside / "out.jpg").write_bytes(b"x")
    (root / "to-outside.jpg").symlink_to(outside / "out.jpg")
    (outside / "to-inside.jpg").symlink_to(root / "in.jpg")
    (tmp_path / "root-link").symlink_to(root)
    with Service.open(data_dir=tmp_path / "data", workers=0, media_roots=[root]) as service:
        service.create_project("roots")
        target = EmbeddedTarget(service, "roots")
        assert target.batch_url(root / "in.jpg") == (root / "in.jpg").resolve().as_uri()
        assert target.batch_url(tmp_path / "root-link" / "in.jpg") == (
            (root / "in.jpg").resolve().as_uri()
        )
        assert target.batch_url(outside / "to-inside.jpg") == (root / "in.jpg").resolve().as_uri()
        assert target.batch_url(outside / "out.jpg") is None
        assert target.batch_url(root / "to-outside.jpg") is None


def test_a_batch_of_packets_is_stored_as_its_ndjson_body_with_the_same_lines(
    tmp_path: Path,
) -> None:
    """An iterable of packets is written straight to the blob store, its lines placed as they
    are written: the same body and lines as the same packets sent as NDJSON bytes."""
    packets: list[bytes | dict[str, Any]] = [
        {"media": {"url": "http://x.invalid/a.jpg", "type": "image"}, "idempotency_key": "a"},
        b'  {"idempotency_key": "b", "original_filename": "b.jpg"}\t',
        b"",
        b'{"idempotency_key":\n"c"}',
        b"not json",
        {"idempotency_key": "k" * 300},
        {"idempotency_key": 5, "original_filename": "n.jpg"},
    ]
    body = b"".join(
        (p if isinstance(p, bytes) else msgspec.json.encode(p)).replace(b"\n", b" ") + b"\n"
        for p in packets
    )
    (tmp_path / "body.ndjson").write_bytes(body)
    expected = batch_lines(tmp_path / "body.ndjson")
    assert [line.idempotency_key for line in expected] == ["a", "b", "c", None, None, None]
    with Service.open(data_dir=tmp_path / "data", workers=0) as service:
        for n, sent in enumerate((packets, iter(packets), body)):
            project_id = service.create_project(f"body {n}")["id"]  # no key seen before
            batch = service.submit_batch(project_id, sent)
            stored = service.store.get_batch(batch["id"])
            assert stored.body_blob_key is not None
            with service.blobs.open(stored.body_blob_key) as f:
                assert f.read() == body
            imports = service.store.batch_imports(batch["id"], 0, len(packets))
            assert [(i.packet_offset, i.packet_length, i.idempotency_key) for i in imports] == [
                (line.offset, line.length, line.idempotency_key) for line in expected
            ]
