"""`m4d get -w` and `m4d wait`: following resources as they change, as kubectl does.

Both list once, then watch from the list's resourceVersion (re-listing when the store no longer keeps
that history), so a change between the two is never missed and nothing is polled.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import click

from m4d.api.meta import Resource
from m4d.api.registry import KindInfo, UnknownKindError, kind_info
from m4d.cli import output
from m4d.cli.context import CliContext, pass_context
from m4d.cluster.interface import Cluster
from m4d.errors import GoneError

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str) -> float:
    """`60s`, `2m`, `1h30m`, `1m30s` or plain seconds (`90`, `0.5`), as kubectl's --timeout."""
    found = _DURATION.match(text.strip())
    if not text.strip() or found is None:
        raise click.BadParameter(f"{text!r} is not a duration (e.g. 60s, 2m, 1h30m)", param_hint="--timeout")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True)
class Change:
    type: str  # ADDED, MODIFIED, DELETED
    object: Resource


def follow(
    store: Cluster, info: KindInfo, namespace: str | None, selector: str | None, deadline: float | None
) -> Iterator[tuple[list[Resource], list[Change]]]:
    """First the current objects, then every change, in batches, until `deadline` (monotonic; None:
    forever). A batch with objects and no changes follows a re-list (the watch history was gone)."""
    while True:
        listed = store.list(info.model, namespace, selector)
        yield list(listed.items), []
        left = None if deadline is None else max(deadline - time.monotonic(), 0.01)
        stream = store.watch(info.model, namespace, listed.resource_version, selector, timeout=left)
        try:
            for event in stream:
                if event.type != "BOOKMARK" and event.object is not None:
                    yield [], [Change(event.type, event.object)]
            return
        except GoneError:
            continue  # list again: changes in the gap show as the objects' current state
        finally:
            stream.close()


def watch_table(
    store: Cluster, info: KindInfo, name: str | None, namespace: str | None,
    selector: str | None, fmt: str, deadline: float | None,
) -> None:  # fmt: skip
    """The table (or documents) once, then a row (or document) per change, flushed as it happens."""
    widths: list[int] = []
    wide, all_namespaces = fmt == "wide", namespace is None and info.namespaced

    def emit(items: list[Resource], header: bool) -> None:
        nonlocal widths
        items = [i for i in items if name is None or i.name == name]
        if fmt in ("yaml", "json"):
            for item in items:
                click.echo(output.dump([item], fmt, single=True) + ("---" if fmt == "yaml" else ""))
            return
        lines = output.rows(info, items, wide, all_namespaces)
        if not widths:
            widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
        for row in lines if header else lines[1:]:
            click.echo(output.aligned(row, widths))

    first = True
    for listed, changes in follow(store, info, namespace, selector, deadline):
        if changes:
            emit([c.object for c in changes], header=False)
        else:
            emit(listed, header=first)
            first = False


@dataclass(frozen=True)
class Wanted:
    """What `--for` asks: a condition (type, status) or, with `condition` None, the resource's deletion."""

    condition: str | None
    status: str = "True"

    @classmethod
    def parse(cls, text: str) -> Wanted:
        if text == "delete":
            return cls(None)
        kind, _, rest = text.partition("=")
        condition, _, status = rest.partition("=")
        if kind != "condition" or not condition:
            raise click.BadParameter(f"{text!r}: use condition=TYPE[=STATUS] or delete", param_hint="--for")
        return cls(condition, status or "True")

    def describe(self) -> str:
        return "deletion" if self.condition is None else f"condition {self.condition}={self.status}"

    def met(self, obj: Resource | None) -> tuple[bool, str]:
        """(met, what the resource says now; None: it is absent)."""
        if self.condition is None:
            return obj is None, "still there"
        if obj is None:
            return False, "not found"
        for c in (obj.wire().get("status") or {}).get("conditions") or []:
            if str(c.get("type", "")).lower() == self.condition.lower():
                seen = f"{c.get('type')}={c.get('status')}"
                if c.get("reason") or c.get("message"):
                    seen += f" ({c.get('reason', '')}: {c.get('message', '')})"
                return str(c.get("status", "")).lower() == self.status.lower(), seen
        return False, f"no {self.condition} condition yet"


def _target(text: str) -> tuple[KindInfo, str]:
    kind, sep, name = text.partition("/")
    if not sep or not name:
        raise click.BadParameter(f"{text!r}: name resources as KIND/NAME, e.g. m4dapplication/my-app")
    try:
        return kind_info(kind), name
    except UnknownKindError as exc:
        raise click.BadParameter(str(exc)) from None


def wait_for(
    store: Cluster, info: KindInfo, name: str, namespace: str | None, wanted: Wanted, deadline: float
) -> tuple[bool, str]:
    """(met before the deadline, what the resource said last)."""
    seen = "not found"
    for listed, changes in follow(store, info, namespace, None, deadline):
        states = (
            [None if c.type == "DELETED" else c.object for c in changes if c.object.name == name]
            if changes
            else [next((i for i in listed if i.name == name), None)]
        )
        for obj in states:
            met, seen = wanted.met(obj)
            if met:
                return True, seen
    return False, seen


@click.command("wait")
@click.argument("resources", nargs=-1, required=True, metavar="KIND/NAME...")
@click.option("--for", "wanted", required=True, metavar="condition=TYPE[=STATUS]|delete",
              help="A status condition to reach (STATUS defaults to True), or the resource's deletion.")  # fmt: skip
@click.option("--timeout", default="30s", show_default=True, help="How long to wait in all (e.g. 60s, 5m).")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--cluster", metavar="NAME", help="Wait on a member's store (embedded hub) instead of the hub's.")
@pass_context
def wait(
    ctx: CliContext, resources: tuple[str, ...], wanted: str, timeout: str, namespace: str, cluster: str | None
) -> None:
    """Wait until each resource meets a condition, e.g.
    `m4d wait --for=condition=Ready m4dapplication/my-app --timeout 60s`. Exits 1 on timeout, saying
    what the resource reports instead."""
    deadline = time.monotonic() + parse_duration(timeout)
    targets = [_target(r) for r in resources]
    want = Wanted.parse(wanted)
    store = ctx.store(cluster)
    for info, name in targets:
        met, seen = wait_for(store, info, name, namespace if info.namespaced else None, want, deadline)
        if not met:
            raise click.ClickException(f"timed out waiting for {want.describe()} on {info.plural}/{name}: {seen}")
        click.echo(f"{info.singular}.{info.group}/{name} {'deleted' if want.condition is None else 'condition met'}")


COMMANDS = [wait]
