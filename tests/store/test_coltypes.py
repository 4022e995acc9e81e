"""Column types that behave the same on both databases (store/coltypes.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from labelport.store.coltypes import JSONText


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": {"d": [1, 2.5, None], "c": "é"}},  # what msgspec writes
        {1: "an int key", 2: "another"},  # what it cannot: the stdlib writes them
        ["a lone \udc80 surrogate"],
        2**70,
    ],
)
def test_json_text_reads_back_what_it_wrote(value: Any) -> None:
    """JSON columns are written compact with sorted keys, and read back equal (int keys as
    strings, as JSON has them); text written by the stdlib before, NaN included, still reads."""
    column = JSONText()
    written = column.process_bind_param(value, sqlite_dialect())
    assert written is not None
    assert column.process_result_value(written, sqlite_dialect()) == json.loads(json.dumps(value))
    if isinstance(value, dict):
        assert written == json.dumps(
            value, separators=(",", ":"), sort_keys=True, ensure_ascii=False
        )
    assert column.process_result_value('{"x": NaN, "y": "\\u00e9"}', sqlite_dialect())["y"] == "é"
