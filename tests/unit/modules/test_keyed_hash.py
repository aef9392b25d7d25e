import hashlib
import hmac
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m4d.modules.keyed import HmacSha256, KeyedBlake2s, blake2s, hasher, hashers, pool

KEY = b"k" * 32


def blake(key: bytes, values: list[str | None]) -> list[str | None]:
    return [None if v is None else hashlib.blake2s(v.encode(), key=key, digest_size=32).hexdigest() for v in values]


# Strings whose UTF-8 length sits around the block boundaries (55, 64, 65, 128, 200 bytes) as well as
# anywhere from empty to several blocks, with multi-byte characters.
around_blocks = st.sampled_from([0, 1, 55, 63, 64, 65, 127, 128, 129, 200]).flatmap(
    lambda n: st.text(alphabet=st.characters(max_codepoint=0x7F), min_size=n, max_size=n)
)
values_strategy = st.lists(st.one_of(st.none(), st.text(max_size=120), around_blocks), max_size=200)


@given(values=values_strategy, key=st.binary(min_size=1, max_size=32))
@settings(max_examples=80, deadline=None)
def test_blake2s_matches_the_standard_library(values: list[str | None], key: bytes) -> None:
    assert KeyedBlake2s(key).hash_array(pa.array(values, pa.string())).to_pylist() == blake(key, values)


def test_every_length_up_to_four_blocks_in_one_array() -> None:
    values = ["é" * (n // 2) + "x" * (n % 2) for n in range(0, 260)] + [None, ""]
    assert KeyedBlake2s(KEY).hash_array(pa.array(values)).to_pylist() == blake(KEY, values)


def test_slices_large_types_binary_and_chunked() -> None:
    values = [f"value-{i}" for i in range(50_000)]
    arr = pa.array(values)
    h = KeyedBlake2s(KEY)
    assert h.hash_array(arr.slice(1000, 30_000)).to_pylist() == blake(KEY, values[1000:31_000])
    assert h.hash_array(arr.cast(pa.large_string()).slice(3, 5)).to_pylist() == blake(KEY, values[3:8])
    assert h.hash_array(pa.array([b"\x00\xff"])).to_pylist() == [hashlib.blake2s(b"\x00\xff", key=KEY).hexdigest()]
    assert h.hash_array(pa.chunked_array([values[:2], values[2:4]])).to_pylist() == blake(KEY, values[:4])
    assert h.hash_array(pa.array([], pa.string())).to_pylist() == []
    assert h.hash_array(pa.array([None, None], pa.string())).to_pylist() == [None, None]


def test_in_thread_passes_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    values = [f"user{i}@example.org" if i % 7 else None for i in range(10_000)]
    monkeypatch.setattr(hashers, "_LANES", 3000)  # several passes, a short last one
    assert KeyedBlake2s(KEY).hash_array(pa.array(values)).to_pylist() == blake(KEY, values)


def test_numbers_hash_as_their_text() -> None:
    assert KeyedBlake2s(KEY).hash_array(pa.array([42, None], pa.int64())).to_pylist() == blake(KEY, ["42", None])


def test_long_keys_are_reduced_to_their_digest() -> None:
    key = bytes(range(100))
    reduced = hashlib.blake2s(key).digest()
    assert KeyedBlake2s(key).hash_array(pa.array(["m"])).to_pylist() == blake(reduced, ["m"])


def test_deterministic_and_key_dependent() -> None:
    arr = pa.array(["alice", "bob", "alice"])
    out = KeyedBlake2s(KEY).hash_array(arr).to_pylist()
    assert out[0] == out[2] != out[1]
    assert KeyedBlake2s(b"other").hash_array(arr).to_pylist()[0] != out[0]


def test_hmac_sha256_on_request() -> None:
    values = ["x" * n for n in (0, 1, 55, 64, 65, 200)] + [None]
    expected = [None if v is None else hmac.new(KEY, v.encode(), hashlib.sha256).hexdigest() for v in values]
    assert hasher("hmac-sha256", KEY).hash_array(pa.array(values)).to_pylist() == expected
    assert isinstance(hasher("blake2s-keyed", KEY), KeyedBlake2s)
    with pytest.raises(ValueError, match="unknown hash algorithm"):
        hasher("md5", KEY)


def test_the_key_is_not_in_the_repr() -> None:
    for h in (KeyedBlake2s(KEY), HmacSha256(KEY)):
        assert "k" * 8 not in repr(h)
    for make in (KeyedBlake2s, HmacSha256):
        with pytest.raises(ValueError, match="empty"):
            make(b"")


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Worker processes for arrays of 1,000 values or more, stopped after the test."""
    monkeypatch.setattr(hashers, "_POOL_MIN_ROWS", 1000)
    monkeypatch.setattr(hashers, "_cores", lambda: 2)
    hashers.shutdown()
    yield
    hashers.shutdown()


def running_workers() -> list[int]:
    found = hashers._POOL[0] if hashers._POOL else None
    return found.pids() if found else []


@pytest.mark.usefixtures("workers")
def test_large_arrays_go_to_worker_processes_and_agree() -> None:
    # Nulls, empty values, one to four blocks, a slice that does not start at offset 0, large offsets.
    values = [None if i % 11 == 0 else "" if i % 13 == 0 else "é" * (i % 130) + f"-{i}" for i in range(70_000)]
    arr = pa.array(values)
    h = KeyedBlake2s(KEY)
    assert h.hash_array(arr.slice(5, 69_000)).to_pylist() == blake(KEY, values[5:69_005])
    assert len(running_workers()) == 2
    assert h.hash_array(arr.cast(pa.large_string())).to_pylist() == blake(KEY, values)
    other = b"another key"
    assert KeyedBlake2s(other).hash_array(arr).to_pylist() == blake(other, values)  # same workers, its own key


@pytest.mark.usefixtures("workers")
def test_concurrent_callers_each_get_their_own_digests() -> None:
    h = KeyedBlake2s(KEY)
    inputs = [[f"{t}-{i}" for i in range(20_000)] for t in range(5)]
    with ThreadPoolExecutor(5) as threads:
        outputs = list(threads.map(lambda values: h.hash_array(pa.array(values)).to_pylist(), inputs))
    assert outputs == [blake(KEY, values) for values in inputs]


@pytest.mark.usefixtures("workers")
def test_a_dead_worker_is_replaced(caplog: pytest.LogCaptureFixture) -> None:
    values = [f"v{i}" for i in range(5_000)]
    h = KeyedBlake2s(KEY)
    assert h.hash_array(pa.array(values)).to_pylist() == blake(KEY, values)
    first = running_workers()
    for pid in first:
        os.kill(pid, signal.SIGKILL)
    while running_workers():
        time.sleep(0.01)
    assert h.hash_array(pa.array(values)).to_pylist() == blake(KEY, values)
    assert running_workers() and not set(running_workers()) & set(first)
    assert "instead" not in caplog.text


@pytest.mark.usefixtures("workers")
def test_a_worker_dying_mid_call_leaves_that_call_in_process(caplog: pytest.LogCaptureFixture) -> None:
    values = [f"v{i}" for i in range(5_000)]
    h = KeyedBlake2s(KEY)
    h.hash_array(pa.array(values))
    for pid in running_workers():
        os.kill(pid, signal.SIGSTOP)  # looks alive when taken, then dies while the call waits
    threading.Timer(0.2, lambda: [os.kill(pid, signal.SIGKILL) for pid in running_workers()]).start()
    assert h.hash_array(pa.array(values)).to_pylist() == blake(KEY, values)
    assert "hashing in this process instead: a hash worker exited" in caplog.text


@pytest.mark.usefixtures("workers")
def test_workers_that_cannot_start_leave_hashing_in_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pool.sys, "executable", "/bin/false")
    values = [f"v{i}" for i in range(5_000)]
    assert KeyedBlake2s(KEY).hash_array(pa.array(values)).to_pylist() == blake(KEY, values)
    assert "hashing in this process instead" in caplog.text
    assert hashers._POOL == [None]  # not tried again
    assert KeyedBlake2s(KEY).hash_array(pa.array(values)).to_pylist() == blake(KEY, values)


@pytest.mark.usefixtures("workers")
def test_the_key_is_not_in_a_workers_arguments_or_environment() -> None:
    key = b"a-very-secret-key-0123456789"
    KeyedBlake2s(key).hash_array(pa.array([f"v{i}" for i in range(5_000)]))
    pids = running_workers()
    assert pids
    start, _ = blake2s.keyed_state(key)
    for pid in pids:
        for part in ("cmdline", "environ"):
            exposed = Path(f"/proc/{pid}/{part}").read_bytes()
            assert key not in exposed
            assert start.tobytes() not in exposed and start.tobytes().hex().encode() not in exposed


def test_workers_exit_with_the_module_even_when_it_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "module.py"
    script.write_text(
        "import os, sys, time\n"
        "import pyarrow as pa\n"
        "from m4d.modules.keyed import KeyedBlake2s, hashers\n"
        "hashers._cores = lambda: 2\n"
        "KeyedBlake2s(b'k').hash_array(pa.array([str(i) for i in range(40_000)]))\n"
        "print(' '.join(map(str, hashers._POOL[0].pids())), flush=True)\n"
        "time.sleep(60)\n"
    )
    module = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert module.stdout is not None
    workers = [int(p) for p in module.stdout.readline().split()]
    module.stdout.close()
    assert len(workers) == 2
    module.kill()
    module.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() and "Z" not in _state(p) for p in workers):
        assert time.monotonic() < deadline, "hash workers outlived their module"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "Z"


@pytest.mark.usefixtures("workers")
def test_a_worker_killed_mid_call_never_answers_a_later_request(caplog: pytest.LogCaptureFixture) -> None:
    # Two workers share a call; the first is killed while both are working. The second still owes its
    # reply: it must not be reused, or the next caller would read that stale reply as its own digests.
    h = KeyedBlake2s(KEY)
    h.hash_array(pa.array([f"w{i}" for i in range(5_000)]))
    first, second = running_workers()
    for pid in (first, second):
        os.kill(pid, signal.SIGSTOP)

    def kill_one_resume_other() -> None:
        os.kill(first, signal.SIGKILL)
        os.kill(second, signal.SIGCONT)

    threading.Timer(0.3, kill_one_resume_other).start()
    values = [f"during-{i}" for i in range(40_000)]
    assert h.hash_array(pa.array(values)).to_pylist() == blake(KEY, values)
    assert "hashing in this process instead" in caplog.text
    for n in range(3):
        values = [f"after-{n}-{i}" for i in range(20_000)]
        assert h.hash_array(pa.array(values)).to_pylist() == blake(KEY, values)
    assert first not in running_workers() and second not in running_workers()


@pytest.mark.usefixtures("workers")
def test_stopping_the_workers_while_a_call_runs() -> None:
    h = KeyedBlake2s(KEY)
    h.hash_array(pa.array([f"w{i}" for i in range(5_000)]))
    busy = running_workers()
    for pid in busy:
        os.kill(pid, signal.SIGSTOP)  # the call below waits on them
    values = [f"{i:020d}" for i in range(40_000)]
    result: list[list[str | None]] = []
    caller = threading.Thread(target=lambda: result.append(h.hash_array(pa.array(values)).to_pylist()))
    caller.start()
    time.sleep(0.2)
    hashers.shutdown()  # the workers in use are not closed under their caller...
    for pid in busy:
        os.kill(pid, signal.SIGCONT)
    caller.join()
    assert result[0] == blake(KEY, values)
    deadline = time.monotonic() + 10
    while any(_state(pid) != "Z" for pid in busy):  # ...but when it gives them back
        assert time.monotonic() < deadline, "stopped workers kept running"
        time.sleep(0.05)
    assert h.hash_array(pa.array(values[:20_000])).to_pylist() == blake(KEY, values[:20_000])  # a new pool


def test_a_large_region_is_given_back_when_batches_are_small_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "_REGION_KEEP", 1 << 20)
    workers = pool.Pool(1)
    start, empty = blake2s.keyed_state(KEY)
    try:
        for n, width in ((100_000, 40), (1_000, 10)):
            values = [f"{i:0{width}d}" for i in range(n)]
            out = np.empty((n, 64), np.uint8)
            workers.hexdigest(start, empty, pa.array(values, pa.binary()), out, 1_000)
            assert [bytes(row).decode() for row in out] == blake(KEY, values)
            (worker,) = workers._started
            assert (worker._size > 8 << 20) if n == 100_000 else (worker._size == 1 << 20)
    finally:
        workers.close()


def test_idle_workers_stop_and_start_again_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    # A module between reads holds no hash worker: memory comes back; the next large batch starts one.
    monkeypatch.setattr(pool, "_IDLE_EXIT", 0.4)
    workers = pool.Pool(2)
    start, empty = blake2s.keyed_state(KEY)
    values = [f"idle-{i}" for i in range(4_000)]
    out = np.empty((len(values), 64), np.uint8)
    try:
        workers.hexdigest(start, empty, pa.array(values, pa.binary()), out, 1_000)
        first = workers.pids()
        assert len(first) == 2
        deadline = time.monotonic() + 10
        while workers.pids():
            assert time.monotonic() < deadline, "idle workers kept running"
            time.sleep(0.05)
        assert all(_state(pid) == "Z" for pid in first)
        workers.hexdigest(start, empty, pa.array(values, pa.binary()), out, 1_000)
        assert [bytes(row).decode() for row in out] == blake(KEY, values)
        assert workers.pids() and not set(workers.pids()) & set(first)
    finally:
        workers.close()
