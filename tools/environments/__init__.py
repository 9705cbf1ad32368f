"""Environments: the task formats of arXiv 2603.24202 (Table 1) plus statement-and-tests.

`get_environment(name)` gives one of `code`, `induction`, `abduction`, `deduction`, `fuzzing`
(or one a user registered with `register`). In every one the teacher writes programs and
inputs and the sandbox computes the gold answers.
"""

from __future__ import annotations

from stepstones.tools.environments.abduction import ABDUCTION, AbductionDraft
from stepstones.tools.environments.base import (
    ENVIRONMENTS,
    Environment,
    Truth,
    get_environment,
    register,
)
from stepstones.tools.environments.code import CODE, CodeDraft
from stepstones.tools.environments.deduction import DEDUCTION, DeductionDraft
from stepstones.tools.environments.fuzzing import FUZZING, FuzzingDraft
from stepstones.tools.environments.gold import GoldRun, SandboxFailure, execute
from stepstones.tools.environments.induction import INDUCTION, InductionDraft

ENVIRONMENT_NAMES = ("code", "induction", "abduction", "deduction", "fuzzing")

__all__ = [
    "ABDUCTION",
    "CODE",
    "DEDUCTION",
    "ENVIRONMENTS",
    "ENVIRONMENT_NAMES",
    "FUZZING",
    "INDUCTION",
    "AbductionDraft",
    "CodeDraft",
    "DeductionDraft",
    "Environment",
    "FuzzingDraft",
    "GoldRun",
    "InductionDraft",
    "SandboxFailure",
    "Truth",
    "execute",
    "get_environment",
    "register",
]
