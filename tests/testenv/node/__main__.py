"""`python -m tests.testenv.node`: run one emulated node until SIGTERM (see kubelet.py)."""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import tempfile
import threading
from pathlib import Path

from tests.testenv.node.api import NodeApi
from tests.testenv.node.images import Images
from tests.testenv.node.kubelet import Kubelet, service_env
from tests.testenv.node.pod import NodeContext

_BLOCKS = Path(tempfile.gettempdir()) / "m4d-node-ip-blocks"
_held: list[int] = []  # the lock's file descriptor, open for the life of the process


def claim_block() -> int:
    """A 127.OCTET.0.0/16 block no other node on this machine uses: test sessions run side by side, and
    two pods answering on one address would serve each other's clients. The claim is an flock on a file
    per block, released by the kernel when the node's process ends."""
    _BLOCKS.mkdir(mode=0o777, exist_ok=True)
    for octet in range(20, 255):
        fd = os.open(_BLOCKS / f"{octet}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held.append(fd)
        return octet
    raise RuntimeError(f"every pod address block under {_BLOCKS} is taken")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.testenv.node", description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--context", required=True)
    parser.add_argument("--name", required=True, help="the Node's name")
    parser.add_argument("--octet", type=int, help="pod IPs are 127.OCTET.x.y (default: a free block, see claim_block)")
    parser.add_argument("--root", type=Path, required=True, help="where pods' volumes, logs and files go")
    parser.add_argument("--images", type=Path, required=True, help="JSON image map (images.py)")
    parser.add_argument("--ip", default="127.0.0.1", help="the node's address")
    parser.add_argument("--backoff", type=float, default=10.0, help="crash-loop back-off base, seconds")
    parser.add_argument("--max-backoff", type=float, default=300.0, help="crash-loop back-off maximum, seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    api = NodeApi(args.kubeconfig, args.context)
    context = NodeContext(
        api=api,
        name=args.name,
        ip=args.ip,
        images=Images.load(args.images),
        root=args.root,
        service_env=service_env(api.server),
        backoff_base=args.backoff,
        backoff_max=args.max_backoff,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    args.root.mkdir(parents=True, exist_ok=True)
    (args.root / "ready").unlink(missing_ok=True)
    octet = args.octet if args.octet is not None else claim_block()
    kubelet = Kubelet(context, octet)
    kubelet.register()
    (args.root / "ready").write_text(f"{args.name} 127.{octet}.0.0/16\n")  # the fixture waits for this
    try:
        kubelet.run(stop)
    finally:
        api.close()


if __name__ == "__main__":
    main()
