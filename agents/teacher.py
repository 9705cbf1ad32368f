"""Teachers: write a problem from a seed, then easier/harder variants or repairs of it.

Every request carries what the paper's teacher sees: the seed, the parent problem, the students'
performance summary, the direction to move, and the critic's reasons when a draft was rejected.
`LLMTeacher` puts all of it in its prompt; `ProceduralTeacher` (simulation mode, offline) maps the
same request onto parametric task families and their levels.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import Field

from stepstones.agents.families import FAMILIES, family_names, get_family
from stepstones.agents.families.base import FamilyInstance
from stepstones.agents.models import ModelSettings, endpoint_key
from stepstones.agents.parsing import (
    FENCED_REPAIR,
    JSON_REPAIR,
    ainvoke_parsed,
    parse_fenced_reply,
    parse_reply,
)
from stepstones.agents.prompting import render
from stepstones.agents.usage import UsageMeter
from stepstones.tools.environments import get_environment
from stepstones.tools.environments.drafts import draft_json, draft_of
from stepstones.tools.environments.fenced import fenced_of, format_rules
from stepstones.tools.schema import (
    Critique,
    Direction,
    Lineage,
    PerformanceSummary,
    Problem,
    Record,
    Rejection,
    Seed,
    content_hash,
)


class TeacherRequest(Record):
    """Everything the teacher is told for one call."""

    seed: Seed
    lineage_index: int = Field(0, description="order in which the run drew this seed")
    lineage_id: str
    turn: int
    direction: Direction = Field(description="the turn's move: seed, easier or harder")
    attempt: int = Field(0, description="0 for the first draft of a turn, then repairs")
    parent: Problem | None = None
    summary: PerformanceSummary | None = None
    rejected: Problem | None = None
    rejected_reply: str | None = Field(
        None, description="the model's own reply that could not be parsed (when repairing one)"
    )
    critique: Critique | None = Field(None, description="set when repairing a rejected draft")
    target: tuple[float, float] | None = Field(
        None,
        description="the pass-rate range the variant should land in (the open band the "
        "scheduler steers towards)",
    )
    environment: str = Field(
        "code",
        description="the lineage's environment (tools/"
        "environments): the rules and draft the teacher writes",
    )
    used: list[str] = Field(
        default_factory=list,
        description="variants the run banked or gave up on in earlier "
        "rounds (`variant_key`): a teacher with a finite catalogue does not write them again",
    )


class TeacherResult(Record):
    """A draft or a problem, or the reason none could be made (a recorded rejection, never a
    crash). An LLM teacher gives a `draft` (programs and inputs): the graph computes its gold
    answers by execution. The procedural teacher gives a `problem` of the code environment,
    which for another `environment` is the source the graph derives that environment's from."""

    problem: Problem | None = None
    draft: Any = Field(None, description="the environment's draft record, not yet executed")
    environment: str = "code"
    rejections: list[Rejection] = Field(
        default_factory=list,
        description="why the draft could not be built (gold by "
        "execution failed): the teacher is told these, as a critic's",
    )
    failure: str | None = None
    raw: str | None = None
    calls: int = Field(
        1,
        description="model requests this result cost (a JSON repair is one "
        "more); what the run's max_teacher_calls counts",
    )
    exhausted: bool = Field(
        False,
        description="no variant is left in the asked direction: end the lineage, no "
        "repairs (the procedural teacher at a family's first or last level)",
    )
    model_error: bool = Field(
        False,
        description="the model call failed (after retries): no draft, and not the "
        "teacher's fault as a problem writer; the turn ends without a rejection",
    )


class Teacher(Protocol):
    """Anything that writes problems for the curriculum."""

    name: str

    async def write(self, request: TeacherRequest) -> TeacherResult:
        """A new problem, variant or repair as the request asks."""
        ...


@runtime_checkable
class Catalogue(Protocol):
    """A teacher that can write only finitely many distinct tasks (the procedural one)."""

    def unused(self, used: Collection[str], environments: Iterable[str]) -> int:
        """How many of its variants in `environments` are not in `used`: at 0 it has no
        distinct problem left to write, and the run stops (`teacher_exhausted`)."""
        ...


def variant_key(problem: Problem) -> str | None:
    """The variant a procedural problem is (`environment/family:level`), None for others.

    New numbers at the same family and level make the same task again (the critic's
    duplicate check says so), so a variant is the unit the procedural teacher has to give.
    """
    if problem.family is None or problem.level is None:
        return None
    return f"{problem.environment}/{problem.family}:{problem.level}"


def lineage_of(request: TeacherRequest) -> Lineage:
    """The lineage record of the problem a request asks for."""
    parent = request.parent
    return Lineage(
        seed_id=request.seed.id,
        root_id=parent.lineage.root_id or parent.id if parent else None,
        parent_id=parent.id if parent else None,
        turn=request.turn,
        direction=request.direction,
    )


class ProceduralTeacher:
    """Simulation-mode teacher over parametric task families (no model, fully reproducible).

    The i-th lineage of a run gets the family at position i of a seeded permutation, so
    lineages in flight together never share a family; the seed is kept as the lineage's
    inspiration. Harder/easier move one level; a repair draws new parameters, and a duplicate
    moves on a level. A variant the run already banked or gave up on (`request.used`) is skipped
    in the direction of the move. Past the family's first or last level, or when asked to turn
    back towards the level its parent came from, it says it is exhausted, which ends the lineage
    instead of spending calls on repeats; with every variant used, the run stops.
    """

    name = "procedural"

    def __init__(self, seed: int = 0, families: list[str] | None = None) -> None:
        self.seed = seed
        self.families = families or family_names()
        for name in self.families:
            get_family(name)
        self._order = list(self.families)
        random.Random(seed).shuffle(self._order)

    def family_for(self, lineage_index: int) -> str:
        """The family of the lineage drawn `lineage_index`-th."""
        return self._order[lineage_index % len(self._order)]

    def unused(self, used: Collection[str], environments: Iterable[str]) -> int:
        """Variants of every family in `environments` that are not in `used`."""
        taken = set(used)
        return sum(
            f"{env}/{name}:{level}" not in taken
            for env in environments
            for name in self.families
            for level in range(1, FAMILIES[name].levels + 1)
        )

    def _level(self, request: TeacherRequest, family: str, family_levels: int) -> int | None:
        """The level to write at, skipping used variants; None when the family has none left
        that way."""
        used = set(request.used)

        def free(level: int) -> bool:
            return f"{request.environment}/{family}:{level}" not in used

        base = request.parent or request.rejected
        if base is None or base.level is None:
            # First draft: levels in the middle give the most room to move either way.
            rng = random.Random(content_hash(self.seed, request.lineage_id, "level"))
            drawn = rng.randint(max(1, family_levels // 2), max(1, (family_levels + 1) // 2 + 1))
            left = [lv for lv in range(1, family_levels + 1) if free(lv)]
            return min(left, key=lambda lv: (abs(lv - drawn), lv)) if left else None
        level = base.level
        step = {"harder": 1, "easier": -1}.get(request.direction, 0)
        parent = request.parent
        if (
            parent is not None
            and step
            and {parent.lineage.direction, request.direction} == {"harder", "easier"}
        ):
            return None  # turning back lands on the level the parent came from: a repeat
        if parent is not None:
            level += step
        if request.critique is not None and any(
            r.code == "duplicate" for r in request.critique.rejections
        ):
            # New numbers at the same level make the same task again: the critic asks for a
            # changed task, so move to the neighbouring variant (the turn's way if possible).
            ahead = level + (step or 1)
            level = ahead if 1 <= ahead <= family_levels or step else level - 1
            step = step or (1 if level > base.level else -1)
        while step and 1 <= level <= family_levels and not free(level):
            level += step  # a used variant: on in the move's direction
        if not 1 <= level <= family_levels or not free(level):
            return None  # harder than the top level / easier than the first: nothing to write
        return level

    async def write(self, request: TeacherRequest) -> TeacherResult:
        """Generate the family instance for this lineage, turn, attempt and direction."""
        base = request.parent or request.rejected
        family_name = (
            base.family if base and base.family else self.family_for(request.lineage_index)
        )
        family = FAMILIES[family_name]
        level = self._level(request, family_name, family.levels)
        if level is None:
            return TeacherResult(
                exhausted=True,
                failure=(f"task family {family_name} has no {request.direction} variant left"),
            )
        rng = random.Random(
            content_hash(self.seed, request.lineage_id, request.turn, request.attempt, level)
        )
        instance = family.generate(level, rng)
        return TeacherResult(
            problem=problem_from_instance(instance, lineage_of(request)),
            environment=request.environment,
        )


def problem_from_instance(instance: FamilyInstance, lineage: Lineage) -> Problem:
    """A Problem from a family instance; its bugs become the known wrong solutions."""
    return Problem(
        title=instance.title,
        statement=instance.statement,
        entry_point=instance.entry_point,
        io_style=instance.io_style,
        tests=instance.tests,
        reference_solution=instance.reference_solution,
        lineage=lineage,
        family=instance.family,
        level=instance.level,
        wrong_solutions=dict(instance.bugs),
    )


REPLY_SHOWN = 4000
"""How much of a failed reply the repair prompt quotes back to the model."""


ReplyFormat = Literal["fenced", "json"]

JSON_FORMAT = (
    "Reply with ONE JSON object whose keys are the parts above, and nothing else "
    "(code and texts as JSON strings)."
)


class LLMTeacher:
    """A teacher backed by any LangChain chat model, with prompts from agents/prompts/.

    It replies in fenced blocks by default (tools/environments/fenced.py), as the paper's
    teachers do: prose first, then code as code. `reply_format="json"` asks for one JSON object
    instead (models tuned for structured output may prefer it); either way a JSON reply is read.
    """

    def __init__(
        self,
        name: str,
        model: BaseChatModel,
        meter: UsageMeter | None = None,
        settings: ModelSettings | None = None,
        prompts: Mapping[str, str] | None = None,
        reply_format: ReplyFormat = "fenced",
    ) -> None:
        self.name = name
        self.model = model
        # Its requests share the endpoint's bound with the students' (agents/sampling.py).
        self.key = endpoint_key(name) if ":" in name else name
        self.meter = meter
        self.settings = settings or ModelSettings()
        self.prompts = dict(prompts or {})  # the run's overrides of agents/prompts/*.md
        self.reply_format: ReplyFormat = reply_format

    def shown(self, problem: Problem) -> str:
        """A problem as the teacher writes it, in this teacher's reply format."""
        if self.reply_format == "json":
            return f"```json\n{draft_json(problem)}\n```"
        return fenced_of(draft_of(problem))

    def prompt(self, request: TeacherRequest) -> str:
        """The user message for this request: propose, refine or repair."""
        if request.critique is not None:
            if request.rejected is not None:
                shown = self.shown(request.rejected)
            else:
                reply = (request.rejected_reply or "(empty)")[:REPLY_SHOWN]
                shown = f"Your reply, which was not a usable problem:\n````\n{reply}\n````"
            return render(
                "teacher_repair",
                self.prompts,
                seed_kind=request.seed.kind,
                seed=request.seed.text,
                rejected=shown,
                feedback=request.critique.feedback,
                direction=request.direction,
            )
        if request.parent is not None and request.summary is not None:
            if request.target is not None:
                lo, hi = request.target
                target = (
                    f"Aim for a pass rate between {lo:.2f} and {hi:.2f} for these "
                    f"students (this problem's was {request.summary.pass_rate:.2f})."
                )
            else:
                target = ""
            return render(
                "teacher_refine",
                self.prompts,
                problem=self.shown(request.parent),
                summary=request.summary.text,
                direction=request.direction,
                target=target,
            )
        return render(
            "teacher_propose", self.prompts, seed_kind=request.seed.kind, seed=request.seed.text
        )

    async def write(self, request: TeacherRequest) -> TeacherResult:
        """One model call (plus one repair of a bad reply); a failure is recorded, not raised."""
        env = get_environment(request.environment)
        fenced = self.reply_format == "fenced"
        layout = format_rules(env.draft_model) if fenced else JSON_FORMAT
        messages = [
            SystemMessage(
                render("teacher_system", self.prompts, rules=env.teacher_rules(), format=layout)
            ),
            HumanMessage(self.prompt(request)),
        ]
        calls = 0

        def count() -> None:
            nonlocal calls
            calls += 1

        draft, failure = await ainvoke_parsed(
            self.model,
            messages,
            env.draft_model,
            meter=self.meter,
            agent="teacher",
            model_name=self.name,
            settings=self.settings,
            on_request=count,
            parser=parse_fenced_reply if fenced else parse_reply,
            repair=FENCED_REPAIR if fenced else JSON_REPAIR,
            key=self.key,
        )
        if draft is None:
            reason = failure.reason if failure else "no reply"
            return TeacherResult(
                failure=reason,
                raw=failure.raw if failure else None,
                model_error=failure is not None and failure.model_error,
                calls=calls,
            )
        # Programs and inputs only: the graph runs them for the gold answers (build_problem).
        return TeacherResult(draft=draft, environment=request.environment, calls=calls)
