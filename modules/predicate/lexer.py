"""Tokens of the row-filter language: identifiers, quoted names, literals, operators, a few keywords.

Anything else (semicolons, comments, function calls, backslashes) is rejected with its position, so a
predicate can never smuggle in another language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from m4d.errors import PermanentError

MAX_LENGTH = 4096
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "date", "timestamp", "between"})

TokenKind = Literal["name", "string", "number", "op", "lparen", "rparen", "comma", "keyword", "end"]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")+")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|<>|!=|==|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
    """,
    re.VERBOSE,
)


class PredicateError(PermanentError):
    """A predicate that does not parse or does not fit the asset's schema."""

    reason = "InvalidPredicate"


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # keywords lower-cased; strings and quoted names unescaped
    pos: int


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_LENGTH:
        raise PredicateError(f"predicate is longer than {MAX_LENGTH} characters")
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise PredicateError(f"unexpected character {source[pos]!r} at position {pos} of the predicate")
        kind = match.lastgroup
        text = match.group()
        if kind == "string":
            tokens.append(Token("string", text[1:-1].replace("''", "'"), pos))
        elif kind == "quoted":
            tokens.append(Token("name", text[1:-1].replace('""', '"'), pos))
        elif kind == "name":
            lower = text.lower()
            tokens.append(Token("keyword", lower, pos) if lower in KEYWORDS else Token("name", text, pos))
        elif kind in ("number", "op", "lparen", "rparen", "comma"):
            tokens.append(Token(kind, text, pos))  # type: ignore[arg-type]
        pos = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens
