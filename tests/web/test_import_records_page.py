"""The Import page names every import's media and key, lists packets refused at submit (status
`rejected`), and shows an import's problems grouped by kind with counts and example paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labelport.errors import Rejected
from labelport.service import Service
from media_factory import make_png


def import_upload(
    service: Service, project_id: int, path: Path, packet: dict[str, Any]
) -> dict[str, Any]:
    """Submit `packet` with `path` as its uploaded media; wait for the import to end. (Not
    imported from tests/web/conftest.py: another folder's conftest may take that name.)"""
    with open(path, "rb") as stream:
        created = service.submit_packet(project_id, packet, upload=(path.name, stream))
    return service.wait_import(project_id, created["id"], timeout=60)


def box(name: str, **over: Any) -> dict[str, Any]:
    return {"type": "box", "name": name, "x_min": 1, "y_min": 1, "x_max": 20, "y_max": 20, **over}


@pytest.fixture(scope="module")
def records(service: Service, media_dir: Path) -> dict[str, Any]:
    project = service.create_project("Records")
    pid = project["id"]
    service.create_labels(pid, ["cat"])
    refused_packet = {
        "media": {"url": "https://example.com/data/cam1/000123.jpg", "type": "image"},
        "idempotency_key": "cam1/000123.jpg#v1",
        "instance_list": [box("car") for _ in range(162)]
        + [box("bus") for _ in range(3)]
        + [{"type": "polygon", "name": "cat", "points": [{"x": 1, "y": 1}]}],
    }
    with pytest.raises(Rejected) as caught:
        service.submit_packet(pid, refused_packet)
    rejected_id = caught.value.import_id
    ok = import_upload(
        service, pid, make_png(media_dir / "ok.png", 64, 48),
        {"idempotency_key": "cam1/ok", "instance_list": [box("cat")]},
    )  # fmt: skip
    failed = import_upload(
        service, pid, make_png(media_dir / "tiny.png", 32, 24),
        {"instance_list": [box("cat", x_max=500 + k) for k in range(30)]},
    )  # fmt: skip
    assert (ok["status"], failed["status"]) == ("success", "failed")
    return {"project": project, "rejected": rejected_id, "ok": ok, "failed": failed}


def test_the_list_names_every_import_and_shows_rejected_ones(
    page: Any, records: dict[str, Any], base_url: str
) -> None:
    psid = records["project"]["string_id"]
    page.goto(f"{base_url}/ui/p/{psid}/imports")
    rows = page.locator("table.imports tbody tr")
    assert rows.count() == 3
    by_id = {
        int(rows.nth(n).get_attribute("data-import-id")): rows.nth(n) for n in range(rows.count())
    }
    rejected = by_id[records["rejected"]]
    assert rejected.locator("[data-role=status]").inner_text() == "rejected"
    assert rejected.locator("[data-role=media] .name").inner_text() == "000123.jpg"
    assert (
        rejected.locator("[data-role=media] .name").get_attribute("title")
        == "https://example.com/data/cam1/000123.jpg"
    )
    assert rejected.locator("[data-role=key] code").inner_text() == "cam1/000123.jpg#v1"
    assert rejected.locator("[data-role=problems]").inner_text() == "166"
    ok = by_id[records["ok"]["id"]]
    assert ok.locator("[data-role=media] a").inner_text() == "ok.png"
    assert ok.locator("[data-role=key] code").inner_text() == "cam1/ok"
    failed = by_id[records["failed"]["id"]]
    assert failed.locator("[data-role=media] a, [data-role=media] .name").inner_text() == "tiny.png"

    page.select_option("select[name=status]", "rejected")
    page.click("form.filters button")
    page.wait_for_url("**status=rejected**")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-import-id") == str(records["rejected"])


def test_a_rejected_import_shows_its_problems_grouped(
    page: Any, records: dict[str, Any], base_url: str
) -> None:
    psid = records["project"]["string_id"]
    page.goto(f"{base_url}/ui/p/{psid}/imports/{records['rejected']}")
    assert page.locator(".pagehead [data-role=status]").inner_text() == "rejected"
    assert page.locator("[data-role=rejected]").is_visible()
    assert page.locator("dd[data-role=media] .name").inner_text() == "000123.jpg"
    assert page.locator("dd[data-role=url] code").inner_text().endswith("/cam1/000123.jpg")
    assert "cam1/000123.jpg#v1" in page.locator("dd[data-role=key]").inner_text()

    groups = page.locator("#problem-groups ul.problem-groups > li > details")
    summaries = [s.strip() for s in groups.locator("summary").all_inner_texts()]
    # one line per missing label, with its count, largest first; the polygon's on its own
    assert summaries[0].startswith("label.unknown \u00d7162") and '"car"' in summaries[0]
    assert summaries[1].startswith("label.unknown \u00d73") and '"bus"' in summaries[1]
    assert len(summaries) == 3, summaries
    first = groups.first
    examples = first.locator("ul.examples code.path")
    assert not examples.first.is_visible()  # closed until asked
    first.locator("summary").click()
    assert examples.first.is_visible()
    assert examples.all_inner_texts() == [f"instance_list/{k}/name" for k in range(3)]


def test_a_failed_import_groups_its_problems_and_keeps_the_full_list(
    page: Any, records: dict[str, Any], base_url: str
) -> None:
    psid = records["project"]["string_id"]
    page.goto(f"{base_url}/ui/p/{psid}/imports/{records['failed']['id']}")
    groups = page.locator("#problem-groups details")
    assert groups.count() == 1  # 30 boxes past the edge, differing only by their numbers
    assert "\u00d730" in groups.first.locator("summary").inner_text()
    assert page.locator("table.problems tbody tr").count() == 30
    assert page.locator("dd[data-role=key]").inner_text().strip() == "none"
