"""Client layers of the external governance systems: data catalogs and policy managers.

Each connector translates its system's answers into typed, taxonomy-validated values and its failures into
the project's error tree (temporary: requeue; permanent: status condition).
"""

from typing import Any

import yaml

# libyaml's loader when present: policy and catalog files are parsed on every change, and the pure-Python
# parser is ten times slower.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (C or Python)
