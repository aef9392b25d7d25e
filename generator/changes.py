"""Changes the Plotter controller and the command line write: the whole tree, or one Plotter's part.

Pure functions from hub state to a `Change` for the writer. A full change makes the generated folders
exactly the rendered tree (removing leftovers and hand-made files, restoring hand edits); a Plotter's
change touches only that Plotter's Blueprints and the cluster registrations, so its cost follows the
size of that application, not of the repository.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from m4d.api.cluster import MemberCluster
from m4d.api.plotter import Plotter
from m4d.generator.change import Change
from m4d.generator.config import RenderConfig
from m4d.generator.message import PlotterRef
from m4d.generator.tree import Rendered, by_name, plotter_paths, render_clusters, render_plotter, render_tree


def plotter_ref(plotter: Plotter) -> PlotterRef:
    app = plotter.spec.application
    return PlotterRef(plotter.key, plotter.metadata.generation, f"{app.namespace}/{app.name}", app.uid)


def full_change(
    plotters: Sequence[Plotter], clusters: Sequence[MemberCluster], config: RenderConfig, reason: str | None = None
) -> tuple[Change, dict[str, Exception]]:
    """The complete desired state, and the Plotters left out (their files are preserved, not removed)."""
    result = render_tree(plotters, clusters, config)
    names = [c.name for c in clusters]
    preserve: set[str] = set()
    for p in plotters:
        if p.key in result.errors:
            preserve |= plotter_paths(p, names)
    rendered_keys = {o.plotter for o in result.rendered.origins.values() if o.plotter}
    change = Change(
        files=dict(result.rendered.files),
        origins=dict(result.rendered.origins),
        full=True,
        preserve=frozenset(preserve),
        plotters=[plotter_ref(p) for p in plotters if p.key in rendered_keys],
        subject="sync",
        reason=reason,
    )
    return change, dict(result.errors)


def plotter_change(
    plotter: Plotter, clusters: Sequence[MemberCluster], config: RenderConfig, cluster_files: Rendered | None = None
) -> Change:
    """One Plotter's Blueprints (and absence on the clusters it left), plus the cluster registrations.

    Raises InvalidError when the Plotter cannot be rendered.
    """
    members = by_name(clusters)
    part = render_plotter(plotter, members, config.keys)
    files: dict[str, bytes | None] = dict.fromkeys(plotter_paths(plotter, members), None)
    files.update(part.files)
    registrations = cluster_files if cluster_files is not None else render_clusters(list(members.values()), config)
    files.update(registrations.files)
    return Change(
        files=files,
        origins={**registrations.origins, **part.origins},
        plotters=[plotter_ref(plotter)],
        subject=plotter.key,
    )


def removal_change(plotter: Plotter, cluster_names: Iterable[str], reason: str) -> Change:
    """Removes a Plotter's Blueprints from every cluster (it was deleted)."""
    return Change(
        files=dict.fromkeys(plotter_paths(plotter, cluster_names), None),
        plotters=[plotter_ref(plotter)],
        subject=plotter.key,
        reason=reason,
    )
