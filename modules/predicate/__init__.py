"""The row-filter language of FilterRows: parsed by a real parser into pyarrow compute expressions."""

from m4d.modules.predicate.compile import compile_predicate
from m4d.modules.predicate.lexer import PredicateError
from m4d.modules.predicate.parser import Node, columns, parse

__all__ = ["Node", "PredicateError", "columns", "compile_predicate", "parse"]
