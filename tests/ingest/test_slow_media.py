"""Slow media does not starve other imports (issue 13, item 4): with two import threads held by
dribbling sources of one project, another project's import still runs at once, and the slow
fetches end at the fetch deadline with a problem that says so."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from labelport.service import Service
from media_factory import make_png, serve_directory


def _wait_for(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_dribbling_imports_do_not_hold_the_import_threads(database, tmp_path: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    make_png(root / "fast.png", 64, 48)
    for name in ("slow1.png", "slow2.png"):
        shutil.copy(root / "fast.png", root / name)
    service = Service.open(
        data_dir=tmp_path / "data",
        database_url=database.url,
        allow_private_urls=True,
        workers=2,
        fetch_timeout=4.0,
    )
    try:
        with serve_directory(root) as server:
            server.dribbles["/slow1.png"] = 0.2
            server.dribbles["/slow2.png"] = 0.2
            a = service.create_project("A")["id"]
            b = service.create_project("B")["id"]
            slow = [
                service.submit_packet(a, {"media": {"url": server.url(n), "type": "image"}})["id"]
                for n in ("slow1.png", "slow2.png")
            ]
            # Both import threads' worth of project A's imports are fetching.
            _wait_for(lambda: server.requests.count("/slow1.png") == 1, 5)
            _wait_for(lambda: server.requests.count("/slow2.png") == 1, 5)
            started = time.monotonic()
            fast = service.submit_packet(
                b, {"media": {"url": server.url("fast.png"), "type": "image"}}
            )
            done = service.wait_import(b, fast["id"], timeout=10)
            took = time.monotonic() - started
            assert done["status"] == "success", done
            assert took < 2.5, took  # not after the slow fetches' 4 s deadline
            assert all(service.get_import(a, i)["status"] == "fetching" for i in slow)

            for import_id in slow:
                ended = service.wait_import(a, import_id, timeout=15)
                assert ended["status"] == "failed"
                [problem] = ended["problems"]
                assert problem["code"] == "media.fetch_failed"
                assert problem["path"] == "media"
                assert "fetch timeout" in problem["message"]
    finally:
        service.close()
