"""Click parameter types for mlgate's flag values: a value they refuse is a usage error (exit 2) with a message."""

from __future__ import annotations

from typing import Any

import click

from mlgate.config.durations import EXAMPLES, parse_duration
from mlgate.exceptions import MlgateError


class Duration(click.ParamType):
    """A duration flag (``--bake 250ms``, ``--window 1h``, ``--every 30s``): seconds as a float."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            return parse_duration(value)  # a number (a default such as 5.0) is seconds
        except MlgateError:
            self.fail(f"{value!r} is not a duration: write it like {EXAMPLES}", param, ctx)


class Steps(click.ParamType):
    """Canary weights in percent (``--steps 5,25,50,100``): strictly increasing, each in (0, 100]."""

    name = "steps"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[float]:
        if isinstance(value, list):
            return value
        from mlgate.release.rollout.policy import parse_steps  # the rollout policy's grammar, read when used

        try:
            return list(parse_steps(value))
        except MlgateError:
            self.fail(
                f"{value!r} is not a list of percentages that increase, each in (0, 100]: write it like 5,25,50,100",
                param,
                ctx,
            )


DURATION = Duration()
STEPS = Steps()
