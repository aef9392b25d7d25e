"""Readiness, liveness and startup probes (exec, HTTP, TCP) with the kubelet's timing and thresholds."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ExecIn = Callable[[list[str], float], int]  # argv, timeout -> exit code, run inside the container


def _port(value: Any, ports: dict[str, int]) -> int:
    if isinstance(value, int):
        return value
    if str(value).isdigit():
        return int(value)
    if value in ports:
        return ports[value]
    raise ValueError(f"the container has no port named {value!r}")


def run_probe(probe: dict[str, Any], pod_ip: str, ports: dict[str, int], exec_in: ExecIn) -> tuple[bool, str]:
    """One probe attempt: (success, why it failed)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            code = exec_in([str(a) for a in probe["exec"].get("command") or []], timeout)
            return code == 0, f"command exited {code}"
        if "httpGet" in probe:
            return _http(probe["httpGet"], pod_ip, ports, timeout)
        if "tcpSocket" in probe:
            action = probe["tcpSocket"]
            port = _port(action["port"], ports)
            with socket.create_connection((action.get("host") or pod_ip, port), timeout=timeout):
                return True, ""
        return False, f"probe handler {sorted(set(probe) & {'grpc'}) or 'none'} is not supported by this node"
    except subprocess.TimeoutExpired:
        return False, f"command timed out after {timeout:g}s"
    except (OSError, ValueError, http.client.HTTPException) as error:
        return False, str(error)


def _http(action: dict[str, Any], pod_ip: str, ports: dict[str, int], timeout: float) -> tuple[bool, str]:
    host, port = action.get("host") or pod_ip, _port(action["port"], ports)
    if action.get("scheme", "HTTP").upper() == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the kubelet does not verify probe certificates either
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {h["name"]: h["value"] for h in action.get("httpHeaders") or []}
    headers.setdefault("User-Agent", "kube-probe/1.36")
    try:
        connection.request("GET", action.get("path") or "/", headers=headers)
        status = connection.getresponse().status
    finally:
        connection.close()
    return 200 <= status < 400, f"HTTP probe failed with statuscode: {status}"


@dataclass
class ProbeState:
    """One probe of one container run: when it is due, and its result under the thresholds."""

    probe: dict[str, Any]
    started: float  # when the container started (monotonic)
    initial: bool  # the result before the first probe (readiness: False, liveness: True)
    result: bool = field(init=False)
    message: str = ""
    _next: float = field(init=False)
    _successes: int = 0
    _failures: int = 0

    def __post_init__(self) -> None:
        self.result = self.initial
        self._next = self.started + float(self.probe.get("initialDelaySeconds") or 0)

    @property
    def period(self) -> float:
        return float(self.probe.get("periodSeconds") or 10)

    def due(self, now: float) -> bool:
        return now >= self._next

    def record(self, ok: bool, message: str, now: float) -> bool:
        """Count one attempt; True when the result changed."""
        self._next = now + self.period
        before = self.result
        if ok:
            self._successes, self._failures = self._successes + 1, 0
            if self._successes >= int(self.probe.get("successThreshold") or 1):
                self.result, self.message = True, ""
        else:
            self._successes, self._failures = 0, self._failures + 1
            self.message = message
            if self._failures >= int(self.probe.get("failureThreshold") or 3):
                self.result = False
        return self.result != before


def now() -> float:
    return time.monotonic()
