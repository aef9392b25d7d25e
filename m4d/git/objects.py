"""Git object names computed locally, and the fast-import stream that turns edits into one commit."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

BLOB_MODE = "100644"


def blob_sha(data: bytes) -> str:
    """The object name git gives this content: comparing it with a tree entry needs no read of the blob."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def line(self, when: int) -> bytes:
        return f"{self.name} <{self.email}> {when} +0000".encode()


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def fast_import_stream(
    ref: str,
    parent: str | None,
    edits: Mapping[str, bytes | None],
    message: str,
    author: Identity,
    when: int,
) -> bytes:
    """One commit on `ref` = `parent` with `edits` applied (None deletes a path).

    `feature done` + `done` make git drop everything if the stream is cut short: a crash while we
    write it leaves no commit at all, never a partial one.
    """
    out = [b"feature done\n", b"commit " + ref.encode() + b"\n", b"mark :1\n"]
    out.append(b"author " + author.line(when) + b"\n")
    out.append(b"committer " + author.line(when) + b"\n")
    out.append(_data(message.encode()))
    if parent:
        out.append(f"from {parent}\n".encode())
    for path in sorted(edits):
        content = edits[path]
        quoted = _quote(path)
        if content is None:
            out.append(b"D " + quoted + b"\n")
        else:
            out.append(f"M {BLOB_MODE} inline ".encode() + quoted + b"\n")
            out.append(_data(content))
    out.append(b"\nget-mark :1\n")
    out.append(b"done\n")
    return b"".join(out)


def _quote(path: str) -> bytes:
    """fast-import takes a path as is unless it starts with a quote or has a newline or space trouble."""
    if any(c in path for c in ('"', "\n", "\\")) or path.startswith(" "):
        escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'.encode()
    return path.encode()
