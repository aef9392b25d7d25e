"""Long-running commands stop cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from rich.console import Console


def stop_event(err: Console) -> threading.Event:
    """An event set by SIGINT or SIGTERM (the command finishes what it is doing, then exits)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        err.print(f"{signal.Signals(signum).name}: stopping")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    return stop


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
