"""`labelport serve` prints a one-time sign-in link that works once."""

from __future__ import annotations

from pathlib import Path

import httpx

from server_helpers import ServeProcess
from signin_helpers import redeem_link


def test_serve_prints_a_sign_in_link_that_works_once(tmp_path: Path) -> None:
    with ServeProcess(tmp_path / "data", workers=0) as server:
        assert server.proc is not None and server.proc.stdout is not None
        line = server.proc.stdout.readline()
        assert "sign-in link" in line, line
        link = line.split()[-1]
        assert link.startswith(f"{server.base_url}/ui/signin?token=")
        with httpx.Client(base_url=server.base_url, timeout=10) as browser:
            # Opening it shows a confirm page; its button signs in.
            first = redeem_link(browser, link, follow_redirects=False)
            assert first.status_code == 303
            assert "labelport_session=" in first.headers["set-cookie"]
            home = browser.get("/ui/")
            assert home.status_code == 200 and "Projects" in home.text
        assert httpx.get(link, follow_redirects=False, timeout=10).status_code == 403
