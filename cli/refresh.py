"""`m4d refresh m4dapplication NAME`: have the hub evaluate an application again now.

Catalog and policy changes reach applications by themselves (the hub watches the built-in engines' files
and OPA's revision, and asks other connectors again at an interval); this asks at once. It annotates the
application (`app.m4d.dev/refresh-requested`), which wakes its controller like any change of it would,
so it works the same on the embedded hub and on a Kubernetes hub.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from m4d.api.application import M4DApplication
from m4d.api.registry import UnknownKindError, kind_info
from m4d.cli.context import CliContext, pass_context
from m4d.errors import ConflictError

REFRESH_ANNOTATION = "app.m4d.dev/refresh-requested"
ATTEMPTS = 5


@click.command("refresh")
@click.argument("kind")
@click.argument("name")
@click.option("-n", "--namespace", default="default", show_default=True)
@pass_context
def refresh(ctx: CliContext, kind: str, name: str, namespace: str) -> None:
    """Evaluate an application again now: ask the catalog and the policy manager anew and re-plan.

    KIND is m4dapplication (or a short name of it).
    """
    try:
        info = kind_info(kind)
    except UnknownKindError as exc:
        raise click.BadParameter(str(exc), param_hint="KIND") from None
    if info.model is not M4DApplication:
        raise click.BadParameter(f"only applications are refreshed, not {info.plural}", param_hint="KIND")
    hub = ctx.hub()
    for attempt in range(ATTEMPTS):
        app = hub.get(M4DApplication, name, namespace)
        stamp = datetime.now(UTC).isoformat(timespec="microseconds")
        app.metadata.annotations = {**app.metadata.annotations, REFRESH_ANNOTATION: stamp}
        try:
            hub.update(app)
            break
        except ConflictError:  # changed meanwhile: read it again
            if attempt == ATTEMPTS - 1:
                raise
    click.echo(f"{info.singular}.{info.group}/{name} refresh requested")


COMMANDS = [refresh]
