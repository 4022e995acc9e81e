"""The README's first command: the walkthrough demo runs end to end, and again unduplicated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_demo(data_dir: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "labelport.demo", "--once", "--port", "0", "--data-dir", data_dir],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_demo_imports_the_walkthrough_and_is_idempotent(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert "image: import 1 success" in first
    assert "video: import 2 success" in first
    lines = [" ".join(line.split()) for line in first.splitlines()]
    assert "cat 3" in lines  # the image's three mock boxes
    for label in ("cat", "another"):
        for number in (1, 2):
            assert f"{label} {number} 20 0-19" in lines  # 20 instances on keyframes 0..19
    again = run_demo(tmp_path)
    # Same idempotency keys: the first imports are returned, nothing new is stored.
    assert "image: import 1 success" in again and "video: import 2 success" in again
