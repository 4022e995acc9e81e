"""`labelport check` and `labelport import` summaries show problems grouped: one line per code
and message with its count and a few places, not 162 near-identical rows."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from labelport.cli import app


def test_check_groups_problems_by_code_and_message(tmp_path: Path) -> None:
    packet = tmp_path / "p.json"
    tag = {"type": "tag", "name": "car"}
    packet.write_text(json.dumps({
        "media": {"type": "image"},
        "instance_list": [tag] * 162 + [{"type": "tag", "name": "bus"}] * 3,
    }))  # fmt: skip
    labels = tmp_path / "labels.json"
    labels.write_text('["cat"]')
    result = CliRunner().invoke(app, ["check", str(packet), "--labels", str(labels)],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 1, result.output
    out = result.output
    assert "165 problems in 2 groups" in out
    rows = [line for line in out.splitlines() if "label.unknown" in line]
    assert len(rows) == 2, out
    assert "162" in rows[0] and '"car"' in rows[0] and "instance_list/0/name" in rows[0]
    assert "3" in rows[1] and '"bus"' in rows[1] and "instance_list/162/name" in rows[1]
    assert "instance_list/100/name" not in out  # not one row per problem
    # --json still lists every one
    listed = CliRunner().invoke(app, ["check", str(packet), "--labels", str(labels), "--json"])
    assert len(json.loads(listed.output)["problems"]) == 165
