"""Gold answers by execution: run a trusted program on inputs and keep its whole outputs.

Every environment's expected outputs come from here, never from what a teacher claims. The run
goes through the ordinary sandbox with `Submission.record_outputs`, so both backends serve it
(judging is host-side and shared) and nothing is truncated. It runs twice in one sandbox call:
outputs that differ between the runs are a `nondeterministic` rejection, since a gold answer
that changes between runs would make a student's reward a coin toss.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from stepstones.tools.sandbox.base import Sandbox, Submission
from stepstones.tools.schema import ExecLimits, IOStyle, Record, Rejection, TestCase

SHOWN_INPUT = 200
"""Characters of an input quoted back in a rejection (enough for the teacher to find it)."""


class SandboxFailure(RuntimeError):
    """The sandbox failed (infrastructure): no gold can be computed, and it is nobody's fault."""


class GoldRun(Record):
    """A program's outputs on inputs, one slot per input, with why a slot is empty."""

    inputs: list[str]
    outputs: list[str | None] = Field(
        description="JSON text (function style) or stdout; "
        "None where the program failed on that input"
    )
    errors: list[str | None] = Field(description="why the output is missing, per input")
    nondeterministic: list[int] = Field(
        default_factory=list, description="inputs whose outputs differed between runs"
    )

    @property
    def ok(self) -> bool:
        """Every input gave one output, the same in every run."""
        return not self.nondeterministic and all(o is not None for o in self.outputs)

    def values(self) -> list[Any]:
        """The outputs as JSON values (function style; call only when `ok`)."""
        return [json.loads(o) for o in self.outputs if o is not None]

    def rejections(self, program: str = "the program") -> list[Rejection]:
        """Why this run cannot give gold answers, phrased for the teacher (at most 3 inputs)."""
        out: list[Rejection] = []
        failed = [i for i, o in enumerate(self.outputs) if o is None]
        for i in failed[:3]:
            out.append(
                Rejection(
                    code="reference_fails",
                    message=(
                        f"{program} fails on input {i} ({_shown(self.inputs[i])}): {self.errors[i]}"
                    ),
                )
            )
        if len(failed) > 3:
            out.append(
                Rejection(
                    code="reference_fails",
                    message=f"{program} fails on {len(failed) - 3} more inputs",
                )
            )
        if self.nondeterministic:
            shown = ", ".join(str(i) for i in self.nondeterministic[:5])
            out.append(
                Rejection(
                    code="nondeterministic",
                    message=(
                        f"{program} gave different outputs in two runs on inputs {shown}: make it "
                        "deterministic (no randomness, time, hash order of sets or ids)"
                    ),
                )
            )
        return out


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_INPUT else text[:SHOWN_INPUT] + "..."


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _json_error(text: str) -> str | None:
    """Why a function-style output is not a usable JSON value (NaN, Infinity), or None."""
    try:
        json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return "returns NaN or Infinity, which is not a JSON value: return finite numbers"
    return None


async def execute(
    sandbox: Sandbox,
    code: str,
    inputs: Sequence[str],
    *,
    entry_point: str = "f",
    io_style: IOStyle = "function",
    limits: ExecLimits | None = None,
    repeats: int = 2,
) -> GoldRun:
    """Run `code` on every input `repeats` times; raises SandboxFailure on infrastructure errors.

    Inputs are JSON argument arrays (function style) or stdin text (stdio), as in `TestCase`.
    """
    tests = [TestCase(input=x, expected="null") for x in inputs]
    sub = Submission(
        code=code,
        tests=tests,
        entry_point=entry_point,
        io_style=io_style,
        limits=limits or ExecLimits(),
        record_outputs=True,
    )
    verdicts = await sandbox.run([sub] * max(1, repeats))
    broken = [v for v in verdicts if v.status == "sandbox_error"]
    if broken:
        raise SandboxFailure(f"sandbox failed on a gold run: {broken[0].error}")
    outputs: list[str | None] = []
    errors: list[str | None] = []
    flaky: list[int] = []
    for i in range(len(tests)):
        runs = [v.tests[i] if i < len(v.tests) else None for v in verdicts]
        bad = next((t for t in runs if t is None or t.status != "passed"), None)
        if bad is not None or runs[0] is None:
            outputs.append(None)
            errors.append(bad.error or bad.status if bad else "no result")
            continue
        got = [t.output if t else None for t in runs]
        if len(set(got)) > 1:
            flaky.append(i)
        text = got[0]
        why = _json_error(text) if io_style == "function" and text is not None else None
        outputs.append(None if why else text)
        errors.append(why)
    whole = next((v for v in verdicts if v.status != "passed"), None)
    if whole is not None and all(o is not None for o in outputs):
        # every input ran, but the run as a whole broke a limit (e.g. total CPU time)
        outputs = [None] * len(outputs)
        errors = [whole.error or whole.status] * len(outputs)
    return GoldRun(inputs=list(inputs), outputs=outputs, errors=errors, nondeterministic=flaky)
