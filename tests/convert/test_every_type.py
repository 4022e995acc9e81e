"""Every instance type of the type table (`format.instances.TYPES`), imported on a real media file
of each media type it fits, exported as Diffgram JSON and imported into a fresh project: it is
stored, and it comes back field by field. A new type fails here until the import, the store and
the Diffgram writer and reader carry it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from convert_helpers import project_instances

from instance_examples import PAIR_IDS, PAIRS, packet_of
from labelport.convert import diffgram
from labelport.convert.export import Export
from labelport.convert.importer import ImportOptions, run
from labelport.convert.targets import EmbeddedTarget
from labelport.format.instances import TYPES
from labelport.service import Service
from media_factory import make_geojson, make_mp4, make_pcd, make_png, make_wav

MAKE_MEDIA = {
    "image": lambda path: make_png(path.with_suffix(".png"), 64, 48),
    "video": lambda path: make_mp4(path.with_suffix(".mp4"), frames=5, fps=10),
    "audio": lambda path: make_wav(path.with_suffix(".wav"), seconds=3),
    "point_cloud": lambda path: make_pcd(path.with_suffix(".pcd"), [(0, 0, 0), (1, 2, 3)]),
    "geo": lambda path: make_geojson(path.with_suffix(".geojson")),
}


@dataclass
class RoundTrip:
    imported: dict[tuple[str, str], dict[str, Any]]  # (type, media) -> the finished import
    names: dict[tuple[str, str], str]  # (type, media) -> the file's name in the projects
    before: dict[str, list[dict[str, Any]]]
    after: dict[str, list[dict[str, Any]]]
    losses: dict[str, int]
    problems: list[Any]


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoundTrip]:
    root = tmp_path_factory.mktemp("every_type")
    service = Service.open(data_dir=root / "data", workers=1)
    try:
        pid = service.create_project("Every type")["id"]
        service.create_labels(pid, ["cat"])
        imported, names = {}, {}
        (root / "media").mkdir()
        for type_, media in PAIRS:
            packet = packet_of(type_, media)
            stem = f"{type_}-{media}"
            if media == "text":
                packet.pop("media")
                packet.update(text_data="The quick brown fox jumps.", original_filename=stem)
                created = service.submit_packet(pid, packet)
                names[(type_, media)] = stem
            else:
                path = MAKE_MEDIA[media](root / "media" / stem)
                with open(path, "rb") as stream:
                    created = service.submit_packet(pid, packet, upload=(path.name, stream))
                names[(type_, media)] = path.name
            imported[(type_, media)] = service.wait_import(pid, created["id"], timeout=60)
        export = Export(service, pid, root / "out" / "media")
        written = diffgram.write(export, root / "out")
        service.create_project("Fresh")
        target = EmbeddedTarget(service, "fresh")
        outcome = run(written, target, ImportOptions(create_labels=True))
        yield RoundTrip(
            imported,
            names,
            project_instances(service, pid),
            project_instances(service, target.project_id),
            {**export.losses, **outcome.losses},
            outcome.problems,
        )
    finally:
        service.close()


@pytest.mark.parametrize(("type_", "media"), PAIRS, ids=PAIR_IDS)
def test_imported_on_each_media_it_fits(round_trip: RoundTrip, type_: str, media: str) -> None:
    done = round_trip.imported[(type_, media)]
    assert done["status"] == "success", done
    assert done["counts"]["instances_per_type"].get(type_) == 1, done["counts"]
    stored = round_trip.before[round_trip.names[(type_, media)]]
    (instance,) = [i for i in stored if i["type"] == type_]
    for key, value in TYPES[type_].example.items():
        assert _given(instance[key]) == value, (key, instance)


def _given(value: Any) -> Any:
    """A stored value without the optional keys stored as null (a keypoint node's `name`)."""
    if isinstance(value, dict):
        return {k: _given(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_given(v) for v in value]
    return value


@pytest.mark.parametrize("type_", list(TYPES))
def test_survives_a_diffgram_round_trip(round_trip: RoundTrip, type_: str) -> None:
    assert round_trip.losses == {} and round_trip.problems == []
    names = [name for (t, _media), name in round_trip.names.items() if t == type_]
    for name in names:
        assert any(i["type"] == type_ for i in round_trip.before[name]), name
        assert round_trip.after.get(name) == round_trip.before[name], name
