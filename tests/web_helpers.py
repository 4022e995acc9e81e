"""Helpers of the page tests shared by folders: Debian's Chromium, and media imported by upload.

Imported by its own name (`from web_helpers import ...`), never through a conftest.py: with
several conftest.py files collected, `from conftest import ...` may find another folder's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labelport.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def browser_unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (the dev extra installs it)"
    return None


def import_upload(
    service: Service, project_id: int, path: Path, packet: dict[str, Any]
) -> dict[str, Any]:
    """Submit `packet` with `path` as its uploaded media; wait for the import to end."""
    with open(path, "rb") as stream:
        created = service.submit_packet(project_id, packet, upload=(path.name, stream))
    done = service.wait_import(project_id, created["id"], timeout=60)
    assert done["status"] in ("success", "failed"), done
    return done
