"""Long-running commands stop cleanly on Ctrl-C or SIGTERM, and log as the command line reports: an
internal error (a bug) is one line that says so, its traceback only with `-v`."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any

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


def verbose_requested(argv: list[str]) -> bool:
    """`-v` anywhere among the options (the global one, or a command's own)."""
    words = argv[: argv.index("--")] if "--" in argv else argv
    return any(w in ("-v", "--verbose") for w in words)


class LogFormatter(logging.Formatter):
    """Log lines whose exceptions (always bugs: bad input is reported, never raised this far) show their
    traceback only when asked for."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.tracebacks = tracebacks

    def formatException(self, ei: Any) -> str:
        if self.tracebacks:
            return super().formatException(ei)
        kind = ei[0].__name__ if ei and ei[0] is not None else "Exception"
        return f"  internal error (a bug): {kind}: {ei[1]}; run again with -v to see where"


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter(tracebacks=level <= logging.DEBUG or verbose_requested(sys.argv[1:])))
    logging.basicConfig(level=level, handlers=[handler])
