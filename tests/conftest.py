"""Fixtures for the whole suite, registered as plugins so every tier can ask for them.

Servers start only when a test asks for them: the unit tier stays fast and never starts one.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The helpers live in the repository's `tests` package; make the root importable however pytest was
# started (its importlib import mode does not add it).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

pytest_plugins = (
    "tests.testenv.fixtures",
    "tests.integration.cluster.fixtures",
    "tests.testenv.argocd_fixtures",
    "tests.testenv.reaped",
)
