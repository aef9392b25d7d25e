"""State shared by every command: which cluster to talk to, and a console to print to."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
from rich.console import Console

from m4d.cluster.connect import Target
from m4d.cluster.interface import Cluster


@dataclass
class CliContext:
    target: Target
    console: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))
    _hub: Cluster | None = None

    def hub(self) -> Cluster:
        if self._hub is None:
            self._hub = self.target.open_hub()
        return self._hub

    def close(self) -> None:
        if self._hub is not None:
            self._hub.close()
            self._hub = None


pass_context = click.make_pass_decorator(CliContext)
