"""Students: whoever attempts a problem k times. Every attempt is real code judged in the sandbox.

`LLMStudent` samples any LangChain chat model. `SimulatedStudent` is the simulation mode (a
product feature for offline runs and agent-behaviour experiments, never passed off as an LLM):
with probability sigmoid(slope * (ability - difficulty)) it submits a correct solution,
otherwise a realistic bug: one of the problem's known wrong solutions, or a mutant of the
reference. The sandbox, not the simulation, decides whether each attempt passes.
"""

from __future__ import annotations

import math
import random
import time
from typing import Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, convert_to_messages
from pydantic import Field

from stepstones.agents.families import get_family
from stepstones.agents.models import ModelSettings, endpoint_key
from stepstones.agents.parsing import call_messages, extract_code
from stepstones.agents.sampling import sample
from stepstones.agents.sim_environments import right_answer
from stepstones.agents.usage import UsageMeter
from stepstones.tools.mutate import mutants
from stepstones.tools.schema import ModelCall, Problem, Record, content_hash
from stepstones.tools.task_prompt import task_messages

ABILITY_PRESETS: dict[str, float] = {"novice": 0.2, "intermediate": 0.5, "expert": 0.85}

# Relative odds of each kind of bug a simulated student makes; slow solutions are rarer.
BUG_WEIGHTS: dict[str, float] = {
    "off_by_one": 3.0,
    "edge_case": 3.0,
    "wrong_logic": 2.0,
    "exception": 1.5,
    "too_slow": 1.0,
}


class Solution(Record):
    """One sampled answer: the extracted code (None when there was none) and what it cost."""

    code: str | None
    raw: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = Field(None, description="the model call failed (not the code)")


class Student(Protocol):
    """Anything that writes k attempts at a problem."""

    name: str

    async def solve(self, problem: Problem, k: int) -> list[Solution]:
        """k independent attempts, in sample order."""
        ...


def difficulty(problem: Problem) -> float:
    """Difficulty in (0, 1): the family level scaled by its number of levels, else 0.5."""
    if problem.family is not None and problem.level is not None:
        try:
            levels = get_family(problem.family).levels
        except KeyError:
            return 0.5
        return problem.level / (levels + 1)
    return 0.5


class SimulatedStudent:
    """A simulated student of a given ability in [0, 1] (simulation mode, not a model)."""

    def __init__(self, name: str, ability: float, seed: int = 0, slope: float = 10.0) -> None:
        if not 0.0 <= ability <= 1.0:
            raise ValueError(f"ability must be within [0, 1], got {ability}")
        self.name = name
        self.ability = ability
        self.seed = seed
        self.slope = slope

    def p_correct(self, problem: Problem) -> float:
        """Probability that one attempt is the correct solution."""
        return 1.0 / (1.0 + math.exp(-self.slope * (self.ability - difficulty(problem))))

    def _bug(self, problem: Problem, rng: random.Random) -> str:
        known = dict(problem.wrong_solutions)
        if known:
            kinds = sorted(known)
            weights = [BUG_WEIGHTS.get(k, 1.0) for k in kinds]
            return known[rng.choices(kinds, weights)[0]]
        pool = [code for _, code in mutants(problem.reference_solution, limit=6, seed=0)]
        if pool:
            return rng.choice(pool)
        return f"def {problem.entry_point}(*args):\n    return None\n"

    async def solve(self, problem: Problem, k: int) -> list[Solution]:
        """k attempts drawn from Random(seed, problem, student, sample): reproducible."""
        p = self.p_correct(problem)
        out = []
        for i in range(k):
            rng = random.Random(content_hash(self.seed, problem.id, self.name, i))
            if problem.environment != "code":  # an answer in the environment's form
                if rng.random() < p:
                    reply = right_answer(problem)
                else:
                    reply = self._bug(problem, rng) if problem.wrong_solutions else "I do not know."
                out.append(Solution(code=reply, raw=reply))
                continue
            code = problem.reference_solution if rng.random() < p else self._bug(problem, rng)
            out.append(Solution(code=code))
        return out


def parse_simulated(spec: str, seed: int = 0) -> SimulatedStudent:
    """`sim:NAME` (novice, intermediate, expert) or `sim:ABILITY` (a float in [0, 1])."""
    _, _, arg = spec.partition(":")
    if arg in ABILITY_PRESETS:
        return SimulatedStudent(spec, ABILITY_PRESETS[arg], seed)
    try:
        ability = float(arg)
    except ValueError:
        known = ", ".join(f"sim:{n}" for n in ABILITY_PRESETS)
        raise ValueError(
            f"unknown simulated student {spec!r}: use {known} or sim:0.0-1.0"
        ) from None
    return SimulatedStudent(spec, ability, seed)


class LLMStudent:
    """A student backed by any LangChain chat model; samples k replies and extracts code."""

    def __init__(
        self,
        name: str,
        model: BaseChatModel,
        settings: ModelSettings,
        meter: UsageMeter | None = None,
        key: str | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.settings = settings
        self.meter = meter
        self.key = key or (endpoint_key(name) if ":" in name else name)

    def messages(self, problem: Problem) -> list[BaseMessage]:
        """The solve prompt for `problem`: the very messages the export writes for it
        (`tools/task_prompt.py`), as LangChain messages."""
        return convert_to_messages(task_messages(problem))

    async def solve(self, problem: Problem, k: int) -> list[Solution]:
        """k samples through the model (vLLM's `n` where honoured, else concurrent calls)."""
        messages, started = self.messages(problem), time.time()
        samples = await sample(self.model, messages, k, settings=self.settings, key=self.key)
        if self.meter is not None:
            errors = [s.error for s in samples if s.error is not None]
            self.meter.log_call(
                ModelCall(
                    agent="student",
                    model=self.name,
                    messages=call_messages(messages),
                    replies=[s.text for s in samples if s.error is None],
                    outcome="model_error" if len(errors) == len(samples) else "ok",
                    error=errors[0] if errors else None,
                    at=started,
                    latency_s=round(time.time() - started, 3),
                    input_tokens=sum(s.input_tokens for s in samples),
                    output_tokens=sum(s.output_tokens for s in samples),
                )
            )
        out = []
        for s in samples:
            if self.meter is not None:
                self.meter.record(
                    "student", self.name, s.input_tokens, s.output_tokens, calls=s.requests
                )
            if s.error is not None:
                code = None
            elif problem.environment != "code":  # the answer is the reply; its judge parses it
                code = s.text
            else:
                code = extract_code(s.text, problem.entry_point)
            out.append(
                Solution(
                    code=code,
                    raw=s.text,
                    input_tokens=s.input_tokens,
                    output_tokens=s.output_tokens,
                    error=s.error,
                )
            )
        return out
