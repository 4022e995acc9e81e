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


@contextmanager
def kept_for_good() -> Iterator[None]:
    """Around imports of modules that live as long as the process (a command's, the Service's):
    made with the collector off, then frozen. They make ~90,000 objects; collected while they
    are made, they were walked again and again (~30 ms of a start), and frozen, no later
    collection walks them, nor makes a forked worker copy their pages by doing so."""
    with paused():
        try:
            yield
        finally:
            gc.freeze()  # before the collector is back on
