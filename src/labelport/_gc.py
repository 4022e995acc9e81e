"""Pause the cycle collector around work that makes many short-lived objects and no cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    # Decoding and checking a large packet, or a batch chunk's lines, allocates millions of
    # short-lived objects (lists, key tuples, rows) and no cycles; each automatic collection
    # would rescan every live container, which cost more than the checks themselves on a
    # million instances, and ~10 ms a worker on 1,000 small files.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
