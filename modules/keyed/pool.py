"""Keyed BLAKE2s of large arrays in worker processes, one per core.

numpy releases the GIL while it computes, but the hash makes hundreds of short numpy calls per batch:
two threads hashing at once spend a third or more of their time handing the GIL to each other
(measured). Worker processes have no GIL to share. Each worker owns an anonymous shared-memory region
(memfd): the caller copies a slice's offsets and bytes in, the worker writes the hex digests next to them,
and the caller copies those out; a pipe carries the small request and reply. Workers are started on first
use and exit when the pipe closes, so they never outlive the module.

The key never leaves the module's processes: a request carries the keyed start state over the private
pipe, never through arguments, the environment or the shared region's name.

A worker runs `main()` below (`python -c ... FD`, started by the pool).
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from m4d.modules.forkserver import ForkedProcess, hash_worker
from m4d.modules.keyed import blake2s

log = logging.getLogger(__name__)

HEX_LEN: Final = 2 * blake2s.DIGEST_SIZE
# kind (1: hash), offset width (4 or 8), values, data bytes, region bytes; then start and empty states.
_REQUEST: Final = struct.Struct("<BBIQQ32s32s")
_REPLY: Final = struct.Struct("<BI")  # status (0: done), length of the error text that follows
_READY: Final = b"R"
_START_TIMEOUT: Final = 60.0
# A worker that does not answer within this (plus a generous allowance per value) is stopped.
_ANSWER_TIMEOUT: Final = 60.0
_ANSWER_PER_VALUE: Final = 20e-6
_REQUEST_ROWS: Final = 1 << 17  # values per request: bounds a worker's region
_REGION_KEEP: Final = 64 << 20  # a region above this size shrinks back once batches are small again
_LANES: Final = 32_768  # values per compression pass in a worker (see hashers._LANES)
_WORKER_MAIN: Final = "from m4d.modules.keyed.pool import main; main()"
# A worker unused this long is stopped (its memory given back); the next large batch starts one again.
_IDLE_EXIT: Final = 60.0


class HashWorkerError(RuntimeError):
    """A hash worker failed."""


class WorkerStartError(HashWorkerError):
    """A hash worker could not start (then none will: the pool is not used again)."""


def _layout(n: int, width: int, data: int) -> tuple[int, int, int]:
    """Where data and digests start in a region holding n values, and the region's size (page multiple)."""
    data_at = -(-(n + 1) * width // 64) * 64
    out_at = -(-(data_at + data) // 64) * 64
    size = out_at + n * HEX_LEN
    return data_at, out_at, max(mmap.PAGESIZE, -(-size // mmap.PAGESIZE) * mmap.PAGESIZE)


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class Worker:
    """One worker process and its shared region; used by one caller at a time.

    A request is in flight from `send` until `receive` returns: a worker with one still in flight after a
    failure must be closed, never reused (its reply would answer the next request)."""

    def __init__(self) -> None:
        self._fd = os.memfd_create("m4d-hash", os.MFD_CLOEXEC)
        self._size = 0
        self._region: mmap.mmap | None = None
        self.pending: tuple[int, int, int] | None = None
        self.last_used = time.monotonic()
        # Forked by the agent's fork server where there is one (it shares that server's loaded numpy and
        # pyarrow: a few MB instead of a new interpreter's ~40 MB), else a process of its own.
        forked = hash_worker(self._fd)
        try:
            self._proc: subprocess.Popen[bytes] | ForkedProcess = forked or subprocess.Popen(
                [sys.executable, "-c", _WORKER_MAIN, str(self._fd)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,  # raw pipes: a reply is waited for with select, so nothing may sit in a buffer
                pass_fds=(self._fd,),
                env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},  # no BLAS here: no idle BLAS threads either
            )
        except OSError:
            os.close(self._fd)
            raise
        self._ready = False

    def _read(self, size: int, timeout: float) -> bytes | None:
        """`size` bytes from the worker; None when it exited; the worker is killed if they take too long."""
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        data = b""
        while len(data) < size:
            ready, _, _ = select.select([self._proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self._proc.kill()
                raise HashWorkerError(f"a hash worker did not answer within {timeout:.0f} s and was stopped")
            chunk = os.read(self._proc.stdout.fileno(), size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _wait_ready(self) -> None:
        if not self._ready:
            # A worker that cannot import its modules exits: the read ends with nothing.
            try:
                ready = self._read(1, _START_TIMEOUT)
            except HashWorkerError as error:
                raise WorkerStartError(str(error)) from None
            if ready != _READY:
                raise WorkerStartError(f"a hash worker did not start (exit code {self._proc.wait()})")
            self._ready = True

    def send(self, start: blake2s.U32, empty: blake2s.U32, values: pa.Array) -> None:
        """Copy `values` (binary or large_binary, no nulls) into the region and ask for their digests."""
        assert self.pending is None, "a request is already in flight"
        self._wait_ready()
        n = len(values)
        width = 8 if pa.types.is_large_binary(values.type) else 4
        offsets = np.frombuffer(
            values.buffers()[1], dtype=np.int64 if width == 8 else np.int32, count=n + 1, offset=values.offset * width
        )
        first, last = int(offsets[0]), int(offsets[-1])
        data_at, _, size = _layout(n, width, last - first)
        region = self._map(size)
        np.subtract(offsets, offsets.dtype.type(first), out=np.frombuffer(region, offsets.dtype, n + 1))
        if last > first:
            data = np.frombuffer(values.buffers()[2], dtype=np.uint8, count=last - first, offset=first)
            np.copyto(np.frombuffer(region, np.uint8, last - first, data_at), data)
        state = start.astype("<u4").tobytes(), empty.astype("<u4").tobytes()
        self.pending = (n, width, last - first)
        self._write(_REQUEST.pack(1, width, n, last - first, self._size, *state))

    def receive(self, out: npt.NDArray[np.uint8]) -> None:
        """Wait for the digests asked for by `send` and copy them into `out` (n x 64 bytes)."""
        assert self.pending is not None and self._region is not None
        n, width, data = self.pending
        reply = self._read(_REPLY.size, _ANSWER_TIMEOUT + n * _ANSWER_PER_VALUE)
        if reply is None:
            raise HashWorkerError(f"a hash worker exited (exit code {self._proc.wait()})")
        status, length = _REPLY.unpack(reply)
        if status:
            text = self._read(length, _ANSWER_TIMEOUT) or b""
            self.pending = None  # answered: the worker goes on
            raise HashWorkerError(f"a hash worker failed: {text.decode(errors='replace')}")
        _, out_at, _ = _layout(n, width, data)
        np.copyto(out, np.frombuffer(self._region, np.uint8, n * HEX_LEN, out_at).reshape(n, HEX_LEN))
        self.pending = None

    def _map(self, size: int) -> mmap.mmap:
        if self._region is None or size > self._size or (self._size > _REGION_KEEP and size <= self._size // 4):
            # Grow geometrically (a bigger batch rarely comes alone); give a large region back once the
            # batches are small again, so one huge batch does not stay resident. The worker maps the new
            # size with the next request (it is idle now: nothing is in flight).
            size = max(size, min(2 * self._size, _REGION_KEEP)) if size > self._size else max(size, _REGION_KEEP)
            self._region = None
            os.ftruncate(self._fd, size)
            self._region, self._size = mmap.mmap(self._fd, size), size
        return self._region

    def _write(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)  # a few dozen bytes: one atomic pipe write
        except (BrokenPipeError, ValueError):
            raise HashWorkerError(f"a hash worker exited (exit code {self._proc.wait()})") from None

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._fd >= 0 and self._proc.poll() is None

    def hang_up(self) -> None:
        """Close the pipes: the worker exits on its own."""
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self) -> None:
        """Hang up, reap the process and release the region; closing twice does nothing."""
        if self._fd < 0:
            return
        self.hang_up()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._region = None
        os.close(self._fd)
        self._fd = -1


class Pool:
    """Worker processes shared by every hasher of the module (requests carry their key's state).

    Workers are closed only by the thread holding them (or by `close` when idle): a worker in use by
    one thread is never closed under it by another."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: queue.SimpleQueue[Worker | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._started: set[Worker] = set()  # every worker not yet closed, idle or in use
        self._retiring: threading.Thread | None = None
        self._stop = threading.Event()
        for _ in range(size):
            self._idle.put(None)  # a slot: its worker starts when first taken

    def hexdigest(
        self, start: blake2s.U32, empty: blake2s.U32, values: pa.Array, out: npt.NDArray[np.uint8], min_rows: int
    ) -> None:
        """Hex digests of `values` into `out`: split over the idle workers, at least `min_rows` each.

        A caller waits for one worker and takes more only if they are idle, so concurrent callers never
        wait on each other's workers (each already holds one). Requests carry at most _REQUEST_ROWS
        values, which bounds the shared regions."""
        n = len(values)
        held = [self._take(self._idle.get())]
        try:
            while len(held) < min(self.size, -(-n // min_rows)):
                try:
                    held.append(self._take(self._idle.get_nowait()))
                except queue.Empty:
                    break
            step = min(-(-n // len(held)), _REQUEST_ROWS)
            chunks = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
            for i in range(0, len(chunks), len(held)):
                rounds = list(zip(held, chunks[i : i + len(held)], strict=False))
                for worker, (lo, hi) in rounds:
                    worker.send(start, empty, values.slice(lo, hi - lo))
                for worker, (lo, hi) in rounds:
                    worker.receive(out[lo:hi])
        finally:
            for worker in held:
                self._give_back(worker)

    def _take(self, worker: Worker | None) -> Worker:
        if self._closed:
            if worker is not None:
                self._close(worker)
            self._idle.put(None)
            raise HashWorkerError("the hash workers were stopped")
        if worker is not None and worker.alive:
            return worker
        if worker is not None:
            self._close(worker)
        try:
            worker = Worker()
        except OSError as error:
            self._idle.put(None)
            raise WorkerStartError(f"cannot start a hash worker: {error}") from None
        with self._lock:
            self._started.add(worker)
            if self._retiring is None:
                self._retiring = threading.Thread(target=self._retire, name="hash-workers-idle", daemon=True)
                self._retiring.start()
        return worker

    def _give_back(self, worker: Worker) -> None:
        if worker.alive and worker.pending is None and not self._closed:
            worker.last_used = time.monotonic()
            self._idle.put(worker)
            return
        self._close(worker)  # dead, stopped, or with a reply still owed: never reused
        self._idle.put(None)
        if self._closed:
            self._drain()

    def _drain(self, idle_for: float = 0.0) -> None:
        """Close every idle worker (unused for `idle_for` seconds at least); their slots stay, empty."""
        with self._lock:
            taken: list[Worker | None] = []
            while True:
                try:
                    taken.append(self._idle.get_nowait())
                except queue.Empty:
                    break
            now = time.monotonic()
            workers = [w for w in taken if w is not None and now - w.last_used >= idle_for]
            for worker in workers:
                worker.hang_up()  # all at once: each exits while the others are reaped
            for worker in workers:
                worker.close()
                self._started.discard(worker)
            for slot in taken:
                self._idle.put(None if slot in workers else slot)

    def _retire(self) -> None:
        """Stop workers left idle for _IDLE_EXIT: a module between reads holds no hash worker."""
        while not self._stop.wait(_IDLE_EXIT / 4):
            self._drain(idle_for=_IDLE_EXIT)

    def _close(self, worker: Worker) -> None:
        worker.close()
        with self._lock:
            self._started.discard(worker)

    def pids(self) -> list[int]:
        """The process ids of the running workers."""
        with self._lock:
            return sorted(w.pid for w in self._started if w.alive)

    def close(self) -> None:
        """Stop the idle workers now; the ones in use stop when their caller gives them back."""
        self._closed = True
        self._stop.set()
        self._drain()


def serve(fd: int, requests: IO[bytes], replies: IO[bytes]) -> None:
    """The worker's loop: one request at a time until the pipe closes."""
    scratch = blake2s.Scratch(_LANES)
    region: mmap.mmap | None = None
    size = 0
    replies.write(_READY)
    replies.flush()
    while (head := _read_exact(requests, _REQUEST.size)) is not None:
        _, width, n, data, region_size, start_bytes, empty_bytes = _REQUEST.unpack(head)
        try:
            if region is None or region_size != size:
                region, size = mmap.mmap(fd, region_size), region_size
            data_at, out_at, _ = _layout(n, width, data)
            buffer = pa.py_buffer(region)
            kind = pa.large_binary() if width == 8 else pa.binary()
            offsets = buffer.slice(0, (n + 1) * width)
            values = pa.Array.from_buffers(kind, n, [None, offsets, buffer.slice(data_at, data)])
            out = np.frombuffer(region, np.uint8, n * HEX_LEN, out_at).reshape(n, HEX_LEN)
            start = np.frombuffer(start_bytes, "<u4").astype(np.uint32)
            empty = np.frombuffer(empty_bytes, "<u4").astype(np.uint32)
            blake2s.hexdigest_many(start, empty, values, out, scratch)
            del values, offsets, buffer, out
        except Exception as error:  # reported to the caller, which raises it; the worker goes on
            text = f"{type(error).__name__}: {error}".encode()
            replies.write(_REPLY.pack(1, len(text)) + text)
        else:
            replies.write(_REPLY.pack(0, 0))
        replies.flush()


def main() -> None:
    fd = int(sys.argv[1])
    # The pipe is the protocol: anything printed by accident goes to stderr instead.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # The module hanging up (mid-request too) or an interrupt of the whole process group is a normal end.
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(fd, sys.stdin.buffer, replies)
