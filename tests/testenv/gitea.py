"""Start a real Gitea (built by tests/testenv/build.py) on a free 127.0.0.1 port, with SQLite in a temp dir,
an admin user and an API token made at start-up. Standard library only, like servers.py.

Gitea refuses to run as root unless told it may (CI runs as root); nothing else is relaxed. The web UI's
assets are not built (the tests use the REST API and Git over HTTP); its options and templates are read
from the folder the builder copied beside the binary.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .locate import locate
from .process import Server, ServerStartError, free_port
from .versions import GITEA

ADMIN = "m4d-admin"
START_TIMEOUT = 120.0  # first start migrates a fresh SQLite database: ~10 s idle, far more on a loaded CI box
KEEP_ENV = "M4D_TESTENV_KEEP"
_TOKEN = re.compile(r"Access token was successfully created\.\.\. ([0-9a-f]{40})")


@dataclass(frozen=True)
class Gitea:
    url: str  # http://127.0.0.1:PORT (no trailing slash)
    admin: str
    password: str
    token: str  # the admin's API token (scope all)
    repositories: Path  # where Gitea keeps its bare repositories: <owner>/<name>.git
    log: Path

    def repo_path(self, owner: str, name: str) -> Path:
        return self.repositories / owner.lower() / f"{name.lower()}.git"


def _app_ini(workdir: Path, port: int, static: Path) -> str:
    data = workdir / "data"
    return f"""\
APP_NAME = m4d test
RUN_MODE = prod
WORK_PATH = {workdir}
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = {port}
ROOT_URL = http://127.0.0.1:{port}/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
APP_DATA_PATH = {data}
STATIC_ROOT_PATH = {static}

[database]
DB_TYPE = sqlite3
PATH = {data / "gitea.db"}
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = {workdir / "repositories"}
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = {secrets.token_hex(16)}
INTERNAL_TOKEN = {secrets.token_hex(32)}
PASSWORD_HASH_ALGO = pbkdf2_hi

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[mailer]
ENABLED = false

[picture]
DISABLE_GRAVATAR = true
ENABLE_FEDERATED_AVATAR = false

[actions]
ENABLED = false

[packages]
ENABLED = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = {workdir / "log"}
"""


def _run(binary: Path, config: Path, workdir: Path, args: list[str], log: Path, deadline: float) -> str:
    argv = [str(binary), "--config", str(config), "--work-path", str(workdir), *args]
    timeout = max(deadline - time.monotonic(), 5.0)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=workdir)
    except subprocess.TimeoutExpired as exc:
        raise ServerStartError(f"gitea {' '.join(args[:3])} did not finish in {timeout:.0f}s") from exc
    with log.open("a") as out:
        shown = ["***" if i and args[i - 1] == "--password" else a for i, a in enumerate(args)]
        printed = _TOKEN.sub("Access token was successfully created... ***", done.stdout)
        out.write(f"$ gitea {' '.join(shown)}\n{printed}{done.stderr}")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise ServerStartError(f"gitea {' '.join(args[:3])} exited {done.returncode}:\n{tail}\n(log: {log})")
    return done.stdout


@contextmanager
def running(workdir: Path | None = None) -> Iterator[Gitea]:
    """A fresh Gitea for the duration of the block. Raises FileNotFoundError (binary not built) or
    ServerStartError (with the log's tail) when it cannot start."""
    binary = locate(GITEA).require()
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="m4d-gitea-")) if workdir is None else workdir
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = root / "app.ini"
    config.write_text(_app_ini(root, port, binary.parent))
    log = root / "gitea.log"
    deadline = time.monotonic() + START_TIMEOUT
    server: Server | None = None
    try:
        _run(binary, config, root, ["migrate"], log, deadline)
        password = secrets.token_urlsafe(18)
        out = _run(
            binary,
            config,
            root,
            ["admin", "user", "create", "--username", ADMIN, "--password", password, "--email",
             f"{ADMIN}@example.invalid", "--admin", "--must-change-password=false", "--access-token",
             "--access-token-name", "m4d-tests"],
            log,
            deadline,
        )  # fmt: skip
        match = _TOKEN.search(out)
        if match is None:
            raise ServerStartError(f"gitea admin user create printed no access token:\n{out[-500:]}")
        server = Server("gitea", [str(binary), "--config", str(config), "--work-path", str(root), "web"], log)
        url = f"http://127.0.0.1:{port}"
        server.wait_ready(f"{url}/api/healthz", deadline)
        yield Gitea(url, ADMIN, password, match.group(1), root / "repositories", log)
    finally:
        if server is not None:
            server.stop()
        if own and os.environ.get(KEEP_ENV) != "1":
            shutil.rmtree(root, ignore_errors=True)
