"""Pause Python's cyclic garbage collector while building large acyclic structures.

Building a million-value index or parsing a 20,000-column schema creates containers by the
hundred thousand; each batch of them triggers a collection, and full collections walk the
whole heap. None of these structures form reference cycles, so pausing the collector while
they are built loses nothing and makes the build two to three times faster.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Run the ``with`` block with the cyclic collector paused (restored afterwards)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
