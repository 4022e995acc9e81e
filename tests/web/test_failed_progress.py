"""A failed import's progress bar says why it ended (its first problem, at its place), not
where it stopped ("30%") (issue 14, item 7)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from labelport.service import Service
from media_factory import make_png
from web_helpers import import_upload

BOX = {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}


@pytest.fixture(scope="module")
def imports(service: Service, media_dir: Path) -> dict[str, Any]:
    project = service.create_project("Progress")
    service.create_labels(project["id"], ["cat"])
    image = make_png(media_dir / "p.png", 64, 48)
    packet = {"media": {"type": "image"}, "instance_list": [{**BOX, "x_max": 9999}]}
    failed = import_upload(service, project["id"], image, packet)
    ok = import_upload(
        service, project["id"], image, {"media": {"type": "image"}, "instance_list": [BOX]}
    )
    assert (failed["status"], ok["status"]) == ("failed", "success")
    assert failed["percent"] < 100  # where it stopped: what the bar used to show
    return {"project": project, "failed": failed, "ok": ok}


def test_the_failed_import_page_says_why_in_the_bar(
    page: Any, base_url: str, imports: dict[str, Any]
) -> None:
    psid, failed = imports["project"]["string_id"], imports["failed"]
    page.goto(f"{base_url}/ui/p/{psid}/imports/{failed['id']}")
    line = page.locator(".progressline")
    text = line.locator("[data-role=percent]").inner_text()
    assert text.startswith("failed: instance_list/0/x_max: "), text
    assert "%" not in text
    first = failed["problems"][0]
    assert first["path"] == "instance_list/0/x_max" and first["message"] in text
    bar = line.locator("progress")
    assert bar.evaluate("(b) => b.value") == 100
    assert bar.get_attribute("title") == text
    assert bar.get_attribute("class") == "status-failed"


def test_a_successful_import_still_shows_its_percent(
    page: Any, base_url: str, imports: dict[str, Any]
) -> None:
    psid, ok = imports["project"]["string_id"], imports["ok"]
    page.goto(f"{base_url}/ui/p/{psid}/imports/{ok['id']}")
    assert page.locator(".progressline [data-role=percent]").inner_text() == "100%"
    assert page.locator(".progressline progress").get_attribute("title") is None


def test_the_import_list_bar_of_a_failed_import_says_why_on_hover(
    page: Any, base_url: str, imports: dict[str, Any]
) -> None:
    psid, failed = imports["project"]["string_id"], imports["failed"]
    page.goto(f"{base_url}/ui/p/{psid}/imports")
    bar = page.locator(f"tr[data-import-id='{failed['id']}'] progress")
    assert bar.evaluate("(b) => b.value") == 100
    title = bar.get_attribute("title") or ""
    assert re.match(r"failed: .+", title), title
