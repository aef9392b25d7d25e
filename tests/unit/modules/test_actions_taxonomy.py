"""The modules' action names and options agree with the built-in taxonomy that policies are checked against."""

from m4d.modules import actions as A
from m4d.modules.keyed import ALGORITHMS
from m4d.taxonomy import default_taxonomy


def test_every_hash_algorithm_the_module_serves_is_allowed_by_the_taxonomy_and_no_other() -> None:
    tax = default_taxonomy()
    assert A.HASH_ALGORITHMS == ALGORITHMS
    for algorithm in A.HASH_ALGORITHMS:
        action = {"name": A.HASH_COLUMN, "columns": ["c"], "options": {"keyRef": "k", "algorithm": algorithm}}
        assert tax.check_action(action) == []
    unknown = {"name": A.HASH_COLUMN, "columns": ["c"], "options": {"keyRef": "k", "algorithm": "md5"}}
    assert tax.check_action(unknown) != []


def test_the_taxonomy_allows_the_options_each_action_takes() -> None:
    tax = default_taxonomy()
    samples = {A.OPTION_VALUE: "x", A.OPTION_KEY_REF: "k", A.OPTION_ALGORITHM: A.HASH_DEFAULT_ALGORITHM}
    samples[A.OPTION_PREDICATE] = "a = 1"
    for name, options in A.ACTION_OPTIONS.items():
        action = {"name": name, "columns": ["c"], "options": {o: samples[o] for o in options}}
        assert tax.check_action(action) == [], name
