"""Copy progress: figures in a status file the agent reads, and a progress bar when on a terminal."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

Phase = Literal["Pending", "Running", "Completed", "Failed"]


@dataclass
class CopyStatus:
    phase: Phase = "Pending"
    rows_copied: int = 0
    rows_total: int | None = None
    parts_done: int = 0
    parts_total: int = 0
    bytes_written: int = 0
    resumed_parts: int = 0
    message: str = ""
    catalog_entry: dict[str, Any] | None = None
    updated: float = field(default_factory=time.time)

    def wire(self) -> dict[str, Any]:
        def camel(name: str) -> str:
            head, *rest = name.split("_")
            return head + "".join(p.title() for p in rest)

        return {camel(k): v for k, v in asdict(self).items() if v is not None}

    def summary(self) -> str:
        total = f" of {self.rows_total:,}" if self.rows_total is not None else ""
        return f"copied {self.rows_copied:,}{total} rows ({self.parts_done}/{self.parts_total} parts)"


class Reporter:
    """Writes the status file (atomically, at most every `interval` seconds) and drives the bar."""

    def __init__(self, status_file: Path | None, show_bar: bool, console: Console | None = None, interval: float = 1.0):
        self.status = CopyStatus()
        self.status_file = status_file
        self.interval = interval
        self._last = 0.0
        self._progress: Progress | None = None
        self._task: Any = None
        if show_bar:
            self._progress = Progress(
                TextColumn("[bold]copy"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TimeRemainingColumn(),
                console=console or Console(stderr=True),
                transient=False,
            )

    def __enter__(self) -> Reporter:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("copy", total=self.status.rows_total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        self.flush()

    def update(self, force: bool = False, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(self.status, name, value)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.status.rows_copied, total=self.status.rows_total)
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self.flush()
            self._last = now

    def flush(self) -> None:
        if self.status_file is None:
            return
        self.status.updated = time.time()
        partial = self.status_file.with_name(self.status_file.name + ".partial")
        partial.write_text(json.dumps(self.status.wire(), indent=2, sort_keys=True))
        partial.replace(self.status_file)
