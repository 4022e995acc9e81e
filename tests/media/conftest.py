"""Make the shared test helpers in ``tests/`` (``media_factory``) importable from here."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
