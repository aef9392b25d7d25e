"""State shared by every command: which cluster to talk to, and a console to print to."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import click
from rich.console import Console

from m4d.cluster.connect import Target
from m4d.cluster.interface import Cluster

# Wide enough for any table row; rules and other full-width decorations are drawn narrower on purpose.
UNWRAPPED_WIDTH = 10_000


def console(stderr: bool = False) -> Console:
    """A terminal gets its own width. A file or a pipe (`m4d demo > log`, `m4d explain | less`) has none:
    nothing is wrapped or cut there, tables keep every column and long lines stay whole."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=UNWRAPPED_WIDTH, soft_wrap=True)


@dataclass
class CliContext:
    target: Target
    console: Console = field(default_factory=console)
    err: Console = field(default_factory=lambda: console(stderr=True))
    _hub: Cluster | None = None
    _members: dict[str, Cluster] = field(default_factory=dict)

    def hub(self) -> Cluster:
        if self._hub is None:
            self._hub = self.target.open_hub()
        return self._hub

    def store(self, cluster: str | None = None) -> Cluster:
        """The hub's store, or with `cluster` a member's (`--cluster NAME`: where its Blueprints live)."""
        if cluster is None:
            return self.hub()
        if cluster not in self._members:
            if self.target.kube_context:
                raise click.UsageError(
                    "--cluster reads a member of the embedded hub; a Kubernetes member is its own cluster: "
                    "point --kube-context at it"
                )
            if not self.target.layout.member_db(cluster).exists():
                known = sorted(p.stem for p in self.target.layout.member_db(cluster).parent.glob("*.db"))
                raise click.UsageError(
                    f"no member cluster {cluster} in {self.target.hub_dir} "
                    f"(members here: {', '.join(known) or 'none'}; see m4d cluster list)"
                )
            self._members[cluster] = self.target.open_member(cluster)
        return self._members[cluster]

    def close(self) -> None:
        for member in self._members.values():
            member.close()
        self._members.clear()
        if self._hub is not None:
            self._hub.close()
            self._hub = None


pass_context = click.make_pass_decorator(CliContext)
