"""`labelport imports` and `labelport import-status`: media names, keys, rejected packets and
problems grouped, read embedded or from a server (--server/--key), in readable text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labelport.api import create_app
from labelport.errors import Rejected
from labelport.service import Service
from server_helpers import make_project, run_cli, threaded_server


def tag(name: str) -> dict[str, Any]:
    return {"type": "tag", "name": name}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("cli-imports") / "data"
    service = Service.open(data_dir=data, workers=2)
    try:
        project = make_project(service, "Shop")
        service.create_labels(project.id, ["cat", "dog"])
        with pytest.raises(Rejected) as caught:
            service.submit_packet(
                project.id,
                {
                    "media": {"url": "https://example.com/cam/000123.jpg", "type": "image"},
                    "idempotency_key": "cam/000123.jpg#1",
                    "instance_list": [tag("car")] * 162 + [tag("bus")] * 3,
                },
            )
        ok = service.submit_packet(
            project.id,
            {
                "text_data": "one two three",
                "original_filename": "notes.txt",
                "idempotency_key": "notes#1",
                "instance_list": [tag("cat"), tag("cat"), tag("dog")],
            },
        )
        done = service.wait_import(project.id, ok["id"], timeout=60)
        assert done["status"] == "success", done
        with threaded_server(create_app(service)) as url:
            yield {
                "data": str(data),
                "project": project,
                "rejected": caught.value.import_id,
                "ok": done["id"],
                "url": url,
            }
    finally:
        service.close()


def embedded(setup: dict[str, Any], *args: str, check: bool = True) -> Any:
    return run_cli(*args, "--project", setup["project"].string_id, "--data-dir", setup["data"],
                   check=check)  # fmt: skip


def served(setup: dict[str, Any], *args: str, check: bool = True) -> Any:
    client_id, secret = setup["project"].auth("viewer")
    return run_cli(
        *args, "--project", setup["project"].string_id, "--server", setup["url"],
        "--key", f"{client_id}:{secret}", check=check,
    )  # fmt: skip


@pytest.mark.parametrize("how", [embedded, served], ids=["embedded", "server"])
def test_imports_lists_media_names_keys_and_rejected_ones(setup: dict[str, Any], how: Any) -> None:
    out = how(setup, "imports").stdout
    assert "000123.jpg" in out and "cam/000123.jpg#1" in out and "rejected" in out
    assert "notes.txt" in out and "notes#1" in out and "success" in out
    assert "UTC" in out and "{" not in out and "None" not in out
    only = how(setup, "imports", "--status", "rejected").stdout
    assert "000123.jpg" in only and "notes.txt" not in only
    listed = json.loads(how(setup, "imports", "--status", "rejected", "--json").stdout)
    assert listed["total"] == 1
    (item,) = listed["items"]
    assert (item["id"], item["media_name"], item["idempotency_key"]) == (
        setup["rejected"],
        "000123.jpg",
        "cam/000123.jpg#1",
    )


@pytest.mark.parametrize("how", [embedded, served], ids=["embedded", "server"])
def test_import_status_groups_problems_and_reads_plainly(setup: dict[str, Any], how: Any) -> None:
    shown = how(setup, "import-status", str(setup["rejected"]), check=False)
    assert shown.returncode == 1  # rejected
    out = shown.stdout
    assert "rejected" in out and "nothing was stored" in out
    assert "000123.jpg" in out and "https://example.com/cam/000123.jpg" in out
    assert "cam/000123.jpg#1" in out
    lines = [line.strip() for line in out.splitlines()]
    car = [line for line in lines if line.startswith("label.unknown  x162")]
    bus = [line for line in lines if line.startswith("label.unknown  x3")]
    assert len(car) == 1 and '"car"' in car[0] and "instance_list/0/name" in car[0]
    assert len(bus) == 1 and '"bus"' in bus[0] and "instance_list/162/name" in bus[0]
    assert "165 problems, in 2 groups" in out
    assert "{" not in out and "None" not in out

    good = how(setup, "import-status", str(setup["ok"]))
    out = good.stdout
    assert "success" in out and "notes.txt" in out and "notes#1" in out
    assert "instances per label: cat 2, dog 1" in out
    assert "{" not in out and "'" not in out

    every = how(setup, "import-status", str(setup["rejected"]), "--every-problem", check=False)
    assert every.stdout.count("[label.unknown]") == 100  # what a rejected record keeps


def test_options_are_checked(setup: dict[str, Any]) -> None:
    bad = embedded(setup, "imports", "--status", "done", check=False)
    assert bad.returncode == 2 and "--status must be one of" in bad.stderr
    no_key = run_cli("imports", "--project", "shop", "--server", setup["url"], check=False)
    assert no_key.returncode == 2 and "--key" in no_key.stderr
    wrong = run_cli("imports", "--project", "shop", "--server", setup["url"], "--key", "a:b",
                    check=False)  # fmt: skip
    assert wrong.returncode == 2 and "server:" in wrong.stderr and "Traceback" not in wrong.stderr
    missing = served(setup, "import-status", "999999", check=False)
    assert missing.returncode == 3 and "Traceback" not in missing.stderr


def test_a_data_dir_without_the_project_is_not_found(tmp_path: Path) -> None:
    gone = run_cli("imports", "--project", "nope", "--data-dir", str(tmp_path / "d"), check=False)
    assert gone.returncode == 3
