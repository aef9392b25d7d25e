"""The policy actions modules enforce, by the names the policy connector produces.

One place for the names and their options, so the transforms, the module descriptors and the
configuration checks agree.
"""

from __future__ import annotations

from typing import Final

REDACT_COLUMN: Final = "RedactColumn"
REMOVE_COLUMN: Final = "RemoveColumn"
HASH_COLUMN: Final = "HashColumn"
FILTER_ROWS: Final = "FilterRows"

ALL_ACTIONS: Final = (REDACT_COLUMN, REMOVE_COLUMN, HASH_COLUMN, FILTER_ROWS)

# RedactColumn: options.value replaces every value (default below).
REDACT_DEFAULT_VALUE: Final = "XXXXXXXX"
OPTION_VALUE: Final = "value"
# HashColumn: options.keyRef names the credential holding the key; options.algorithm picks the hash.
OPTION_KEY_REF: Final = "keyRef"
OPTION_ALGORITHM: Final = "algorithm"
# blake2s-keyed: BLAKE2s-256 in keyed mode (vectorised); hmac-sha256: HMAC-SHA256 (hashlib, slower).
HASH_ALGORITHMS: Final = ("blake2s-keyed", "hmac-sha256")
HASH_DEFAULT_ALGORITHM: Final = "blake2s-keyed"
# The credential entry holding a hash key (a credential with a single entry may use any name).
KEY_ENTRY: Final = "key"
# FilterRows: options.predicate is an expression in the predicate language (m4d.modules.predicate).
OPTION_PREDICATE: Final = "predicate"

# Options each action accepts; anything else is a configuration error caught at start-up.
ACTION_OPTIONS: Final[dict[str, frozenset[str]]] = {
    REDACT_COLUMN: frozenset({OPTION_VALUE}),
    REMOVE_COLUMN: frozenset(),
    HASH_COLUMN: frozenset({OPTION_KEY_REF, OPTION_ALGORITHM}),
    FILTER_ROWS: frozenset({OPTION_PREDICATE}),
}
