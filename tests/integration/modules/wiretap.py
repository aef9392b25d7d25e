"""A loopback TCP relay that records every byte a server sends to its clients: the wire, as received.

`received` is everything, as it crossed the socket. HTTP/2 cuts a gRPC message into frames (a 9-byte
header every 16 KiB by default) and compresses headers and trailers (HPACK), so a value can be on the
wire without being found there as one run of bytes. `payloads()` undoes that per connection: the DATA of
each stream joined into one run, and every header and trailer decoded. A search for leaked bytes looks
in both.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

import hpack
from hyperframe.frame import ContinuationFrame, DataFrame, Frame, HeadersFrame


class Wiretap:
    """Listens on a free loopback port and relays each connection to `target_port`, keeping a copy of
    what flows back to the client in `received` (all connections) and per connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.received = bytearray()
        self.connections: list[bytearray] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._spawn(self._accept)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            record = bytearray()
            with self._lock:
                self.connections.append(record)
            self._spawn(self._pump, client, upstream, None)
            self._spawn(self._pump, upstream, client, record)

    def _pump(self, source: socket.socket, sink: socket.socket, record: bytearray | None) -> None:
        try:
            while chunk := source.recv(1 << 16):
                if record is not None:
                    with self._lock:
                        self.received += chunk
                        record += chunk
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def payloads(self) -> bytes:
        """Per connection and stream, the DATA frames' payload joined, then every header block decoded
        (names and values, one per line); all of it, concatenated."""
        with self._lock:
            connections = [bytes(c) for c in self.connections]
        out = bytearray()
        for wire in connections:
            streams: dict[int, bytearray] = {}
            headers = bytearray()
            decoder = hpack.Decoder()
            decoder.max_allowed_table_size = 1 << 20
            block = bytearray()
            at = 0
            while at + 9 <= len(wire):
                frame, length = Frame.parse_frame_header(memoryview(wire[at : at + 9]))
                if at + 9 + length > len(wire):
                    break  # cut off when the relay closed: nothing in it was delivered whole
                frame.parse_body(memoryview(wire[at + 9 : at + 9 + length]))
                at += 9 + length
                if isinstance(frame, DataFrame):
                    streams.setdefault(frame.stream_id, bytearray()).extend(frame.data)
                elif isinstance(frame, HeadersFrame | ContinuationFrame):
                    block += frame.data
                    if "END_HEADERS" in frame.flags:
                        for name, value in decoder.decode(bytes(block), raw=True):
                            headers += name + b": " + value + b"\n"
                        block.clear()
            for stream in streams.values():
                out += stream
            out += headers
        return bytes(out)

    def __enter__(self) -> Wiretap:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._closed.set()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for t in self._threads:
            t.join(timeout=5)
