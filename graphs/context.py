"""The run's typed configuration: LangGraph's context schema, loaded with one precedence.

Precedence, lowest to highest: defaults < config file (TOML or JSON) < STEPSTONES_* environment
variables < per-run values (CLI flags, the `context=` argument, Studio's config form). A nested
field is reached with `__` in the variable name: STEPSTONES_BUDGET__MAX_TEACHER_CALLS=50.
"""

from __future__ import annotations

import json
import os
import random
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from stepstones.agents.models import is_simulated
from stepstones.agents.prompting import check_override, read_overrides
from stepstones.graphs.bands import Band, default_bands, validate_bands
from stepstones.graphs.presets import preset_values
from stepstones.tools.corpus import CorpusConfig
from stepstones.tools.environments import get_environment
from stepstones.tools.sandbox.base import SandboxConfig
from stepstones.tools.schema import Record, validation_summary
from stepstones.tools.store import BANK_FILE, DEFAULT_BANK

ENV_PREFIX = "STEPSTONES_"
STUDIO_BANK = Path("stepstones-studio") / BANK_FILE
"""Studio's bank when its context names none: never the CLI's stepstones-out/, whose newest run
`stepstones export` and `report` pick by default."""


class ConfigError(ValueError):
    """A configuration the user must fix; its message is one line that says what and where."""


class Budget(Record):
    """When a run stops even if bands are not full."""

    max_turns_per_seed: int = Field(6, ge=1, description="teacher turns in one lineage")
    max_repairs: int = Field(2, ge=0, description="repairs of a rejected problem per turn")
    max_teacher_calls: int = Field(400, ge=1, description="over the whole run")
    max_wall_s: float | None = Field(
        900.0, gt=0, description="wall-clock seconds per invocation (a resume gets a fresh one)"
    )
    max_seeds: int | None = Field(None, ge=1, description="seeds drawn at most")


class SeedConfig(CorpusConfig):
    """Where seeds come from, and how windows are cut from a corpus (README, "Seed sources")."""

    source: str = Field(
        "stdlib",
        description="stdlib (functions from Python's own library), windows (25-50-line windows "
        "of it), windows:CORPUS (a folder, .jsonl, .parquet, a saved dataset or hf:NAME), "
        "solutions:PATH (passing solutions in a bank or a JSONL), puzzles (bundled), mixed, "
        "or a path to a JSONL file with a `text` field per line",
    )
    limit: int = Field(200, ge=1, description="seeds loaded at most")


class CriticConfig(Record):
    """Thresholds of the critic's executable checks."""

    mutants: int = Field(6, ge=0, description="reference mutants run against the tests")
    min_mutant_kill_rate: float = Field(0.5, ge=0.0, le=1.0)
    determinism_runs: int = Field(2, ge=1, description="reference runs that must agree")
    dedup_threshold: float = Field(0.8, gt=0.0, le=1.0)
    decontaminate: bool = Field(True, description="reject problems overlapping HumanEval")
    model: str | None = Field(
        None, description="an LLM that also reviews statements (e.g. for leaks); None: rules only"
    )


SIMULATED_STUDENTS = ["sim:novice", "sim:intermediate", "sim:expert"]
ROUNDS_LINEAGES = 6  # lineages in flight under rounds when `concurrency` is not set


def default_students() -> list[str]:
    """Simulated students of three abilities, on every machine whatever extras are installed.

    The real embedded LLM is an explicit opt-in (`--students ...,embedded`): a default that
    changed with the installed extras made the same command a different run on two machines.
    """
    return list(SIMULATED_STUDENTS)


class RoleSettings(Record):
    """One role's model settings; what is left unset comes from the run's shared settings.

    A reasoning teacher needs far more tokens than a student's reply, and a provider's own
    options (`reasoning_effort`, `top_p`, vLLM's sampling extras) differ by role: `options`
    passes them through to the model (see docs/models.md).
    """

    max_tokens: int | None = Field(None, ge=16)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    timeout_s: float | None = Field(None, gt=0)
    max_retries: int | None = Field(None, ge=0)
    options: dict[str, Any] = Field(
        default_factory=dict, description="provider options passed through to the model"
    )


DEFAULT_ROLES = {"embedded": RoleSettings(max_tokens=384)}
"""Entries every run's `roles` starts from; a config's entries are laid over them."""


class RunContext(Record):
    """Everything a run needs to know; LangGraph passes it to every node as runtime.context."""

    teacher: str = Field("procedural", description="procedural, or a model string")
    teacher_format: Literal["fenced", "json"] = Field(
        "fenced",
        description="how an LLM teacher replies: prose then a fenced block per part "
        "(the paper's layout), or one JSON object",
    )
    students: list[str] = Field(
        default_factory=default_students,
        description="sim:NAME / sim:ABILITY, `embedded`, or model strings (default: the three "
        "simulated students; add `embedded` for the real CPU LLM)",
    )
    summarizer: str | None = Field(
        None,
        description="a model that adds its reading of the failures to the computed "
        "performance summary; None: the computed summary only",
    )
    samples: int = Field(4, ge=1, le=64, description="samples per student per problem (k)")
    preset: str = Field("default", description="the preset the settings started from")
    direction_rule: Literal["bands", "paper"] = Field(
        "bands",
        description="bands: towards the nearest open band; paper: harder if the pass "
        "rate is above the target range, easier if it is 0, else towards an open band",
    )
    target_range: tuple[float, float] | None = Field(
        None,
        description="the pass-rate range the refine prompt names (the paper: 0.35-0.65); "
        "None: the range of the open band the scheduler steers towards",
    )
    band_gaps: Literal["nearest", "none"] = Field(
        "nearest",
        description="a pass rate between configured bands: in the nearest band, or "
        "in none (`between_bands`, steered like a too easy / too hard problem)",
    )
    target_student: str | None = Field(
        None,
        description="the student whose pass rate is a problem's difficulty (the policy "
        "to be trained, as in the paper); the others' are recorded beside it. None: pooled "
        "over every student",
    )
    student_samples: dict[str, int] = Field(
        default_factory=lambda: {"embedded": 1},
        description="per-student k overriding `samples` (a CPU model is slow: fewer samples)",
    )
    roles: dict[str, RoleSettings] = Field(
        default_factory=lambda: dict(DEFAULT_ROLES),
        description="model settings per role, overriding the shared ones: keys `teacher`, "
        "`critic`, `summarizer` or a student spec (default: SmolLM2's solutions fit in 384 "
        "tokens; docs/models.md)",
    )

    @field_validator("roles", mode="after")
    @classmethod
    def _default_roles(cls, roles: dict[str, RoleSettings]) -> dict[str, RoleSettings]:
        return {**DEFAULT_ROLES, **roles}

    bands: list[Band] = Field(default_factory=default_bands)
    budget: Budget = Field(default_factory=Budget)
    critic: CriticConfig = Field(default_factory=CriticConfig)
    seeds: SeedConfig = Field(default_factory=SeedConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    concurrency: int | None = Field(
        None,
        ge=1,
        le=256,
        description="lineages in flight at once; None: one per request slot of an endpoint "
        "(`endpoint_concurrency`) when lineages flow, so every slot can hold a lineage's call, "
        "and 6 for rounds (docs/benchmarks.md)",
    )
    schedule: Literal["auto", "rounds", "flow"] = Field(
        "auto",
        description="rounds: every lineage in flight takes one turn, then the band router "
        "moves them all (a superstep a round; the same seed gives the same bank); flow: each "
        "lineage's next turn starts when its last one ends, steered by the band counts as they "
        "stand, so no lineage waits for another's slow turn (which lineage fills a band's last "
        "slot can differ from run to run); auto: flow when any agent is a model, rounds for "
        "the simulation and for human review",
    )
    multi_turn: bool = Field(True, description="False: every seed gets one turn (ablation)")
    human_review: bool = Field(False, description="pause for approval before students see it")
    checkpoints: Literal["turn", "step"] = Field(
        "turn",
        description="turn: a turn's inner steps are checkpointed only when it pauses "
        "for a review or fails, and a crash redoes the turns that were in flight (a teacher "
        "call with its repairs and k samples each); step: after every node of a turn too "
        "(LangGraph's default: Studio's history and time travel inside a turn), 7x the "
        "checkpoint data",
    )
    seed: int = Field(0, description="random seed: the same seed gives the same run offline")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="for LLM agents")
    max_tokens: int = Field(2048, ge=16, description="for LLM agents")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint for openai:")
    timeout_s: float = Field(120.0, gt=0, description="per LLM call, retries not included")
    max_retries: int = Field(3, ge=0, description="retries of a transient LLM failure")
    endpoint_concurrency: int = Field(16, ge=1, description="LLM requests in flight per endpoint")
    vllm_engine: dict[str, Any] = Field(
        default_factory=dict,
        description="keyword arguments for vllm.LLM behind vllm-local: (max_model_len, dtype, "
        "tensor_parallel_size, gpu_memory_utilization: on vLLM's CPU build the share of RAM)",
    )
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="model -> (input, output) USD per 1M tokens, for cost in the report",
    )
    bank: str = Field(str(DEFAULT_BANK), description="problem bank path")

    prompt_files: dict[str, str] = Field(
        default_factory=dict,
        exclude=True,
        description="agent prompts to replace: name (e.g. teacher_refine) -> path of a .md "
        "template using the default's $placeholders; read into `prompts` at load",
    )
    prompts: dict[str, str] = Field(
        default_factory=dict,
        description="the replaced prompts' texts, as the run used them (kept in the bank)",
    )

    environments: dict[str, float] = Field(
        default_factory=lambda: {"code": 1.0},
        description="environments (tools/environments: code, induction, abduction, deduction, "
        "fuzzing) and their weights: each lineage draws one, its stones stay in it",
    )

    @field_validator("environments")
    @classmethod
    def _known_environments(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("at least one environment is needed (e.g. code)")
        for name, weight in value.items():
            get_environment(name)  # a ValueError naming the known ones
            if not weight > 0:
                raise ValueError(f"environment {name!r} needs a weight above 0, got {weight}")
        return value

    def environment_for(self, lineage_index: int) -> str:
        """The environment of the run's `lineage_index`-th lineage: a weighted draw seeded by
        the run's seed and the index, so a resume or a rerun draws the same."""
        names = sorted(self.environments)
        if len(names) == 1:
            return names[0]
        rng = random.Random(f"{self.seed}:environment:{lineage_index}")
        return rng.choices(names, [self.environments[n] for n in names])[0]

    @model_validator(mode="after")
    def _read_prompts(self) -> RunContext:
        if self.prompt_files:
            self.prompts = {**self.prompts, **read_overrides(self.prompt_files)}
            self.prompt_files = {}
        for name, text in self.prompts.items():
            check_override(name, text)
        return self

    @field_validator("students")
    @classmethod
    def _some_students(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one student is needed")
        return value

    @model_validator(mode="after")
    def _bands_valid(self) -> RunContext:
        validate_bands(self.bands)
        return self

    @property
    def flowing(self) -> bool:
        """Whether lineages flow (`schedule`), with "auto" resolved."""
        if self.schedule != "auto":
            return self.schedule == "flow"
        specs = [self.teacher, *self.students, self.summarizer, self.critic.model]
        return not self.human_review and any(s is not None and not is_simulated(s) for s in specs)

    @property
    def lineages_in_flight(self) -> int:
        """`concurrency` with None resolved. While its teacher writes, a flowing lineage holds
        one request, so fewer lineages than an endpoint's slots leave slots empty (measured in
        docs/benchmarks.md); rounds keep 6, the number the simulation's golden banks use."""
        if self.concurrency is not None:
            return self.concurrency
        return self.endpoint_concurrency if self.flowing else ROUNDS_LINEAGES

    @model_validator(mode="after")
    def _flow_without_review(self) -> RunContext:
        # A review pauses the whole run's superstep; under flow that superstep is the run.
        if self.schedule == "flow" and self.human_review:
            raise ValueError("human_review needs schedule = 'rounds' (a review pauses a round)")
        return self

    @model_validator(mode="after")
    def _target_measures_something(self) -> RunContext:
        target = self.target_student
        if target is None:
            return self
        if target not in self.students:
            raise ValueError(
                f"target_student {target!r} is not one of the students ({', '.join(self.students)})"
            )
        if is_simulated(target) and self.teacher != "procedural":
            raise ValueError(
                f"target_student {target!r} is simulated: on a problem an LLM teacher wrote it "
                "has no difficulty to read (a fixed 0.5), so its pass rate measures nothing; "
                "name an LLM student as the target"
            )
        return self

    def simulated_on_llm_problems(self) -> list[str]:
        """Simulated students whose pass rates pool into an LLM teacher's problems' bands,
        where they measure nothing (the report says so)."""
        if self.teacher == "procedural" or self.target_student is not None:
            return []
        return [s for s in self.students if is_simulated(s)]


class MissingContext(RuntimeError):
    """The graph was invoked without a run context (outside Studio, that is a mistake)."""


def get_context(runtime: Any, *, required: bool = True) -> RunContext:
    """The run's context from a node's runtime.

    A caller that passed none gets MissingContext: silently running on defaults would bank a
    run that is not the one configured. Studio, which may start a thread with an empty
    context form, compiles its graph with `required=False` and gets the defaults, with its
    own bank (STUDIO_BANK) unless the context names one other than the CLI's.
    """
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        if required:
            raise MissingContext(
                "the curriculum graph was invoked without a context: pass "
                "context=RunContext(...) to invoke/ainvoke/astream (stepstones.graphs.RunContext)"
            )
        return RunContext(bank=str(STUDIO_BANK))
    if not isinstance(ctx, RunContext):
        ctx = RunContext.model_validate(ctx)
    # A form prefilled from the schema's defaults names the CLI's bank without meaning it.
    if not required and ("bank" not in ctx.model_fields_set or Path(ctx.bank) == DEFAULT_BANK):
        return ctx.model_copy(update={"bank": str(STUDIO_BANK)})
    return ctx


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """STEPSTONES_* variables as a nested dict (`__` separates levels; values parsed as JSON)."""
    environ = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    fields = set(RunContext.model_fields)
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if path[0] not in fields:
            continue
        value = _env_value(raw)
        if path == ["students"] and isinstance(value, str):
            value = [s.strip() for s in value.split(",") if s.strip()]
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A TOML or JSON config file as a dict; ConfigError with the file name if unreadable."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid {p.suffix.lstrip('.')}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a table/object at the top")
    return data


def load_context(
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    preset: str | None = None,
) -> RunContext:
    """Defaults < preset < config file < STEPSTONES_* env < overrides, validated; ConfigError
    if bad. The preset may also be named by the file or the environment (`preset = "paper"`)."""
    merged: dict[str, Any] = {}
    origin = "defaults"
    from_file = read_config_file(config_file) if config_file is not None else {}
    env = env_overrides(environ)
    name = preset or env.get("preset") or from_file.get("preset")
    if name is not None:
        try:
            merged = preset_values(str(name))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        origin = f"preset {name}"
    if config_file is not None:
        files = from_file.get("prompt_files")
        if isinstance(files, dict):  # relative to the config file, as a reader expects
            here = Path(config_file).parent
            from_file["prompt_files"] = {
                k: str(here / v) if isinstance(v, str) else v for k, v in files.items()
            }
        merged = _deep_merge(merged, {k: v for k, v in from_file.items() if k != "preset"})
        origin = f"{origin} + {config_file}" if name is not None else str(config_file)
    env = {k: v for k, v in env.items() if k != "preset"}
    if env:
        merged = _deep_merge(merged, env)
        origin += " + STEPSTONES_* environment"
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if given:
        merged = _deep_merge(merged, given)
        origin += " + command line"
    if name is not None:
        merged["preset"] = str(name)
    try:
        return RunContext.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid configuration from {origin}: {validation_summary(exc)}"
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"invalid configuration from {origin}: {exc}") from exc
