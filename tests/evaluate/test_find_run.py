"""`find_run`: a run reference that two models share is refused with its code, not a TypeError
(mypy found `Invalid(code, message)` called positionally)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelport.errors import Invalid
from labelport.evaluate.run import find_run
from labelport.service import Service


def test_a_run_name_two_models_share_must_be_named_model_slash_run(tmp_path: Path) -> None:
    service = Service.open(data_dir=tmp_path / "data", workers=1)
    try:
        project = service.create_project("Runs")
        service.create_labels(project["id"], ["cat"])
        for model in ("detector", "segmenter"):
            packet = {
                "text_data": "a cat",
                "instance_list": [
                    {"type": "tag", "name": "cat", "model_ref": model, "model_run_ref": "r1"}
                ],
            }
            queued = service.submit_packet(project["id"], packet)
            done = service.wait_import(project["id"], queued["id"], timeout=60)
            assert done["status"] == "success", done
        with pytest.raises(Invalid) as refused:
            find_run(service.store, project["id"], "r1")
        assert refused.value.code == "evaluate.ambiguous_run"
        assert "model/run" in refused.value.message
        assert find_run(service.store, project["id"], "segmenter/r1") != find_run(
            service.store, project["id"], "detector/r1"
        )
    finally:
        service.close()
