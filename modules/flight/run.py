"""Run the Flight module from a configuration file until it is told to stop.

Once listening it writes its endpoint to the ready file (JSON, written atomically), which is how the
agent learns the port when the configuration asked for port 0.

It watches the configuration file (every RELOAD_POLL seconds: its inode, size and modification time; a
file replaced atomically, or a Kubernetes ConfigMap volume's swap, changes them) and applies a changed
configuration in place: a withdrawn grant or a new transform holds from the next call on, and streams it
concerns end (`FlightModule.reload`). A configuration it cannot apply ends the module with an error,
never leaves it serving the old one: the old one may grant what the new one withdraws.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from m4d.credentials import open_store
from m4d.errors import M4DError
from m4d.modules.config import ModuleConfig
from m4d.modules.flight.served import ReloadRefused
from m4d.modules.flight.server import FlightModule

log = logging.getLogger(__name__)


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(payload, indent=2, sort_keys=True))
    partial.replace(path)


def start(config: ModuleConfig) -> FlightModule:
    """A running module (listening; serve() not needed: gRPC threads handle calls)."""
    credentials = open_store(config.credentials) if config.credentials is not None else None
    return FlightModule(config, credentials)


def endpoint(server: FlightModule) -> dict[str, Any]:
    listen = server.config.listen
    return {"protocol": "fybrik-arrow-flight", "scheme": listen.scheme, "hostname": listen.host, "port": server.port}


RELOAD_POLL = 0.25


class ConfigWatch:
    """Notices a configuration file being replaced or rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen = self._identity()

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def changed(self) -> bool:
        now = self._identity()
        if now is None or now == self._seen:
            return False  # a file briefly missing (being replaced) is looked at again next time
        self._seen = now
        return True


def _reload(server: FlightModule, path: Path, port: int | None) -> None:
    """Apply the configuration now in `path`; M4DError (or ReloadRefused) when it cannot be applied."""
    config = ModuleConfig.load(path)
    if port is not None:
        config = config.model_copy(update={"listen": config.listen.model_copy(update={"port": port})})
    if config == server.config:
        return
    changes = server.reload(config)
    log.info("configuration %s applied: %s", path, "; ".join(changes) or "nothing served changed")


def serve(
    config: ModuleConfig, ready_file: Path | None = None, config_file: Path | None = None, port: int | None = None
) -> None:
    """Serve until SIGTERM/SIGINT; with `config_file`, apply its changes in place (`port` overrides its
    port, as at start)."""
    server = start(config)
    info = endpoint(server)
    log.info(
        "module %s serving %d assets on grpc://%s:%d", config.name, len(config.assets), info["hostname"], info["port"]
    )
    if ready_file is not None:
        write_json_atomically(ready_file, {**info, "pid": os.getpid()})

    # The server runs in a thread and the main thread waits in Python, so SIGTERM (an agent stopping the
    # module) is handled at once; a main thread blocked inside the C++ serve loop would never see it.
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    serving = threading.Thread(target=server.serve, name="flight-serve", daemon=True)
    serving.start()
    watch = ConfigWatch(config_file) if config_file is not None else None
    try:
        while serving.is_alive() and not stopping.wait(RELOAD_POLL):
            if watch is not None and watch.changed():
                try:
                    _reload(server, watch.path, port)
                except (M4DError, ReloadRefused) as error:
                    raise M4DError(f"cannot apply the changed configuration, stopping: {error}") from None
    finally:
        server.shutdown()
        serving.join(10)
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)
