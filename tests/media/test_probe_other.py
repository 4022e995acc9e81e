import struct

import pytest

from labelport.media import ProbeError, ProbeLimits, probe_file, sniff
from media_factory import make_geojson, make_geotiff, make_pcd, make_ply, make_png

POINTS = [(0.0, 0.0, 0.0), (1.5, -2.0, 3.25), (-1.0, 4.0, 0.5)]
BOUNDS = [-1.0, -2.0, 0.0, 1.5, 4.0, 3.25]


@pytest.mark.parametrize("encoding", ["ascii", "binary"])
def test_pcd(tmp_path, encoding):
    path = make_pcd(tmp_path / "c.pcd", POINTS, encoding)
    probe = probe_file(path, "point_cloud")
    assert (probe.media_type, probe.format, probe.point_count) == ("point_cloud", "pcd", 3)
    assert probe.bounds == BOUNDS
    assert probe_file(path).media_type == "point_cloud"  # sniffed
    assert probe.media_info().media_type == "point_cloud"


def test_pcd_bounds_skipped_over_the_cap_and_nan_ignored(tmp_path):
    path = make_pcd(tmp_path / "c.pcd", [*POINTS, (float("nan"),) * 3], "binary")
    assert probe_file(path, "point_cloud").bounds == BOUNDS
    capped = probe_file(path, "point_cloud", limits=ProbeLimits(max_bounds_points=2))
    assert (capped.point_count, capped.bounds) == (4, None)


def test_pcd_truncated_or_malformed(tmp_path):
    path = make_pcd(tmp_path / "c.pcd", POINTS, "binary")
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ProbeError) as err:
        probe_file(path, "point_cloud")
    assert err.value.code == "media.unreadable"
    ascii_path = make_pcd(tmp_path / "d.pcd", POINTS, "ascii")
    ascii_path.write_bytes(ascii_path.read_bytes() + b"9 9 9 1\n")
    with pytest.raises(ProbeError, match="more data lines"):
        probe_file(ascii_path, "point_cloud")
    (tmp_path / "e.pcd").write_text("VERSION 0.7\nFIELDS x y z\n")
    with pytest.raises(ProbeError) as err:
        probe_file(tmp_path / "e.pcd", "point_cloud")
    assert err.value.code == "media.unreadable"


@pytest.mark.parametrize("encoding", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply(tmp_path, encoding):
    path = make_ply(tmp_path / "m.ply", POINTS, encoding, faces=2)
    probe = probe_file(path)
    assert (probe.media_type, probe.format, probe.point_count) == ("point_cloud", "ply", 3)
    assert probe.bounds == BOUNDS
    assert probe.extra["face_count"] == 2


def test_ply_truncated(tmp_path):
    path = make_ply(tmp_path / "m.ply", POINTS, "binary_little_endian")
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ProbeError) as err:
        probe_file(path, "point_cloud")
    assert err.value.code == "media.unreadable"


def test_geojson_bounds(tmp_path):
    probe = probe_file(make_geojson(tmp_path / "g.geojson"))
    assert (probe.media_type, probe.format) == ("geo", "geojson")
    assert probe.bounds == [2.3, 48.8, 13.4, 52.5]
    assert probe.extra["feature_count"] == 2
    assert probe.media_info().media_type == "geo"


def test_geojson_invalid(tmp_path):
    path = tmp_path / "g.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(ProbeError) as err:
        probe_file(path, "geo")
    assert err.value.code == "media.unreadable"


def test_geotiff_bounds_from_tags(tmp_path):
    path = make_geotiff(tmp_path / "g.tif", 20, 10, origin=(10.0, 50.0), pixel_size=(0.5, 0.25))
    for declared in ("geo", None):
        probe = probe_file(path, declared)
        assert (probe.media_type, probe.format) == ("geo", "geotiff")
        assert probe.bounds == [10.0, 47.5, 20.0, 50.0]
        assert probe.crs == "EPSG:4326"
        assert (probe.width, probe.height) == (20, 10)


def test_plain_tiff_is_an_image_not_geo(tmp_path):
    path = tmp_path / "p.tif"
    from PIL import Image

    Image.new("RGB", (5, 4)).save(path)
    assert probe_file(path).media_type == "image"
    with pytest.raises(ProbeError) as err:
        probe_file(path, "geo")
    assert err.value.code == "media.type_mismatch"
    assert "georeferencing" in err.value.message


def test_sniff_kinds(tmp_path):
    (tmp_path / "t").write_text("just some words")
    assert sniff(tmp_path / "t") == ("text", "text")
    assert sniff(make_png(tmp_path / "p")) == ("image", "png")
    (tmp_path / "bin").write_bytes(struct.pack("<8I", *range(8)) + b"\xff\xfe\x00")
    assert sniff(tmp_path / "bin") == (None, None)
    (tmp_path / "empty").write_bytes(b"")
    assert sniff(tmp_path / "empty") == (None, None)
    with pytest.raises(ProbeError) as err:
        probe_file(tmp_path / "bin")
    assert err.value.code == "media.unsupported_type"


def test_probe_file_accepts_original_filename(tmp_path):
    path = make_ply(tmp_path / "m.ply", POINTS, "binary_little_endian")
    staged = path.rename(tmp_path / "staged")
    assert probe_file(staged, "point_cloud", filename="scan.ply").point_count == 3
