"""Pydantic records shared by every floor of stepstones.

These are the boundaries: what the teacher writes, what the sandbox returns, what the bank stores
and what the exporter emits. A verifier outside the solver's process needs nothing but a
`Problem` to check a solution, so tests carry their expected outputs as data, never as code.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

IOStyle = Literal["function", "stdio"]
"""`function`: tests call `entry_point(*args)`, inputs are JSON arrays of positional arguments and
expected outputs are JSON values. `stdio`: the program reads stdin and its stdout is compared
(trailing whitespace per line ignored)."""

Direction = Literal["seed", "easier", "harder"]
"""How a problem relates to its parent: the first problem of a seed, an easier or harder variant
of the same core task. A repair of a rejected draft keeps the direction of its turn."""

VerdictStatus = Literal[
    "passed",
    "wrong_answer",
    "runtime_error",
    "timeout",
    "memory_exceeded",
    "output_limit",
    "sandbox_error",
]
"""`sandbox_error` is infrastructure failing, never the solution: it is retried or fatal and is
never counted as a student failure or turned into a reward."""

FailureKind = Literal[
    "wrong_answer", "runtime_error", "timeout", "memory_exceeded", "output_limit", "no_code"
]

RejectionCode = Literal[
    "malformed",
    "reference_fails",
    "nondeterministic",
    "weak_tests",
    "trivial",
    "duplicate",
    "leaks_solution",
    "contaminated",
    "unclear_statement",
    "critic_unusable",
    "reviewer_rejected",
    "exhausted",
]


def content_hash(*parts: Any, length: int = 16) -> str:
    """Stable short id from JSON-serialisable parts: a replayed step gets the same id."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def validation_summary(exc: ValidationError, limit: int = 1) -> str:
    """A pydantic error as one line: `where: what` for the first `limit` errors, and a count
    of the rest (a config, a problem file and a model's reply all report errors this way)."""
    errors = exc.errors()
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors[:limit]
    ]
    more = len(errors) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class Record(BaseModel):
    """Base for records: unknown fields are errors, so a typo in LLM-produced JSON is caught."""

    model_config = ConfigDict(extra="forbid")


class TestCase(Record):
    """One test: an input and the output a correct solution produces for it."""

    __test__ = False  # not a pytest class

    input: str = Field(description="JSON array of arguments (function style) or stdin text.")
    expected: str = Field(description="JSON value (function style) or expected stdout.")


class Lineage(Record):
    """Where a problem sits in its chain of stepping stones."""

    seed_id: str
    root_id: str | None = Field(None, description="id of the first problem of this lineage")
    parent_id: str | None = None
    turn: int = 0
    direction: Direction = "seed"


class Problem(Record):
    """A self-contained coding problem: statement, tests with expected outputs and a reference."""

    id: str = Field("", description="content hash of statement, tests and reference; set if empty")
    title: str = ""
    statement: str
    entry_point: str = Field("solve", description="function name (function style)")
    io_style: IOStyle = "function"
    tests: list[TestCase] = Field(min_length=1)
    reference_solution: str
    lineage: Lineage
    environment: str = Field(
        "code",
        description="the environment (tools/environments) that made it and judges answers to it",
    )
    spec: dict[str, Any] = Field(
        default_factory=dict,
        description="environment-specific JSON the environment judges "
        "with (e.g. deduction: input and output; fuzzing: the checks and the witness)",
    )
    family: str | None = Field(None, description="procedural task family, if any")
    level: int | None = Field(None, description="procedural difficulty level, if any")

    @field_validator("spec", mode="before")
    @classmethod
    def _spec_from_text(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_serializer("spec")
    def _spec_as_text(self, spec: dict[str, Any]) -> dict[str, Any] | str:
        # Stored as JSON text: a program's values (an int past 64 bits, say) are any JSON,
        # which the checkpointer's msgpack cannot always pack. An empty spec (every code
        # problem) stays {} so code records are what they were.
        return json.dumps(spec, ensure_ascii=False) if spec else spec

    time_limit_s: float | None = Field(
        None, description="CPU seconds per run, calibrated from the reference on this host"
    )
    wrong_solutions: dict[str, str] = Field(
        default_factory=dict,
        description="known wrong solutions (bug kind -> code): the critic checks the tests catch "
        "them and simulated students draw their bugs from them; never exported as a solution",
    )
    band: str | None = None
    pass_rates: dict[str, float] = Field(default_factory=dict, description="per student")
    pass_rate: float | None = Field(None, description="mean over all samples of all students")

    @model_validator(mode="after")
    def _fill_id(self) -> Problem:
        if not self.id:
            self.id = self.compute_id()
        return self

    def compute_id(self) -> str:
        """The content id: the same problem text, tests and reference always hash alike.

        The environment and its spec join the hash only outside `code`, so every code problem
        keeps the id it had before environments existed (banks and golden runs stay valid).
        """
        parts: list[Any] = [
            self.statement,
            self.entry_point,
            self.io_style,
            [t.model_dump() for t in self.tests],
            self.reference_solution,
        ]
        if self.environment != "code":
            parts += [self.environment, self.spec]
        return content_hash(*parts)


class ExecLimits(Record):
    """Resource limits for one run of a solution over all of a problem's test inputs."""

    cpu_time_s: float = 2.0
    wall_time_s: float = 10.0
    memory_mb: int = 512
    output_bytes: int = 1_000_000
    max_processes: int = 16


class TestOutcome(Record):
    """What happened on one test input, judged on the host."""

    __test__ = False

    index: int
    status: VerdictStatus
    output: str | None = Field(None, description="what the solution produced (truncated)")
    expected: str | None = Field(None, description="filled in by the host after judging")
    error: str | None = None
    cpu_s: float | None = None


class Verdict(Record):
    """The host's judgement of one solution against one problem's tests."""

    status: VerdictStatus
    passed: int = 0
    total: int = 0
    tests: list[TestOutcome] = Field(default_factory=list)
    error: str | None = Field(None, description="why, for anything but passed")
    isolation: str = Field("", description="which isolation was in force, e.g. bwrap+rlimits")
    limits: ExecLimits | None = None
    cpu_s: float | None = None
    wall_s: float | None = None

    @property
    def ok(self) -> bool:
        """True only when every test passed."""
        return self.status == "passed"


class Attempt(Record):
    """One student sample for one problem, with its verdict."""

    id: str = ""
    problem_id: str
    student: str
    sample: int
    code: str | None = Field(None, description="extracted code; None when the reply had none")
    raw: str | None = Field(None, description="the model's raw reply, when an LLM wrote it")
    verdict: Verdict

    @model_validator(mode="after")
    def _fill_id(self) -> Attempt:
        if not self.id:
            self.id = content_hash(self.problem_id, self.student, self.sample, self.code)
        return self


def wilson_interval(passed: int, samples: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a pass rate: honest at 0/k and k/k, unlike p +- 2se.

    With the k samples a run draws, a pass rate is an estimate; the interval says how wide.
    """
    if samples <= 0:
        return (0.0, 1.0)
    p = passed / samples
    denom = 1 + z * z / samples
    centre = (p + z * z / (2 * samples)) / denom
    half = z * ((p * (1 - p) / samples + z * z / (4 * samples * samples)) ** 0.5) / denom
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


class StudentStats(Record):
    """One student's results on one problem."""

    student: str
    samples: int
    passed: int
    pass_rate: float
    failures: dict[str, int] = Field(default_factory=dict, description="failure kind -> count")

    @property
    def interval(self) -> tuple[float, float]:
        """The pass rate's 95% confidence interval over this student's samples."""
        return wilson_interval(self.passed, self.samples)


class ShownSolution(Record):
    """A student's solution as the teacher's summary shows it: the paper's teacher sees
    representative successful and failed solutions, not only a pass rate."""

    student: str
    sample: int
    passed: bool
    code: str = Field(description="the solution's code, cut to a bounded length")
    failure: str | None = Field(None, description="the first failing test: input, expected, got")


class PerformanceSummary(Record):
    """What the teacher reads back: pass rates, kinds of failure and a few telling errors."""

    problem_id: str
    pass_rate: float
    students: list[StudentStats]
    failures: dict[str, int] = Field(default_factory=dict)
    examples: list[str] = Field(
        default_factory=list, description="a few telling errors or wrong outputs"
    )
    solutions: list[ShownSolution] = Field(
        default_factory=list, description="representative successful and failed solutions"
    )
    target: str | None = Field(
        None, description="the student whose pass rate is `pass_rate` (None: pooled)"
    )
    text: str = Field("", description="the summary as the teacher's prompt shows it")


class Rejection(Record):
    """One reason the critic gave, phrased so the teacher can act on it."""

    code: RejectionCode
    message: str


class Critique(Record):
    """The critic's verdict on a problem: valid, or the reasons it is not."""

    valid: bool
    rejections: list[Rejection] = Field(default_factory=list)
    reference_verdict: Verdict | None = None
    time_limit_s: float | None = None

    @property
    def feedback(self) -> str:
        """The reasons as one block of text for the teacher's repair prompt."""
        return "\n".join(f"- [{r.code}] {r.message}" for r in self.rejections)


class Seed(Record):
    """What inspires a lineage: a real code snippet, a successful solution or a coding puzzle.

    Provenance fields are set where the source knows them (windows cut from a corpus, solutions
    from a bank); seeds written before they existed load with them empty.
    """

    id: str = ""
    kind: Literal["code", "solution", "puzzle", "family"] = "code"
    source: str = Field("", description="where it came from, e.g. stdlib:json/decoder.py")
    text: str
    origin: str | None = Field(
        None, description="the corpus: stdlib, a folder, a file, a dataset name or a bank"
    )
    path: str | None = Field(None, description="the file inside the corpus (a bank: run/problem)")
    row: int | None = Field(None, description="the row of a table or dataset (JSONL: its line)")
    first_line: int | None = Field(None, description="the window's first line (1-based)")
    last_line: int | None = Field(None, description="the window's last line (inclusive)")
    license: str | None = Field(None, description="the licence, where the corpus names one")

    @model_validator(mode="after")
    def _fill_id(self) -> Seed:
        if not self.id:
            self.id = content_hash(self.kind, self.source, self.text, length=12)
        return self


class Usage(Record):
    """Tokens and calls spent by one agent role."""

    agent: str
    model: str = ""
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


ModelRole = Literal["teacher", "student", "critic", "summarizer"]

CALL_TEXT_KEEP = 20_000
"""Characters kept of each message and reply in the call log: bounded, so a chatty model
cannot grow the bank without limit (a cut text ends with a note of what was cut)."""


def _kept(text: str) -> str:
    if len(text) <= CALL_TEXT_KEEP:
        return text
    return text[:CALL_TEXT_KEEP] + f"\n... [{len(text) - CALL_TEXT_KEEP} more chars not kept]"


class ModelCall(Record):
    """One model request as it happened: what was asked, what came back, and what it cost.

    Kept for every teacher, critic, summarizer and student call (the bank's `model_calls`), so a
    rejected draft can be read and replayed with the very messages its model was given.
    """

    agent: str
    model: str = ""
    messages: list[dict[str, str]] = Field(description="role and content of each message sent")
    replies: list[str] = Field(default_factory=list, description="one per sample returned")
    outcome: Literal["ok", "unusable", "model_error"] = "ok"
    error: str | None = Field(None, description="why the reply was unusable or the call failed")
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    at: float = Field(0.0, description="when the call started (Unix time)")

    @field_validator("messages")
    @classmethod
    def _cut_messages(cls, v: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{"role": m.get("role", ""), "content": _kept(m.get("content", ""))} for m in v]

    @field_validator("replies")
    @classmethod
    def _cut_replies(cls, v: list[str]) -> list[str]:
        return [_kept(r) for r in v]


class ModelFailure(Record):
    """Replies a model could not give in one turn (after retries): infrastructure, never a
    wrong answer. Failed samples are no attempts: they count in no pass rate, band or reward."""

    model: str
    role: ModelRole = "student"
    samples: int = Field(0, description="samples lost (students); 0 for a teacher call")
    error: str


class ModelDrop(Record):
    """A model left out of the rest of a run after failing turn after turn."""

    model: str
    role: ModelRole = "student"
    reason: str
    round: int = Field(description="the scheduler round from which it is left out")
    lineage_id: str | None = Field(None, description="where its last failure happened")
    turn: int | None = None
    failed_turns: int = Field(0, description="consecutive turns it failed in")


class TurnOutcome(Record):
    """The compact record of one teacher turn; the graph's state keeps these, the bank the rest."""

    lineage_id: str
    seed_id: str
    turn: int
    round: int = Field(0, description="the scheduler round (superstep) the turn ran in")
    direction: Direction
    teacher_calls: int
    problem_id: str | None = None
    valid: bool = False
    band: str | None = None
    pass_rate: float | None = None
    rejections: list[Rejection] = Field(default_factory=list)
    discarded: bool = False
    model_failures: list[ModelFailure] = Field(
        default_factory=list, description="models that failed to answer in this turn"
    )
    answered: list[str] = Field(
        default_factory=list, description="students whose every sample was answered"
    )
    variant: str | None = Field(
        None,
        description="the procedural variant (environment/family:level) the turn banked "
        "or gave up on; a teacher with a finite catalogue does not write it again",
    )
