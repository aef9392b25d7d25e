"""A real Vault server for the credential-store tests: HashiCorp Vault built from the Go module proxy
(with the testenv builder, cached under $M4D_CACHE_DIR/testenv/vault-<version>/) and run in dev mode on
a free loopback port, in memory.

    python -m tests.integration.modules.vault_server      # build it (make modules-testenv does)

OpenBao was tried first: the Go module proxy does not serve github.com/openbao/openbao (403), so Vault it is.
v1.21.0 because its in-repository `sdk` module is the published sdk v0.20.0 its go.mod requires; later
1.21.x releases carry sdk changes no published version has, and the proxy does not serve commits.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    __package__ = "tests.integration.modules"

from tests.testenv.build import BuildError, ensure, go_env
from tests.testenv.locate import cached_binary
from tests.testenv.versions import Component

from .servers import free_port

VAULT = Component(
    name="vault",
    version="v1.21.0",
    module="github.com/hashicorp/vault",
    package="github.com/hashicorp/vault",
    needs_wrapper=True,  # its go.mod replaces api/ and sdk/ with local paths
)


@dataclass(frozen=True)
class Vault:
    address: str
    root_token: str


def binary() -> Path | None:
    return cached_binary(VAULT)


@contextmanager
def vault_dev() -> Iterator[Vault]:
    path = binary()
    if path is None:
        raise FileNotFoundError("no Vault binary: run `make modules-testenv` (builds it from the Go module proxy)")
    port = free_port()
    token = f"root-{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [str(path), "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}", f"-dev-root-token-id={token}",
         "-dev-no-store-token"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    address = f"http://127.0.0.1:{port}"
    try:
        import httpx  # noqa: PLC0415 - test-only health probe

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{address}/v1/sys/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vault did not start: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
            time.sleep(0.1)
        yield Vault(address, token)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


def main() -> int:
    try:
        print(ensure(VAULT, go_env()))
    except BuildError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
