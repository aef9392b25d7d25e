"""A really full disk for fault tests: a small tmpfs mounted over a directory, filled and freed on demand.

The tmpfs lives in a private user + mount namespace (`unshare --user --map-root-user --mount`), so no
root is needed and nothing outside the test sees it: the directory's content is copied onto the tmpfs,
and only processes started in the namespace (`command()` prefixes theirs with `nsenter`) write there.
`fill()` writes a filler file until the kernel answers ENOSPC; `free()` deletes it. What a process then
meets is the real thing: write(2) failing with "No space left on device".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import TracebackType

# Runs inside the namespace: mount, then obey one command per line on stdin, answering one line each.
_CONTROL = r"""
import os, shutil, subprocess, sys, tempfile
target, size = sys.argv[1], sys.argv[2]
keep = tempfile.mkdtemp(prefix="small-disk-")
shutil.copytree(target, keep, dirs_exist_ok=True, symlinks=True)
subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", target], check=True)
shutil.copytree(keep, target, dirs_exist_ok=True, symlinks=True)
shutil.rmtree(keep)
filler = os.path.join(target, ".filler")
print("ready", flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "fill":
        with open(filler, "ab") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as exc:
                error = exc.strerror
        st = os.statvfs(target)
        print(f"full {st.f_bavail * st.f_frsize} {error}", flush=True)
    elif command == "free":
        if os.path.exists(filler):
            os.unlink(filler)
        st = os.statvfs(target)
        print(f"freed {st.f_bavail * st.f_frsize}", flush=True)
    else:
        print(f"unknown {command}", flush=True)
"""


class SmallDisk:
    """`with SmallDisk(path, "8m") as disk:` — `path` now lives on an 8 MB tmpfs seen by `disk.command(...)`."""

    def __init__(self, path: Path, size: str = "8m") -> None:
        self.path = Path(path)
        self.size = size
        self._holder: subprocess.Popen[str] | None = None

    def __enter__(self) -> SmallDisk:
        missing = [tool for tool in ("unshare", "nsenter", "mount") if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(f"a full-disk test needs {', '.join(missing)} (util-linux) on PATH")
        self._holder = subprocess.Popen(
            ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private",
             sys.executable, "-c", _CONTROL, str(self.path), self.size],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if self._answer() != "ready":
            raise RuntimeError(
                f"cannot mount a small tmpfs over {self.path} in a user namespace (are unprivileged user "
                f"namespaces disabled?): {self._stderr()}"
            )
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def pid(self) -> int:
        assert self._holder is not None
        return self._holder.pid

    def command(self, *argv: str) -> list[str]:
        """`argv` run inside the namespace: it sees (and writes to) the small disk at `path`."""
        return ["nsenter", f"--target={self.pid}", "--user", "--mount", "--", *argv]

    def inside(self, relative: str = "") -> Path:
        """The small disk's content as this process can read it (through the holder's root)."""
        return Path(f"/proc/{self.pid}/root") / str(self.path).lstrip("/") / relative

    def fill(self) -> int:
        """Fill the disk until the kernel says ENOSPC; the bytes still free (less than a page or so)."""
        answer = self._ask("fill")
        if not answer.startswith("full ") or "No space left" not in answer:
            raise RuntimeError(f"could not fill {self.path}: {answer}")
        return int(answer.split()[1])

    def free(self) -> int:
        answer = self._ask("free")
        if not answer.startswith("freed "):
            raise RuntimeError(f"could not free {self.path}: {answer}")
        return int(answer.split()[1])

    def _ask(self, command: str) -> str:
        assert self._holder is not None and self._holder.stdin is not None
        self._holder.stdin.write(command + "\n")
        self._holder.stdin.flush()
        return self._answer()

    def _answer(self) -> str:
        assert self._holder is not None and self._holder.stdout is not None
        return self._holder.stdout.readline().strip()

    def _stderr(self) -> str:
        assert self._holder is not None
        self._holder.kill()
        _, err = self._holder.communicate(timeout=10)
        return err.strip()[-2000:]

    def close(self) -> None:
        """Stop holding the namespace (it and its tmpfs go once the last process in it has exited)."""
        if self._holder is None:
            return
        if self._holder.stdin is not None:
            self._holder.stdin.close()
        try:
            self._holder.wait(10)
        except subprocess.TimeoutExpired:
            self._holder.kill()
            self._holder.wait(10)
        if self._holder.stdout is not None:
            self._holder.stdout.close()
        if self._holder.stderr is not None:
            self._holder.stderr.close()
        self._holder = None
