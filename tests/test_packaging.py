"""The wheel as users install it carries the pages, the migrations and py.typed.

tools/wheel_check.py (run by .ci/run) also installs the wheel into a clean venv and runs the
installed `labelport`; here the build and the content check run, and the check is shown to fail
on a wheel that lacks what it must carry.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _wheel_check():  # tools/ is not a package: load the script by its path
    spec = importlib.util.spec_from_file_location("wheel_check", ROOT / "tools" / "wheel_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_built_wheel_carries_templates_static_migrations_and_py_typed(tmp_path: Path) -> None:
    src = tmp_path / "src-copy"
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".*cache", "labelport-data"
    )
    shutil.copytree(ROOT, src, ignore=ignore)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    assert "License classifiers are deprecated" not in built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("labelport-*.whl")
    assert _wheel_check().check_wheel(wheel) == []


def test_the_check_fails_on_a_wheel_without_them(tmp_path: Path) -> None:
    wheel = tmp_path / "labelport-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("labelport/__init__.py", "")
        z.writestr("labelport/web/templates/base.html", "")
        z.writestr("labelport-0.1.0.dist-info/METADATA", "Name: labelport\n")
    faults = _wheel_check().check_wheel(wheel)
    assert any("py.typed" in f for f in faults)
    assert any("migrations/versions/0001" in f for f in faults)
    assert any("static/viewer.js" in f for f in faults)
    assert any("License-Expression" in f for f in faults)
    assert not any("templates/base.html" in f for f in faults)
