"""A `Change`: what the generated folders of the GitOps repository must look like after one write.

Built by the pure side (full syncs, Plotter batches, onboarding); `m4d.gitops.writer` turns it into one
commit or none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from m4d.api.application import M4DApplication
from m4d.generator.message import PlotterRef
from m4d.generator.tree import Origin


@dataclass(frozen=True)
class Change:
    """What the generated folders must look like after the write.

    `files`: path → content, or None for "must not exist". With `full`, every other file under the
    generated folders is removed too, except `preserve` (files of Plotters that could not be rendered
    this time, left as they are). `removed_folders`: every file under these goes (an offboarded member's
    folder, whatever it holds). `subject` groups review branches (a Plotter key, or "clusters").
    """

    files: Mapping[str, bytes | None]
    origins: Mapping[str, Origin] = field(default_factory=dict)
    full: bool = False
    preserve: frozenset[str] = frozenset()
    plotters: Sequence[PlotterRef] = ()
    subject: str = "sync"
    reason: str | None = None
    # The applications the change serves, by namespace/name: what a review description explains.
    applications: Mapping[str, M4DApplication] = field(default_factory=dict)
    removed_folders: tuple[str, ...] = ()
