"""The hub directory's lock: one holder at a time; free again when its holder ends, however it ends."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from m4d.runtime.dirlock import HubLock

HOLD = """
import sys, time
from pathlib import Path
from m4d.runtime.dirlock import HubLock
assert HubLock(Path(sys.argv[1])).try_acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_one_holder_at_a_time_and_the_next_takes_over(tmp_path: Path) -> None:
    first, second = HubLock(tmp_path / "hub.lock"), HubLock(tmp_path / "hub.lock")
    assert first.try_acquire() and first.held
    assert not second.try_acquire()
    assert second.holder().startswith("pid ")
    seen: list[str] = []
    took = threading.Event()
    waiter = threading.Thread(target=lambda: took.set() if second.wait(threading.Event(), 0.05, seen.append) else None)
    waiter.start()
    time.sleep(0.2)
    assert not took.is_set() and len(seen) == 1
    first.release()
    waiter.join(5)
    assert took.is_set() and second.held
    second.release()


def test_a_standby_stops_waiting_when_asked(tmp_path: Path) -> None:
    leader, standby = HubLock(tmp_path / "hub.lock"), HubLock(tmp_path / "hub.lock")
    assert leader.try_acquire()
    stop = threading.Event()
    stop.set()
    assert not standby.wait(stop, 0.05) and not standby.held


def test_a_killed_holder_frees_the_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "hub.lock")], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        lock = HubLock(tmp_path / "hub.lock")
        assert not lock.try_acquire()
        assert f"pid {holder.pid}" in lock.holder()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert lock.try_acquire()
        lock.release()
    finally:
        holder.kill()
        holder.wait(10)
        assert holder.stdout is not None
        holder.stdout.close()
