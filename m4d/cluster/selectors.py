"""Kubernetes label selectors: `app=x,tier!=db,env in (a,b),!legacy,region`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from m4d.api.meta_validation import LABEL_VALUE, qualified_name_problem
from m4d.errors import FieldError, InvalidError

Operator = Literal["=", "!=", "in", "notin", "exists", "!"]

_TOKEN = re.compile(
    r"\s*(?:(?P<neg>!)\s*(?P<nkey>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[\w./-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.op:
            case "=":
                return present and value == self.values[0]
            case "!=":
                return not present or value != self.values[0]
            case "in":
                return present and value in self.values
            case "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case _:  # "!"
                return not present


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        parts = []
        for r in self.requirements:
            if r.op in ("=", "!="):
                parts.append(f"{r.key}{r.op}{r.values[0]}")
            elif r.op in ("in", "notin"):
                parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
            elif r.op == "exists":
                parts.append(r.key)
            else:
                parts.append(f"!{r.key}")
        return ",".join(parts)


def _checked(requirement: Requirement, text: str) -> Requirement:
    """Keys and values as the API server checks them (a selector with a bad key is refused, not empty)."""
    problem = qualified_name_problem(requirement.key)
    if problem is not None:
        raise InvalidError("label selector", [FieldError("labelSelector", f"key {requirement.key!r}: {problem}")])
    for value in requirement.values:
        if len(value) > 63 or not LABEL_VALUE.match(value):
            why = "must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
            raise InvalidError("label selector", [FieldError("labelSelector", f"value {value!r}: {why}")])
    return requirement


def parse_selector(text: str | None) -> Selector:
    if not text or not text.strip():
        return Selector()
    requirements: list[Requirement] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise InvalidError("label selector", [FieldError("labelSelector", f"cannot parse {text!r} at {pos}")])
        pos = m.end()
        if m["neg"]:
            requirements.append(Requirement(m["nkey"], "!"))
        elif m["op"]:
            op: Operator = "!=" if m["op"] == "!=" else "="
            requirements.append(Requirement(m["key"], op, (m["value"],)))
        elif m["setop"]:
            values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
            requirements.append(Requirement(m["key"], "in" if m["setop"] == "in" else "notin", values))
        else:
            requirements.append(Requirement(m["key"], "exists"))
    return Selector(tuple(_checked(r, text) for r in requirements))


def selector_from_labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
