"""Start one container's process: runs inside fresh mount and UTS namespaces (made by `unshare`).

    unshare --mount --uts --propagation private -- python launch.py SPEC.json

Binds every volume of the container at its mount path, sets the pod's hostname, changes to the working
directory and execs the container's command, so the process keeps this pid and sees its volumes where
the pod spec says (/etc/m4d, /var/run/secrets/kubernetes.io/serviceaccount, /dev/termination-log) while
the rest of the file system is the host's — the image stands for the host's own files.

The image's own files (the spec's `image_paths`) are bound back where a volume hid them.

A mount path whose parent directories do not exist is made without touching the host: the nearest
existing ancestor is shadowed by a tmpfs that mirrors its entries (each bound back), and the missing
directories are made in the tmpfs (for a new top-level directory, the mirror of / becomes the root).
If setting up fails, the reason goes to the spec's `error_file` (the node reports it as the container's
waiting reason) and the process exits 127.

Standard library only, and no imports from the repository: it must start fast and run anywhere.
"""

from __future__ import annotations

import ctypes
import json
import os
import stat
import sys
from pathlib import Path

O_PATH = getattr(os, "O_PATH", 0o10000000)
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000

_libc = ctypes.CDLL(None, use_errno=True)
_shadowed: set[str] = set()  # directories this launcher replaced by a writable tmpfs


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    result = _libc.mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def _locked_flags(path: str) -> int:
    """Flags a bind remount must keep (a mount inherited from a container host refuses to drop them)."""
    flags = os.statvfs(path).f_flag
    out = 0
    for st, ms in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC)):
        if flags & st:
            out |= ms
    return out


def _shadow(directory: str, scratch: Path) -> None:
    """Replace `directory` (in this namespace only) by a writable tmpfs holding the same entries."""
    staging = scratch / f"shadow-{len(_shadowed)}"
    staging.mkdir(parents=True)
    _mount("tmpfs", str(staging), "tmpfs", 0, "mode=0755")
    for entry in os.scandir(directory):
        source, target = os.path.join(directory, entry.name), staging / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(source), target)
        elif entry.is_dir():
            target.mkdir()
            _mount(source, str(target), None, MS_BIND | MS_REC)
        else:
            target.touch()
            _mount(source, str(target), None, MS_BIND)
    if directory == "/":
        # Mounting over / does not change this process's root: make the mirror the root instead.
        os.chroot(staging)
        os.chdir("/")
    else:
        _mount(str(staging), directory, None, MS_BIND | MS_REC)
    _shadowed.add(directory)


def _mountpoint(target: str, is_file: bool, scratch: Path) -> str:
    """Make `target` exist (as a file or a directory); returns it with symlinks resolved."""
    real = os.path.realpath(target)
    if (os.path.isdir(real) and not is_file) or (os.path.isfile(real) and is_file):
        return real
    if os.path.lexists(real):
        raise OSError(f"{target} exists and is not a {'file' if is_file else 'directory'}")
    missing: list[str] = []
    ancestor = real
    while not os.path.isdir(ancestor):
        ancestor, name = os.path.split(ancestor)
        missing.insert(0, name)
    if ancestor not in _shadowed:
        _shadow(ancestor, scratch)
    parent = ancestor
    for name in missing[:-1]:
        parent = os.path.join(parent, name)
        os.mkdir(parent)
        _shadowed.add(parent)  # on the tmpfs: writable
    if is_file:
        Path(real).touch()
    else:
        os.mkdir(real)
        _shadowed.add(real)
    return real


def setup(spec: dict) -> None:  # type: ignore[type-arg]
    # Every path from the host is opened before the first mount: a volume mounted at /tmp (say) would
    # hide sources and scratch space that live under the host's /tmp. Mounts then go through the fds.
    scratch_dir = Path(spec["scratch"])
    scratch_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(f"/proc/self/fd/{os.open(scratch_dir, O_PATH)}")
    sources = [(os.open(m["source"], O_PATH), m) for m in spec["mounts"]]
    images = [(os.open(p, O_PATH), p) for p in sorted(spec.get("image_paths", []), key=len) if os.path.isdir(p)]
    hostname = spec.get("hostname")
    if hostname:
        name = hostname.encode()
        if _libc.sethostname(name, len(name)) != 0:
            raise OSError(ctypes.get_errno(), "sethostname")
    # Shallow paths first: a volume at /etc/m4d must be in place before one at /etc/m4d/extra.
    for fd, mount in sorted(sources, key=lambda item: item[1]["target"].count("/")):
        is_file = stat.S_ISREG(os.fstat(fd).st_mode)
        target = _mountpoint(mount["target"], is_file, scratch)
        _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        if mount.get("read_only"):
            _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | _locked_flags(target))
        os.close(fd)
    # The image's own files stay where they are even under a volume (an emptyDir at /tmp hides a checkout
    # under /tmp, and with it the command's interpreter): bind each one hidden back, shallow ones first.
    for fd, path in images:
        if not _same(path, fd):
            _mount(f"/proc/self/fd/{fd}", _mountpoint(path, False, scratch), None, MS_BIND | MS_REC)
        os.close(fd)
    os.chdir(spec.get("working_dir") or "/")


def _same(path: str, fd: int) -> bool:
    """`path` still shows the directory `fd` was opened on (no volume mounted over it or its parents)."""
    try:
        seen = os.stat(path)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (seen.st_dev, seen.st_ino) == (opened.st_dev, opened.st_ino)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    argv: list[str] = spec["argv"]
    env: dict[str, str] = spec["env"]
    error = os.open(spec["error_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # before any mount
    try:
        setup(spec)
    except OSError as problem:
        os.write(error, f"setting up the container's mounts: {problem}".encode())
        sys.exit(127)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as problem:
        os.write(error, f"exec: {argv[0]!r}: {problem.strerror or problem}".encode())
        sys.exit(127)


if __name__ == "__main__":
    main()
