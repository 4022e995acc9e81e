"""A session for project A never reaches project B's pages or data, on any page route: every
route is classified here, so a route added later without an isolation story fails this test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from labelport.api import route_table
from labelport.service import Service
from media_factory import make_png
from server_helpers import make_project
from web_helpers import import_upload

UNSCOPED = {"/", "/signin", "/signout"}
SECRET = "b-secret-label-plugh"


def test_a_session_of_a_never_reaches_b(app: Any, service: Service, media_dir: Path) -> None:
    a = make_project(service, "Isolation A")
    b = make_project(service, "Isolation B")
    service.create_labels(b.id, [SECRET])
    image = make_png(media_dir / "b.png", 32, 32)
    done = import_upload(
        service, b.id, image,
        {"instance_list": [{"type": "box", "name": SECRET, "x_min": 1, "y_min": 1,
                            "x_max": 9, "y_max": 9, "model_ref": "m", "model_run_ref": "r",
                            "score": 0.5}]},
    )  # fmt: skip
    ids = {"file_id": done["file_id"], "import_id": done["id"], "frame": 0}
    # B's model run and an evaluation of it (the model-run pages, web/evaluation.py)
    ids["run_id"] = service.store.list_model_runs(b.id)[0].id
    ids["evaluation_id"] = service.evaluate(b.id, ids["run_id"])["id"]
    ids["label_id"] = service.list_labels(b.id)[0]["id"]  # the viewer's colour route

    web = app.state.web
    (mounted,) = [r for r in app.routes if getattr(r, "path", None) == "/ui"]
    routes = [(m, p) for m, p, _ in route_table(mounted.app)]
    assert len(routes) >= 10
    checked = 0
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        key_id, secret = a.auth("admin")
        page = client.get("/ui/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        client.post("/ui/signin", data={"csrf": csrf, "client_id": key_id, "client_secret": secret})
        for method, path in routes:
            if "{project_string_id}" not in path:
                assert path in UNSCOPED, f"{method} {path}: classify it"
                continue
            for project in (b.string_id, a.string_id):  # B's path; A's path with B's ids
                if project == a.string_id and not re.search(
                    r"\{(file_id|import_id|label_id)", path
                ):
                    continue
                url = re.sub(
                    r"\{(\w+)(?::\w+)?\}",
                    lambda m, p=project: str(
                        p if m.group(1) == "project_string_id" else ids[m.group(1)]
                    ),
                    path,
                )
                response = client.request(method, url)
                assert response.status_code == 404, f"{method} {url}: {response.status_code}"
                assert SECRET not in response.text
                checked += 1
    assert checked >= 8
    assert web.service is service
