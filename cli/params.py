"""Option types shared by commands: values a command cannot use are refused before it starts."""

from __future__ import annotations

import math
from typing import Any

import click

from m4d.api.meta import is_dns_subdomain


class Seconds(click.ParamType[float]):
    """A duration in seconds: a finite number above zero (at most a day)."""

    name = "seconds"

    def __init__(self, maximum: float = 86_400.0) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(str(value))
            except ValueError:
                self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or number <= 0 or number > self.maximum:
            self.fail(f"{value!r} must be a number of seconds above 0 and at most {self.maximum:g}", param, ctx)
        return number


SECONDS = Seconds()
PORT = click.IntRange(0, 65_535)


class ClusterName(click.ParamType[str]):
    """A member cluster's name: what `m4d cluster onboard` accepts, a lowercase RFC 1123 subdomain."""

    name = "name"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not is_dns_subdomain(str(value)):
            self.fail(
                f"{str(value)!r} is no member cluster name: it must be a lowercase RFC 1123 subdomain "
                "(a-z, 0-9, '-' and '.', starting and ending alphanumeric)",
                param,
                ctx,
            )
        return str(value)


CLUSTER_NAME = ClusterName()
