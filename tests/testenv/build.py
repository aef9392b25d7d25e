"""Build (once) and cache the real servers of the integration tier.

    python -m tests.testenv.build [component ...]      # or: python tests/testenv/build.py, or: make testenv

Each component is built with the local Go toolchain through the Go module proxy into
`$M4D_CACHE_DIR/testenv/<component>-<version>/` and a stamp file marks it complete, so later runs return at
once. When KUBEBUILDER_ASSETS holds kube-apiserver and etcd those are used instead and only the rest is
built. Standard library only: this runs before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "tests.testenv"

from . import gomod
from .locate import (
    STAMP_NAME,
    assets_dir,
    assets_problem,
    cache_root,
    cached_binary,
    component_dir,
    from_assets,
    locate,
)
from .lock import exclusive
from .versions import ALL_COMPONENTS, Component

HEARTBEAT_SECONDS = 30
LOG_TAIL_LINES = 40


class BuildError(RuntimeError):
    """A component could not be built; the message quotes the go tool's own error."""


def say(message: str) -> None:
    print(f"[testenv] {message}", flush=True)


def go_env() -> dict[str, str]:
    """The environment for every go command.

    CGO is off so no C compiler is needed (the upstream release binaries are static too); GOTOOLCHAIN=local
    makes a too-old Go fail with a clear message instead of downloading a toolchain; GOWORK=off keeps a
    go.work somewhere above the temp dir out of the way. GOCACHE and GOMODCACHE keep their defaults, so the
    compiled packages are shared with the developer's other Go builds.
    """
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOWORK": "off", "GO111MODULE": "on"})
    return env


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def run_go(component: Component, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> str:
    """Run `go args...` appending to `log`, printing a heartbeat; return stdout+stderr or raise BuildError."""
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"$ go {' '.join(args)}   (in {cwd})\n")
        out.flush()
        proc = subprocess.Popen(["go", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        captured: list[bytes] = []

        def pump() -> None:
            assert proc.stdout is not None
            for chunk in iter(proc.stdout.readline, b""):
                captured.append(chunk)
                out.write(chunk.decode(errors="replace"))
                out.flush()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        while True:
            try:
                proc.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                say(f"{component.name}: go {args[0]} running, {_elapsed(time.monotonic() - started)} elapsed")
        reader.join()
    text = b"".join(captured).decode(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-LOG_TAIL_LINES:])
        raise BuildError(
            f"building {component.name} {component.version} failed: `go {' '.join(args)}` exited "
            f"{proc.returncode} after {_elapsed(time.monotonic() - started)}:\n{tail}\n(full log: {log})"
        )
    return text


def _build_ldflags(component: Component) -> str:
    # -s -w drop the symbol table and DWARF: about a third smaller, and nobody debugs these binaries here.
    return " ".join(("-s", "-w", *component.ldflags))


def build_with_wrapper(component: Component, out: Path, log: Path, env: dict[str, str]) -> None:
    """Build a main package of a module whose go.mod has local-path replaces (see gomod.py)."""
    env = dict(env)
    # -mod=mod lets `go build` fill in the wrapper's go.sum and indirect requirements itself.
    env["GOFLAGS"] = f"{env.get('GOFLAGS', '')} -mod=mod".strip()
    with tempfile.TemporaryDirectory(prefix=f"m4d-testenv-{component.name}-") as tmp:
        workdir = Path(tmp)
        info_text = run_go(
            component,
            ["mod", "download", "-json", f"{component.module}@{component.version}"],
            workdir,
            env,
            log,
        )
        info = json.loads(info_text[info_text.index("{") :])
        if info.get("Error"):
            raise BuildError(f"go mod download {component.module}@{component.version}: {info['Error']}")
        target = gomod.parse(Path(info["GoMod"]).read_text())
        wrapper = gomod.wrapper_go_mod(target, component.version, component.sibling_version or component.version)
        (workdir / "go.mod").write_text(wrapper)
        with log.open("a") as handle:
            handle.write(f"--- generated go.mod ---\n{wrapper}\n")
        _copy_module_files(component, Path(info["Dir"]), out.parent)
        run_go(
            component,
            [
                "build",
                "-trimpath",
                f"-ldflags={_build_ldflags(component)}",
                "-o",
                str(out),
                component.package,
            ],
            workdir,
            env,
            log,
        )


def _download(component: Component, workdir: Path, env: dict[str, str], log: Path) -> dict[str, str]:
    info_text = run_go(
        component, ["mod", "download", "-json", f"{component.module}@{component.version}"], workdir, env, log
    )
    info: dict[str, str] = json.loads(info_text[info_text.index("{") :])
    if info.get("Error"):
        raise BuildError(f"go mod download {component.module}@{component.version}: {info['Error']}")
    return info


def _copy_writable(source: Path, target: Path) -> None:
    # The module cache is read-only; a copy with its modes could not be deleted afterwards.
    shutil.copytree(source, target, copy_function=shutil.copyfile)
    for folder, _, _ in os.walk(target):
        os.chmod(folder, 0o755)


def build_in_source(component: Component, out: Path, log: Path, env: dict[str, str]) -> None:
    """Build a module as the main module, in a writable copy of its source (its own go.mod and go.sum apply)."""
    with tempfile.TemporaryDirectory(prefix=f"m4d-testenv-{component.name}-") as tmp:
        source = Path(_download(component, Path(tmp), env, log)["Dir"])
        workdir = Path(tmp) / "src"
        _copy_writable(source, workdir)
        run_go(
            component,
            ["build", "-trimpath", f"-ldflags={_build_ldflags(component)}", "-o", str(out), component.package],
            workdir,
            env,
            log,
        )
        for name in component.data_dirs:
            _copy_writable(source / name, out.parent / name)


def _copy_module_files(component: Component, module_dir: Path, directory: Path) -> None:
    for name in component.module_files:
        target = directory / Path(name).name
        shutil.copyfile(module_dir / name, target)  # the module cache's copies are read-only
        target.chmod(0o755 if target.suffix == ".sh" else 0o644)


def build_with_install(component: Component, out: Path, log: Path, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix=f"m4d-testenv-{component.name}-", dir=out.parent) as gobin:
        env = dict(env, GOBIN=gobin)
        run_go(
            component,
            [
                "install",
                "-trimpath",
                f"-ldflags={_build_ldflags(component)}",
                f"{component.package}@{component.version}",
            ],
            out.parent,
            env,
            log,
        )
        built = Path(gobin) / Path(component.package).name
        built.replace(out)


def go_version(env: dict[str, str]) -> str:
    if shutil.which("go", path=env.get("PATH")) is None:
        raise BuildError("`go` is not on PATH: install Go >= 1.26 (the only prerequisite of `make testenv`)")
    return subprocess.run(
        ["go", "env", "GOVERSION"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def ensure(component: Component, env: dict[str, str]) -> Path:
    """The cached binary of `component`, building it first under a lock if needed."""
    if (ready := cached_binary(component)) is not None:
        say(f"{component.name} {component.version}: cached at {ready}")
        return ready
    root = cache_root()
    with exclusive(
        root / f"{component.key}.lock", f"[testenv] {component.name}: another build holds the lock, waiting"
    ):
        if (ready := cached_binary(component)) is not None:  # the other build finished it
            say(f"{component.name} {component.version}: built meanwhile at {ready}")
            return ready
        directory = component_dir(component)
        shutil.rmtree(directory, ignore_errors=True)  # a build that died half-way left no stamp
        directory.mkdir(parents=True)
        log = directory / "build.log"
        partial = directory / f"{component.name}.partial"
        say(f"{component.name} {component.version}: building (log: {log})")
        started = time.monotonic()
        builder = build_with_wrapper if component.needs_wrapper else build_with_install
        if component.build_in_source:
            builder = build_in_source
        if component.gotoolchain:
            env = dict(env, GOTOOLCHAIN=component.gotoolchain)
        builder(component, partial, log, env)
        partial.replace(directory / component.name)
        seconds = time.monotonic() - started
        stamp = {
            "component": component.name,
            "version": component.version,
            "go": go_version(env),
            "seconds": round(seconds),
        }
        (directory / STAMP_NAME).write_text(json.dumps(stamp) + "\n")
        say(f"{component.name} {component.version}: built in {_elapsed(seconds)}")
        return directory / component.name


def plan(requested: list[Component]) -> list[Component]:
    """What to build: everything requested, less what a usable KUBEBUILDER_ASSETS provides."""
    if (problem := assets_problem()) is not None:
        say(f"{problem}: ignoring it and building everything")
    assets = assets_dir()
    if assets is None:
        return requested
    todo = []
    for component in requested:
        if (found := from_assets(component)) is not None:
            say(f"{component.name}: using {found} from KUBEBUILDER_ASSETS")
        else:
            todo.append(component)
    return todo


def main(argv: list[str] | None = None) -> int:
    names = [component.name for component in ALL_COMPONENTS]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("components", nargs="*", metavar="COMPONENT", help=f"any of {names} (default: all)")
    args = parser.parse_args(argv)
    if unknown := sorted(set(args.components) - set(names)):
        parser.error(f"unknown component(s) {unknown}; choose from {names}")
    requested = [c for c in ALL_COMPONENTS if not args.components or c.name in args.components]
    started = time.monotonic()
    env = go_env()
    try:
        todo = plan(requested)
        if any(cached_binary(component) is None for component in todo):
            say(f"cache: {cache_root()}; toolchain: {go_version(env)}")
        for component in todo:
            ensure(component, env)
    except BuildError as error:
        print(f"[testenv] ERROR: {error}", file=sys.stderr, flush=True)
        return 1
    for component in requested:
        found = locate(component)
        say(f"{component.name:<24} {found.source:<18} {found.path}")
    for component in requested:
        if locate(component).path is None:
            print(f"[testenv] ERROR: {component.name} missing after the build", file=sys.stderr)
            return 1
    say(f"ready in {_elapsed(time.monotonic() - started)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
