"""The sandbox protocol: run untrusted solutions against test inputs, judge outputs on the host.

Backends receive only code and test *inputs*; expected outputs stay in this process and are
compared here, so nothing a solution does inside the sandbox can forge a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import Field

from stepstones.tools.schema import ExecLimits, IOStyle, Problem, Record, TestCase, Verdict


class Submission(Record):
    """One solution to judge: the code, the problem's tests and the limits to run under."""

    code: str
    tests: list[TestCase]
    entry_point: str = "solve"
    io_style: IOStyle = "function"
    limits: ExecLimits = Field(default_factory=ExecLimits)
    check: str | None = Field(
        None,
        description="trusted test code defining check(candidate) (HumanEval style): the one test "
        "passes when check returns; it runs in a process the solution cannot touch, with "
        "`entry_point` as the candidate; tests then holds one TestCase(input='[]', "
        "expected='null')",
    )
    record_outputs: bool = Field(
        False,
        description="a gold run (tools/environments/gold.py): nothing is compared, every test "
        "that ran to completion is `passed` with its whole output, untruncated; only ever set "
        "for trusted reference programs, never for an answer being judged",
    )
    stop_on_failure: bool = Field(
        False,
        description="an all-or-nothing verdict (a student's sample): the local backend stops the "
        "run at the first failed test and leaves the later tests out of the verdict, which is "
        "never `passed` then; off for partial-credit rewards and anything that needs every "
        "outcome",
    )

    @property
    def stops_early(self) -> bool:
        """Whether this run may stop at its first failed test: asked for, and every test's
        outcome is the solution's own (not a gold run, not a trusted `check`)."""
        return self.stop_on_failure and not self.record_outputs and self.check is None

    @classmethod
    def for_problem(
        cls, problem: Problem, code: str, limits: ExecLimits | None = None
    ) -> Submission:
        """A submission of `code` against `problem`, with its calibrated time limit if known."""
        lim = limits or ExecLimits()
        if problem.time_limit_s is not None and limits is None:
            lim = lim.model_copy(update={"cpu_time_s": problem.time_limit_s})
        return cls(
            code=code,
            tests=problem.tests,
            entry_point=problem.entry_point,
            io_style=problem.io_style,
            limits=lim,
        )


class E2BConfig(Record):
    """E2B cloud sandboxes; the API key comes from E2B_API_KEY, never from a config file."""

    template: str | None = None
    max_concurrent: int = Field(16, ge=1, description="hosted tier refuses past ~20")
    sandbox_timeout_s: int = 300
    request_timeout_s: float = 60.0
    max_retries: int = 6


class SandboxConfig(Record):
    """Which backend, how much parallelism, which isolation and how limits are calibrated."""

    backend: Literal["local", "e2b"] = "local"
    workers: int | None = Field(
        None, description="parallel executions; default (local): one more than the CPU count"
    )
    isolation: Literal["auto", "bwrap", "unshare", "none"] = "auto"
    allow_unisolated: bool = Field(
        False, description="run untrusted code with no isolation at all (never the default)"
    )
    limits: ExecLimits = Field(default_factory=ExecLimits)
    time_multiplier: float = Field(8.0, gt=1, description="limit = multiplier x reference CPU")
    time_floor_s: float = Field(
        0.1, gt=0, description="calibrated limits never go below this (docs/sandbox.md: why 0.1 s)"
    )
    e2b: E2BConfig = Field(default_factory=E2BConfig)


@runtime_checkable
class Sandbox(Protocol):
    """Runs submissions in isolation and returns host-judged verdicts, one per submission."""

    name: str

    @property
    def isolation(self) -> str:
        """What isolation is in force, e.g. `bwrap+rlimits`; written into every verdict."""
        ...

    async def run(self, submissions: Sequence[Submission]) -> list[Verdict]:
        """Judge every submission; order is kept; infrastructure failure is `sandbox_error`."""
        ...

    async def aclose(self) -> None:
        """Release workers or remote sandboxes."""
        ...
