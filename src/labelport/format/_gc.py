"""Pause the cycle collector while a packet is decoded or checked."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    # Decoding and checking a large packet allocates millions of short-lived objects (lists,
    # key tuples) and no cycles; each automatic collection would rescan every live container,
    # which cost more than the checks themselves on a million instances.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
