"""The taxonomy: JSON Schemas for connection kinds, formats, actions, interfaces and app-context fields.

Layered (built-in layers, then an operator's) and compatible with Fybrik's taxonomy; see docs/governance.md.
"""

from m4d.taxonomy.taxonomy import Taxonomy, default_taxonomy

__all__ = ["Taxonomy", "default_taxonomy"]
