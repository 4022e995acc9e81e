"""file:// media: a folder's real path is remembered, but never past a change of where it leads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labelport.media import FetchConfig, FetchError
from labelport.media.sources import fetch_file, resolve_local


def _config(root: Path) -> FetchConfig:
    return FetchConfig(local_roots=(root,))


def test_a_folder_swapped_for_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "media", tmp_path / "private"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "x.txt").write_text("mine")
    (outside / "x.txt").write_text("secret")
    url = (root / "a" / "x.txt").as_uri()
    assert resolve_local(url, _config(root)) == (root / "a" / "x.txt").resolve()
    (root / "a" / "x.txt").unlink()
    (root / "a").rmdir()
    os.symlink(outside, root / "a")  # the same name now leads out of the root
    with pytest.raises(FetchError) as refused:
        fetch_file(_config(root), url)
    assert refused.value.code == "media.url_refused"


def test_a_folder_swapped_for_another_inside_reads_the_new_one(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "one").mkdir(parents=True)
    (root / "two").mkdir()
    (root / "one" / "x.txt").write_text("one")
    (root / "two" / "x.txt").write_text("two")
    os.symlink(root / "one", root / "a")
    url = (root / "a" / "x.txt").as_uri()
    assert fetch_file(_config(root), url, keep_bytes=100).data == b"one"
    (root / "a").unlink()
    os.symlink(root / "two", root / "a")
    got = fetch_file(_config(root), url, keep_bytes=100)
    assert got.data == b"two" and got.path == (root / "two" / "x.txt").resolve()


def test_a_symlinked_file_is_resolved_in_full(tmp_path: Path) -> None:
    root, outside = tmp_path / "media", tmp_path / "private"
    root.mkdir()
    outside.mkdir()
    (root / "real.txt").write_text("r")
    (outside / "s.txt").write_text("s")
    os.symlink(root / "real.txt", root / "link.txt")
    os.symlink(outside / "s.txt", root / "out.txt")
    config = _config(root)
    assert resolve_local((root / "link.txt").as_uri(), config) == (root / "real.txt").resolve()
    with pytest.raises(FetchError) as refused:
        resolve_local((root / "out.txt").as_uri(), config)
    assert refused.value.code == "media.url_refused"
    with pytest.raises(FetchError) as missing:
        resolve_local((root / "none.txt").as_uri(), config)
    assert missing.value.code == "media.file_not_found"
