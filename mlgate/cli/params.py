"""Click parameter types for mlgate's flag values: a value they refuse is a usage error (exit 2) with a message."""

from __future__ import annotations

from typing import Any

import click

from mlgate.config.durations import EXAMPLES, parse_duration
from mlgate.config.moments import EXAMPLES as MOMENT_EXAMPLES
from mlgate.config.moments import parse_moment
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
    """Canary weights in percent (``--steps 5,25,50,100``): strictly increasing, each in (0, 100]; the first may be
    ``shadow`` (``--steps shadow,5,25,100``): the candidate answers mirrored requests before it gets traffic."""

    name = "steps"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[float | str]:
        if isinstance(value, list):
            return value
        from mlgate.release.rollout.policy import SHADOW, parse_steps  # the rollout policy's grammar, read when used

        try:
            plan: list[float | str] = list(parse_steps(value))
            return ["shadow", *plan[1:]] if plan[0] == SHADOW else plan  # as the rollout's own grammar takes it
        except MlgateError as exc:
            if "has a shadow step" in exc.message:
                self.fail(f"{value!r}: shadow may only be the first step, once: write it like shadow,5,25", param, ctx)
            self.fail(
                f"{value!r} is not a list of percentages that increase, each in (0, 100]: write it like 5,25,50,100",
                param,
                ctx,
            )


class Moment(click.ParamType):
    """A moment (``--at 2025-03-04T03:12``, ``--at "2h ago"``): epoch seconds; the grammar of mlgate.config.moments."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_moment(value, what="")
        except MlgateError as exc:
            self.fail(f"{exc.message}; write it like {MOMENT_EXAMPLES}", param, ctx)


DURATION = Duration()
STEPS = Steps()
MOMENT = Moment()
