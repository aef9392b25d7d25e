"""The agent's heartbeat on its MemberCluster: proof of life the hub uses to tell Offline from slow."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from m4d import __version__
from m4d.api.cluster import MemberCluster, MemberClusterStatus
from m4d.api.meta import utcnow
from m4d.cluster.interface import Cluster
from m4d.errors import ConflictError, M4DError, NotFoundError, StoreCorruptError

log = logging.getLogger("m4d.agent")

HEARTBEAT_INTERVAL = 5.0


def beat(hub: Cluster, cluster: str) -> bool:
    """Stamp the cluster's status with now; False if the hub does not know the cluster."""
    for _ in range(5):
        try:
            mc = hub.get(MemberCluster, cluster)
        except NotFoundError:
            return False
        status = mc.status or MemberClusterStatus()
        mc.status = status.model_copy(update={"last_heartbeat": utcnow(), "agent_version": __version__})
        try:
            hub.update_status(mc)
            return True
        except ConflictError:
            continue  # another writer (the sync, the registry) got there first: read again
    return True


def run_heartbeat(
    hub: Cluster,
    cluster: str,
    stop: threading.Event,
    interval: float = HEARTBEAT_INTERVAL,
    on_fatal: Callable[[StoreCorruptError], None] | None = None,
) -> None:
    """Beat until `stop`; a damaged hub store ends the beating and goes to `on_fatal` (the agent stops)."""
    warned = False
    while not stop.is_set():
        try:
            known = beat(hub, cluster)
            if not known and not warned:
                log.warning("cluster %s is not registered on the hub; onboard it first", cluster)
            warned = not known
        except StoreCorruptError as exc:
            if on_fatal is not None:
                on_fatal(exc)
            stop.set()
            return
        except M4DError as exc:
            log.warning("heartbeat for cluster %s failed: %s", cluster, exc)
        stop.wait(interval)
