"""Module processes forked from a warm server that has imported their code once (see `server.py`)."""

from m4d.modules.forkserver.client import ForkedProcess, ForkServer, ForkServerError, address_for, hash_worker

__all__ = ["ForkServer", "ForkServerError", "ForkedProcess", "address_for", "hash_worker"]
