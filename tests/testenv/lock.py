"""A per-component file lock, so two concurrent `make testenv` runs build each component once."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path, on_wait: str) -> Iterator[None]:
    """Hold an flock on `path`; print `on_wait` once if another process holds it. The OS drops the lock if
    the holder dies, so a killed build never leaves a stale lock behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(on_wait, flush=True)
            started = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            print(f"[testenv] lock {path.name} acquired after {time.monotonic() - started:.0f}s", flush=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
