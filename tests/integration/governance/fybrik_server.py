"""A small server of ours that speaks the Fybrik connector APIs, as specified in tests/data/fybrik.

It checks every request against the OpenAPI spec (path, method, required headers, body schema) and every
answer it gives against the spec's response schema, so a client that works with it works with a
connector that follows the spec. What it answers comes from a `handler`; `faults` make it misbehave on
purpose (down, slow, flaky, malformed) for the fault tests.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT / "tests" / "data" / "fybrik"
_BASE = "https://fybrik.test/taxonomy/"
_SPEC_PREFIX = "../../charts/fybrik/files/taxonomy/"

Handler = Callable[[dict[str, Any]], tuple[int, Any]]


def shared_dir() -> Path:
    if not (SHARED / "connectors" / "api").is_dir():
        pytest.fail(f"the Fybrik connector specs are missing: expected {SHARED} (vendored test data)")
    return SHARED


def _registry() -> Registry[Any]:
    pairs = [
        (_BASE + p.name, DRAFT7.create_resource(json.loads(p.read_text())))
        for p in sorted((shared_dir() / "taxonomy").glob("*.json"))
    ]
    return Registry().with_resources(pairs)


@dataclass
class Operation:
    path: str
    method: str
    headers: list[str]
    request: Draft7Validator
    responses: dict[int, Draft7Validator]


@cache
def operations(spec_name: str) -> dict[tuple[str, str], Operation]:
    spec = yaml.safe_load((shared_dir() / "connectors" / "api" / spec_name).read_text())
    registry = _registry()

    def validator(ref: str) -> Draft7Validator:
        assert ref.startswith(_SPEC_PREFIX), ref
        return Draft7Validator({"$ref": _BASE + ref[len(_SPEC_PREFIX) :]}, registry=registry)

    out = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            headers = [p["name"] for p in op.get("parameters", []) if p["in"] == "header" and p.get("required")]
            body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            responses = {
                int(code): validator(r["content"]["application/json"]["schema"]["$ref"])
                for code, r in op["responses"].items()
                if "content" in r
            }
            out[(method.upper(), path)] = Operation(path, method.upper(), headers, validator(body), responses)
    return out


@dataclass
class Faults:
    """How the server misbehaves: `status` for every call, `slow` seconds before answering, `flaky` calls
    that fail with 503 before one succeeds, `body` sent as is (e.g. not JSON)."""

    status: int | None = None
    slow: float = 0.0
    flaky: int = 0
    body: bytes | None = None


@dataclass
class SpecServer:
    spec: str
    handler: Handler
    faults: Faults = field(default_factory=Faults)
    requests: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        op = operations(self.spec).get((method, path))
        if op is None:
            return 404, b'{"message": "no such operation"}'
        missing = [h for h in op.headers if h.lower() not in {k.lower() for k in headers}]
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, b'{"message": "body is not JSON"}'
        problems = [f"header {h} is required" for h in missing]
        problems += [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in op.request.iter_errors(body)]
        if problems:
            self.violations.extend(problems)
            return 400, json.dumps({"message": "; ".join(problems)}).encode()
        self.requests.append((headers, body))
        faults = self.faults
        if faults.slow:
            time.sleep(faults.slow)
        if faults.flaky > 0:
            faults.flaky -= 1
            return 503, b"try again"
        if faults.status is not None:
            return faults.status, b"server trouble"
        if faults.body is not None:
            return 200, faults.body
        status, answer = self.handler(body)
        if status in op.responses and not faults.body:
            errors = [e.message for e in op.responses[status].iter_errors(answer)]
            assert not errors, f"the test server's own answer breaks the spec: {errors}"
        return status, json.dumps(answer).encode()


@contextmanager
def serve(server: SpecServer) -> Iterator[SpecServer]:
    class Handle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            status, body = server.answer("POST", self.path, dict(self.headers.items()), raw)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
