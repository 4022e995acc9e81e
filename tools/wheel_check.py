"""The package as users install it: build the sdist and the wheel with `python -m build`, check
what the wheel carries, install it into a clean virtual environment, and run the installed
command (`labelport --version`, `labelport check` on a seed example).

    .venv/bin/python tools/wheel_check.py            # CI runs it (.ci/run); exit 1 on a fault

The wheel is built from the sdist (python -m build's default), so a file missing from either
shows up. Nothing is written into the work tree: the sources are copied to a temporary folder.
Installing needs the package index for labelport's dependencies (pip's cache makes it quick).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "examples" / "seeds"

# What the wheel must carry besides the Python modules (the pages, the schema, the type marker).
REQUIRED = {
    "labelport/py.typed": "the PEP 561 marker (the SDK is typed)",
    "labelport/store/migrations/alembic.ini": "Alembic's config",
    "labelport/store/migrations/script.py.mako": "Alembic's template",
    "labelport/store/migrations/env.py": "Alembic's environment",
}
REQUIRED_DIRS = {
    "labelport/store/migrations/versions/": sorted(
        p.name for p in (ROOT / "src/labelport/store/migrations/versions").glob("*.py")
    ),
    "labelport/web/templates/": sorted(
        p.name for p in (ROOT / "src/labelport/web/templates").iterdir() if p.is_file()
    ),
    "labelport/web/static/": sorted(
        p.name for p in (ROOT / "src/labelport/web/static").iterdir() if p.is_file()
    ),
}
# What setuptools said while project.license was a table (three times per install).
FORBIDDEN_OUTPUT = ("License classifiers are deprecated", "project.license` as a TOML table")


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


def check_wheel(wheel: Path) -> list[str]:
    faults = []
    names = set(zipfile.ZipFile(wheel).namelist())
    for name, what in REQUIRED.items():
        if name not in names:
            faults.append(f"{wheel.name} lacks {name} ({what})")
    for folder, files in REQUIRED_DIRS.items():
        for file in files:
            if folder + file not in names:
                faults.append(f"{wheel.name} lacks {folder}{file}")
    metadata = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
    if metadata is None:
        faults.append(f"{wheel.name} has no METADATA")
    else:
        text = zipfile.ZipFile(wheel).read(metadata).decode()
        if "License-Expression: Apache-2.0" not in text:
            faults.append("METADATA lacks License-Expression: Apache-2.0 (project.license)")
    return faults


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="labelport-wheel-") as tmp:
        work = Path(tmp)
        src = work / "src-copy"
        ignore = shutil.ignore_patterns(
            ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
            "labelport-data", "node_modules",
        )  # fmt: skip
        shutil.copytree(ROOT, src, ignore=ignore)
        out = work / "dist"
        built = run([sys.executable, "-m", "build", "--outdir", str(out), str(src)])
        faults = [
            f"the build printed {text!r}"
            for text in FORBIDDEN_OUTPUT
            if text in built.stdout + built.stderr
        ]
        wheels = sorted(out.glob("labelport-*.whl"))
        if len(wheels) != 1 or not list(out.glob("labelport-*.tar.gz")):
            print(f"expected one wheel and one sdist in {out}: {os.listdir(out)}")
            return 1
        faults += check_wheel(wheels[0])
        venv = work / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        py = venv / "bin" / "python"
        installed = run([str(py), "-m", "pip", "install", "-q", str(wheels[0])])
        faults += [
            f"pip install printed {text!r}"
            for text in FORBIDDEN_OUTPUT
            if text in installed.stdout + installed.stderr
        ]
        labelport = str(venv / "bin" / "labelport")
        # Away from the work tree, so that nothing is imported from src/ by accident.
        version = run([labelport, "--version"], cwd=work).stdout.strip()
        if not version.startswith("labelport "):
            faults.append(f"labelport --version printed {version!r}")
        checked = subprocess.run(
            [labelport, "check", str(SEEDS / "walkthrough_video.json"),
             "--labels", str(SEEDS / "labels.json"), "--json"],
            cwd=work, text=True, capture_output=True,
        )  # fmt: skip
        try:
            problems = json.loads(checked.stdout)["problems"]
        except (ValueError, KeyError):
            problems = None
        if checked.returncode != 0 or problems != []:
            faults.append(f"labelport check exited {checked.returncode}: {checked.stdout[-500:]}")
        where = run([str(py), "-c", "import labelport, sys; print(labelport.__file__)"], cwd=work)
        if str(venv) not in where.stdout:
            faults.append(f"labelport was imported from {where.stdout.strip()}, not the venv")
        served = run(
            [str(py), "-c", "from labelport.api import create_app; create_app(None); print('ok')"],
            cwd=work,
        )
        if served.stdout.strip() != "ok":
            faults.append("the installed package cannot build its app (templates, static)")
    for fault in faults:
        print("FAULT:", fault)
    print(f"wheel check: {wheels[0].name}, {version}: {'ok' if not faults else 'FAILED'}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
