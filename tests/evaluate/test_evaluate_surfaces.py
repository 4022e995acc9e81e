"""The evaluation through the native API (roles, the caller's project only, errors), the SDK and
the `labelport evaluate` command, embedded and with --server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from coco_data import generate
from eval_helpers import build
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from labelport.api import create_app
from labelport.cli import app as cli_app
from labelport.sdk import Project
from labelport.service import Service
from server_helpers import make_project, threaded_server

IMAGES, LABELS = 8, 3


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Service, object, object]]:
    media = tmp_path / "media"
    media.mkdir()
    svc = Service.open(data_dir=tmp_path / "data", media_roots=[media], workers=2)
    try:
        gts, dts = generate(11, IMAGES, LABELS)
        gts = [g for g in gts if not g["crowd"]]
        built = build(svc, media, IMAGES, gts, {"r1": dts, "r2": dts[::2]}, LABELS)
        string_id = svc.store.get_project(built.project_id).string_id
        keys = {}
        for role in ("admin", "editor", "viewer"):
            key = svc.create_api_key(built.project_id, role=role)
            keys[role] = (key["client_id"], key["client_secret"])
        yield svc, built, (string_id, keys)
    finally:
        svc.close()


def test_the_api_computes_lists_and_pages_evaluations(setup) -> None:
    svc, built, (sid, keys) = setup
    other = make_project(svc, "Other")
    base = f"/api/v1/projects/{sid}/evaluations"
    with TestClient(create_app(svc), raise_server_exceptions=False) as client:
        client.auth = keys["viewer"]
        assert client.post(base, json={"run": "r1"}).status_code == 403  # viewers only read
        client.auth = keys["editor"]
        r = client.post(base, json={"run": "det/r1", "iou": 0.5})
        assert r.status_code == 201, r.text
        ev = r.json()
        assert ev["stale"] is False and ev["overall"]["ap"] is not None
        assert {row["label_name"] for row in ev["labels"]} <= {f"l{k}" for k in range(LABELS + 1)}
        client.auth = keys["viewer"]
        assert client.get(f"{base}/{ev['id']}").json()["overall"] == ev["overall"]
        listed = client.get(base, params={"run": "r1"}).json()
        assert [e["id"] for e in listed] == [ev["id"]]
        queue = client.get(f"{base}/{ev['id']}/files", params={"per_page": 3}).json()
        assert queue["total"] == ev["file_count"] and len(queue["items"]) == 3
        errors = [f["errors"] for f in queue["items"]]
        assert errors == sorted(errors, reverse=True)
        first = queue["items"][0]["file_id"]
        detail = client.get(f"{base}/{ev['id']}/files/{first}").json()
        assert sum(p["outcome"] == "fp" for p in detail["predictions"]) == queue["items"][0]["fp"]
        assert sum(p["outcome"] == "fn" for p in detail["references"]) == queue["items"][0]["fn"]
        assert all(0.1 <= iou <= 1 for _, _, iou in detail["pairs"])
        # errors: a path, a stable code, a plain message
        client.auth = keys["editor"]
        bad = client.post(base, json={"run": "nope"})
        assert bad.status_code == 404 and bad.json()["error"]["code"] == "not_found"
        same = client.post(base, json={"run": "r1", "reference": "r1"})
        assert same.status_code == 400 and same.json()["error"]["code"] == "evaluate.same_run"
        bad_iou = client.post(base, json={"run": "r1", "iou": 2})
        assert bad_iou.status_code == 400 and "iou" in bad_iou.text
        # another project's key sees none of it
        client.auth = other.auth("admin")
        assert client.get(f"{base}/{ev['id']}").status_code == 404
        own = f"/api/v1/projects/{other.string_id}/evaluations"
        assert client.get(f"{own}/{ev['id']}").status_code == 404
        assert client.post(own, json={"run": str(built.run_ids["r1"])}).status_code == 404


def test_sdk_and_cli_embedded_and_through_a_server(setup, tmp_path: Path) -> None:
    svc, built, (sid, keys) = setup
    runner = CliRunner()
    data_dir = str(tmp_path / "data")
    out = runner.invoke(cli_app, ["evaluate", "--project", sid, "--run", "r2", "--reference",
                                  "r1", "--json", "--data-dir", data_dir])  # fmt: skip
    assert out.exit_code == 0, out.output
    embedded = json.loads(out.output)
    assert embedded["reference"] == "run" and embedded["reference_run_id"] == built.run_ids["r1"]
    text = runner.invoke(cli_app, ["evaluate", "-p", sid, "--run", "r1", "--data-dir", data_dir])
    assert text.exit_code == 0, text.output
    assert "AP50" in text.output and "review queue" in text.output
    bad = runner.invoke(cli_app, ["evaluate", "-p", sid, "--run", "zzz", "--data-dir", data_dir])
    assert bad.exit_code != 0 and "not found" in bad.output and "Traceback" not in bad.output
    with threaded_server(create_app(svc)) as url:
        with Project(sid, *keys["editor"], host=url) as project:
            ev = project.evaluate(run="r2", reference="r1")
            assert ev["overall"] == embedded["overall"]
            assert ev["id"] in [e["id"] for e in project.evaluations(run="r2")]
            queue = project.evaluation_files(ev["id"], per_page=2)
            assert len(queue) == 2
            assert project.get_evaluation(ev["id"])["overall"] == ev["overall"]
            detail = project.evaluation_file(ev["id"], queue[0]["file_id"])
            fp = sum(p["outcome"] == "fp" for p in detail["predictions"])
            assert fp == queue[0]["fp"]
        key = ":".join(keys["editor"])
        args = ["evaluate", "-p", sid, "--run", "r2", "--reference", "r1", "--json"]
        remote = runner.invoke(cli_app, [*args, "--server", url, "--key", key])
        assert remote.exit_code == 0, remote.output
        assert json.loads(remote.output)["overall"] == embedded["overall"]
        shown = runner.invoke(cli_app, [*args[:-1], "--server", url, "--key", key])
        assert shown.exit_code == 0, shown.output
        assert f"{url}/ui/p/{sid}/runs/{built.run_ids['r2']}?evaluation=" in shown.output


def test_the_run_page_lets_only_editors_compute(setup) -> None:
    import re

    svc, built, (sid, keys) = setup
    run = built.run_ids["r1"]
    evaluated = svc.evaluate(built.project_id, run)
    with TestClient(create_app(svc), raise_server_exceptions=False) as client:
        page = client.get("/ui/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        key_id, secret = keys["viewer"]
        client.post("/ui/signin", data={"csrf": csrf, "client_id": key_id, "client_secret": secret})
        shown = client.get(f"/ui/p/{sid}/runs/{run}")
        assert shown.status_code == 200 and 'id="metrics"' in shown.text
        assert 'id="evaluate-form"' not in shown.text
        session_csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text).group(1)
        refused = client.post(f"/ui/p/{sid}/runs/{run}/evaluate", data={"csrf": session_csrf})
        assert refused.status_code == 403 and "editor" in refused.text
        # no new evaluation was stored
        from labelport.evaluate.run import list_public

        assert [e["id"] for e in list_public(svc.store, built.project_id, run)] == [evaluated["id"]]
