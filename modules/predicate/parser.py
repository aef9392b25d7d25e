"""A recursive-descent parser for row filters, producing a small syntax tree.

Grammar (keywords case-insensitive):

    predicate  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" predicate ")" | test
    test       := operand op operand
                | column "is" ["not"] "null"
                | column ["not"] "in" "(" literal ("," literal)* ")"
                | column ["not"] "between" literal "and" literal
    operand    := column | literal
    column     := name | "quoted name"
    literal    := 'string' | number | true | false | date 'YYYY-MM-DD' | timestamp 'YYYY-MM-DD HH:MM:SS'
    op         := = | == | != | <> | < | <= | > | >=
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as Lit

from m4d.modules.predicate.lexer import PredicateError, Token, tokenize

MAX_DEPTH = 64
MAX_IN_LIST = 10_000

CompareOp = Lit["==", "!=", "<", "<=", ">", ">="]
_OPS: dict[str, CompareOp] = {"=": "==", "==": "==", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Literal:
    value: str | int | float | bool
    kind: Lit["string", "number", "bool", "date", "timestamp"]


@dataclass(frozen=True)
class Compare:
    op: CompareOp
    left: Column | Literal
    right: Column | Literal


@dataclass(frozen=True)
class InList:
    column: Column
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    column: Column
    negated: bool = False


@dataclass(frozen=True)
class Between:
    column: Column
    low: Literal
    high: Literal
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | InList | IsNull | Between | And | Or | Not


def columns(node: Node) -> set[str]:
    """Every column a predicate reads."""
    match node:
        case Compare(left=left, right=right):
            return {side.name for side in (left, right) if isinstance(side, Column)}
        case InList(column=c) | IsNull(column=c) | Between(column=c):
            return {c.name}
        case And(items=items) | Or(items=items):
            return set().union(*(columns(i) for i in items))
        case Not(item=item):
            return columns(item)
    raise TypeError(node)


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, expected: str) -> PredicateError:
        found = "the end" if self.tok.kind == "end" else repr(self.tok.text)
        return PredicateError(f"expected {expected} at position {self.tok.pos} of the predicate, found {found}")

    def take(self, kind: str, text: str | None = None) -> Token | None:
        if self.tok.kind == kind and (text is None or self.tok.text == text):
            self.i += 1
            return self.tokens[self.i - 1]
        return None

    def need(self, kind: str, text: str | None = None, what: str = "") -> Token:
        token = self.take(kind, text)
        if token is None:
            raise self.fail(what or text or kind)
        return token

    def parse(self) -> Node:
        node = self.or_()
        if self.tok.kind != "end":
            raise self.fail("'and', 'or' or the end")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.take("keyword", "or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.take("keyword", "and"):
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise PredicateError(f"predicate nests deeper than {MAX_DEPTH} levels")
        try:
            if self.take("keyword", "not"):
                return Not(self.not_())
            if self.take("lparen"):
                node = self.or_()
                self.need("rparen", what="')'")
                return node
            return self.test()
        finally:
            self.depth -= 1

    def test(self) -> Node:
        left = self.operand()
        if isinstance(left, Column):
            if self.take("keyword", "is"):
                negated = self.take("keyword", "not") is not None
                self.need("keyword", "null", what="'null'")
                return IsNull(left, negated)
            negated = self.take("keyword", "not") is not None
            if self.take("keyword", "in"):
                return InList(left, self.in_list(), negated)
            if self.take("keyword", "between"):
                low = self.literal()
                self.need("keyword", "and", what="'and'")
                return Between(left, low, self.literal(), negated)
            if negated:
                raise self.fail("'in' or 'between' after 'not'")
        op = self.take("op")
        if op is None:
            raise self.fail("a comparison operator")
        right = self.operand()
        if isinstance(left, Literal) and isinstance(right, Literal):
            raise PredicateError(f"comparison at position {op.pos} compares two literals; name a column")
        return Compare(_OPS[op.text], left, right)

    def in_list(self) -> tuple[Literal, ...]:
        self.need("lparen", what="'(' after 'in'")
        values = [self.literal()]
        while self.take("comma"):
            values.append(self.literal())
            if len(values) > MAX_IN_LIST:
                raise PredicateError(f"an 'in' list may hold at most {MAX_IN_LIST} values")
        self.need("rparen", what="')' closing the 'in' list")
        return tuple(values)

    def operand(self) -> Column | Literal:
        token = self.take("name")
        if token is not None:
            return Column(token.text)
        return self.literal()

    def literal(self) -> Literal:
        tok = self.tok
        if self.take("string"):
            return Literal(tok.text, "string")
        if self.take("number"):
            text = tok.text
            is_int = text.lstrip("+-").isdigit()
            return Literal(int(text) if is_int else float(text), "number")
        if self.take("keyword", "true") or self.take("keyword", "false"):
            return Literal(tok.text == "true", "bool")
        if self.take("keyword", "date") or self.take("keyword", "timestamp"):
            text = self.need("string", what=f"a quoted {tok.text} after '{tok.text}'").text
            return Literal(text, "date" if tok.text == "date" else "timestamp")
        raise self.fail("a column or a literal")


def parse(source: str) -> Node:
    """The syntax tree of a predicate, or PredicateError naming where it went wrong."""
    if not source.strip():
        raise PredicateError("the predicate is empty")
    return _Parser(source).parse()
