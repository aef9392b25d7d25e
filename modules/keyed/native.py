"""The compiled HMAC kernel: built from `hmac_kernel.c` with the system C compiler on first use and cached.

The kernel calls OpenSSL's SHA-256 block function (the libcrypto this Python already loads), so it runs
at the speed of OpenSSL's CPU-specific code with no build-time dependency on OpenSSL headers. When no C
compiler or libcrypto is available, `load()` returns None and callers use the hashlib path instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_name("hmac_kernel.c")
_LOCK = threading.Lock()
_LOADED: list[Kernel | None] = []


@dataclass(frozen=True)
class Kernel:
    hmac_hex: Any  # ctypes foreign function
    transform: int  # address of OpenSSL's SHA256_Transform
    transform_fn: Any
    lib: Any

    @property
    def sha_ni(self) -> bool:
        """Whether the kernel runs the SHA extensions itself (else OpenSSL's block function)."""
        return bool(self.lib.m4d_hmac_uses_sha_ni())

    def allow_sha_ni(self, allowed: bool) -> None:
        self.lib.m4d_hmac_allow_sha_ni(1 if allowed else 0)


def cache_dir() -> Path:
    root = os.environ.get("M4D_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "m4d") / "kernels"


def _libcrypto() -> ctypes.CDLL | None:
    """The libcrypto Python's hashlib uses (found through /proc/self/maps), else whatever the loader finds."""
    import _hashlib  # noqa: F401, PLC0415 - make sure libcrypto is mapped

    candidates: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            candidates += sorted({line.split()[-1] for line in maps if "libcrypto" in line and "/" in line})
    except OSError:
        pass
    found = ctypes.util.find_library("crypto")
    if found:
        candidates.append(found)
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            lib.SHA256_Transform  # noqa: B018 - probe the symbol
            return lib
        except (OSError, AttributeError):
            continue
    return None


def _build(target: Path) -> bool:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        partial = Path(tmp) / target.name
        result = subprocess.run(
            [compiler, "-O3", "-shared", "-fPIC", "-o", str(partial), str(_SOURCE)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            log.warning("could not compile the HMAC kernel (%s); using the slower hashlib path", result.stderr[-500:])
            return False
        partial.replace(target)  # atomic: concurrent builders each publish a complete file
    return True


def _load() -> Kernel | None:
    if os.environ.get("M4D_HMAC_KERNEL", "").lower() in ("0", "off", "false"):
        return None
    crypto = _libcrypto()
    if crypto is None:
        return None
    digest = hashlib.sha256(_SOURCE.read_bytes()).hexdigest()[:16]
    target = cache_dir() / f"hmac_kernel-{digest}.so"
    if not target.exists() and not _build(target):
        return None
    lib = ctypes.CDLL(str(target))
    fn = lib.m4d_hmac_sha256_hex
    fn.restype = None
    fn.argtypes = [
        ctypes.c_void_p,  # SHA256_Transform
        ctypes.c_void_p,  # inner state
        ctypes.c_void_p,  # outer state
        ctypes.c_void_p,  # offsets
        ctypes.c_int,  # 64-bit offsets?
        ctypes.c_void_p,  # data
        ctypes.c_int64,  # first
        ctypes.c_int64,  # count
        ctypes.c_void_p,  # out
    ]
    transform = crypto.SHA256_Transform
    transform.restype = None
    transform.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    address = ctypes.cast(transform, ctypes.c_void_p).value
    if address is None:
        return None
    lib.m4d_hmac_allow_sha_ni.argtypes = [ctypes.c_int]
    lib.m4d_hmac_allow_sha_ni.restype = None
    lib.m4d_hmac_uses_sha_ni.restype = ctypes.c_int
    if os.environ.get("M4D_HMAC_SHA_NI", "").lower() in ("0", "off", "false"):
        lib.m4d_hmac_allow_sha_ni(0)
    return Kernel(hmac_hex=fn, transform=address, transform_fn=transform, lib=lib)


def load() -> Kernel | None:
    """The kernel, built and loaded once per process; None when this machine cannot build it."""
    with _LOCK:
        if not _LOADED:
            try:
                _LOADED.append(_load())
            except OSError as error:
                log.warning("HMAC kernel unavailable (%s); using the slower hashlib path", error)
                _LOADED.append(None)
        return _LOADED[0]
