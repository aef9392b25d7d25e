"""mypy over the whole `m4d` namespace, with the folder mapping of pyproject's `[tool.setuptools.package-dir]`.

mypy derives a module's name from its path (`generator/tree.py` would be `generator.tree`) and cannot follow
the import finder of an editable install, so this names every source file's module itself
(`m4d.generator.tree`) and runs mypy's build on that list, in place of the `-p m4d` it would resolve.
Errors point at the real files. Options come from pyproject.toml as usual; extra arguments pass through.

    python tools/typecheck.py [mypy options]
"""

from __future__ import annotations

import sys
import time
import tomllib
from pathlib import Path

from mypy.fscache import FileSystemCache
from mypy.main import process_options, run_build
from mypy.modulefinder import BuildSource
from mypy.util import FancyFormatter, count_stats

ROOT = Path(__file__).resolve().parent.parent


def layout() -> dict[str, Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {package: ROOT / folder for package, folder in config["tool"]["setuptools"]["package-dir"].items()}


def sources() -> list[BuildSource]:
    found: list[BuildSource] = []
    for package, folder in layout().items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            module = ".".join((package, *parts))
            found.append(BuildSource(str(path.relative_to(ROOT)), module, base_dir=str(ROOT)))
    return found


def main() -> int:
    started = time.time()
    fscache = FileSystemCache()
    argv = ["--config-file", str(ROOT / "pyproject.toml"), *sys.argv[1:], "-p", "m4d"]
    _, options = process_options(argv, fscache=fscache)  # the `-p m4d` it resolves is replaced below
    found = sources()
    _, messages, blockers = run_build(found, options, fscache, started, sys.stdout, sys.stderr)
    errors, notes, files = count_stats(messages)
    formatter = FancyFormatter(sys.stdout, sys.stderr, options.hide_error_codes)
    if errors:
        print(formatter.format_error(errors, files, len(found), blockers=blockers, use_color=options.color_output))
    else:
        print(formatter.format_success(len(found), options.color_output))
    if messages and notes < len(messages):
        return 2 if blockers else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
