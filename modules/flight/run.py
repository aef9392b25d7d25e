"""Run the Flight module from a configuration file until it is told to stop.

Once listening it writes its endpoint to the ready file (JSON, written atomically), which is how the
agent learns the port when the configuration asked for port 0.
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
from m4d.modules.config import ModuleConfig
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


def serve(config: ModuleConfig, ready_file: Path | None = None) -> None:
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
    try:
        while serving.is_alive() and not stopping.wait(0.2):
            pass
    finally:
        server.shutdown()
        serving.join(10)
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)
