"""Rewards for RL trainers, judged by the same sandbox that measured the students' pass rates.

Three entry points over one batched scorer:

- `compute_score(data_source, solution_str, ground_truth, extra_info=None)`: verl's
  `custom_reward_function` signature (one completion);
- `compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos)`: verl's
  `reward_manager=batch` signature (a whole step in one sandbox call);
- `reward_fn(completions, **kwargs)`: TRL `GRPOTrainer(reward_funcs=...)`; the row's ground truth
  arrives as a dataset column in kwargs (`reward_model`, `ground_truth`, or `tests` +
  `entry_point` + `io_style`, with `environment`, `spec` and `program` outside code).

Every environment is scored by execution: the ground truth is the row's environment's `Truth`
(a code row's `GroundTruth` JSON reads as one), the environment turns the completion into a
sandbox job (`Environment.answer`), and the completion scores 1.0 iff the verdict is passed.
No usable answer (no code, no parseable value) is 0.0 without running anything. Code rows may
ask for the fraction of tests passed (`partial_credit=True`); the other environments' rewards
are 0/1 as the paper's Table 1 defines them. Infrastructure failure (`sandbox_error`) raises
`RewardError`: a broken sandbox must stop training, never teach the policy that a right answer
is worth 0.

Trainers call rewards from many threads and worker processes, with or without their own event
loop. Each process therefore owns one sandbox, built lazily under a lock on a private event-loop
thread and rebuilt after a fork; callers block on a future from that loop, so the same functions
work in plain code, inside a running loop, and in Ray or multiprocessing workers.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from stepstones.tools.environments import Truth, get_environment
from stepstones.tools.export import GroundTruth
from stepstones.tools.sandbox import Sandbox, SandboxConfig, Submission, get_sandbox
from stepstones.tools.schema import ExecLimits, Verdict


class RewardError(RuntimeError):
    """The sandbox failed (infrastructure, not the completion): no score can be given."""


class _Runtime:
    """One sandbox per process on a private event-loop thread, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = SandboxConfig()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sandbox: Sandbox | None = None
        self._at_exit = False

    def configure(self, config: SandboxConfig) -> None:
        """Use `config` from now on (the current sandbox, if any, is closed)."""
        with self._lock:
            if config != self._config:
                self._close_locked()
                self._config = config

    def _ensure(self) -> tuple[asyncio.AbstractEventLoop, Sandbox]:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child that owns no thread
                self._pid, self._loop, self._sandbox = os.getpid(), None, None
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="stepstones-reward",
                                 daemon=True).start()  # fmt: skip
                self._loop = loop
            if self._sandbox is None:
                self._sandbox = asyncio.run_coroutine_threadsafe(
                    _build(self._config), self._loop
                ).result()
                if not self._at_exit:
                    # Registered when there is something to stop, not at import: importing
                    # the reward module (a trainer's config does) must not change how the
                    # process exits.
                    atexit.register(self.close)
                    self._at_exit = True
            return self._loop, self._sandbox

    def run(self, submissions: Sequence[Submission]) -> list[Verdict]:
        """Judge submissions on this process's sandbox, blocking the caller only."""
        try:
            loop, sandbox = self._ensure()
        except Exception as exc:  # no isolation, missing backend: infrastructure
            raise RewardError(f"cannot start the sandbox: {exc}") from exc
        verdicts: list[Verdict] = asyncio.run_coroutine_threadsafe(
            sandbox.run(submissions), loop
        ).result()
        return verdicts

    def _close_locked(self) -> None:
        sandbox, loop = self._sandbox, self._loop
        self._sandbox = None
        if sandbox is None or loop is None or self._pid != os.getpid():
            return
        close = getattr(sandbox, "close", None)
        if callable(close):  # synchronous close also works while the interpreter shuts down
            close()
        else:
            asyncio.run_coroutine_threadsafe(sandbox.aclose(), loop).result(timeout=30)

    def close(self) -> None:
        """Stop this process's sandbox workers (run at exit)."""
        with self._lock:
            self._close_locked()


async def _build(config: SandboxConfig) -> Sandbox:
    return get_sandbox(config)


_RUNTIME = _Runtime()


def configure(sandbox: SandboxConfig | Mapping[str, Any] | None = None) -> None:
    """Choose the sandbox rewards run in (default `SandboxConfig()`: local, isolated)."""
    cfg = sandbox if isinstance(sandbox, SandboxConfig) else SandboxConfig.model_validate(
        dict(sandbox or {}))  # fmt: skip
    _RUNTIME.configure(cfg)


TruthLike: TypeAlias = Truth | GroundTruth | str | Mapping[str, Any]
"""A row's ground truth as a trainer hands it over: a record, its JSON, a dict or reward_model."""


def parse_ground_truth(value: TruthLike) -> Truth:
    """A ground truth from its JSON string, a dict, or a `reward_model` dict holding either.

    A code row's `GroundTruth` (no `environment` field) is a code `Truth`.
    """
    if isinstance(value, Truth):
        return value
    if isinstance(value, GroundTruth):
        return Truth.model_validate(value.model_dump())
    if isinstance(value, Mapping) and "ground_truth" in value:
        return parse_ground_truth(value["ground_truth"])
    if isinstance(value, str):
        return Truth.model_validate_json(value)
    return Truth.model_validate(dict(value))


def job(truth: Truth, completion: str, limits: ExecLimits) -> Submission | None:
    """The sandbox job that judges `completion` in the truth's environment; None: no answer.

    For code this is the students' extractor and the row's tests under its calibrated CPU
    limit, so a completion earns the reward its band's pass rate promised.
    """
    return get_environment(truth.environment).answer(truth, completion, limits)


def score(
    completions: Sequence[str],
    truths: Sequence[TruthLike],
    *,
    partial_credit: bool = False,
    sandbox: SandboxConfig | Mapping[str, Any] | None = None,
) -> list[float]:
    """Scores of completions against their ground truths, judged in one sandbox call.

    An unknown environment is a ValueError before anything runs (the dataset is not ours)."""
    if len(completions) != len(truths):
        raise ValueError(f"{len(completions)} completions but {len(truths)} ground truths")
    if sandbox is not None:
        configure(sandbox)
    parsed = [parse_ground_truth(t) for t in truths]
    limits = _RUNTIME._config.limits
    pending: list[tuple[int, Submission]] = []
    for truth in parsed:
        get_environment(truth.environment)  # unknown: ValueError naming the known ones
    for i, (text, truth) in enumerate(zip(completions, parsed, strict=True)):
        sub = job(truth, text, limits)
        if sub is not None:
            pending.append((i, sub))
    scores = [0.0] * len(completions)
    if not pending:
        return scores
    verdicts = _RUNTIME.run([sub for _, sub in pending])
    broken = [v for v in verdicts if v.status == "sandbox_error"]
    if broken:
        raise RewardError(
            f"sandbox failed on {len(broken)} of {len(verdicts)} completions: {broken[0].error}"
        )
    for (i, _), verdict in zip(pending, verdicts, strict=True):
        if verdict.ok:
            scores[i] = 1.0
        elif partial_credit and verdict.total and parsed[i].environment == "code":
            scores[i] = verdict.passed / verdict.total
    return scores


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str | Mapping[str, Any],
    extra_info: Mapping[str, Any] | None = None,
    *,
    partial_credit: bool = False,
    sandbox: SandboxConfig | Mapping[str, Any] | None = None,
    **_: Any,
) -> float:
    """verl's custom reward: 1.0 if the sandbox passes the completion's answer, else 0.0."""
    return score([solution_str], [ground_truth], partial_credit=partial_credit,
                 sandbox=sandbox)[0]  # fmt: skip


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[str | Mapping[str, Any]],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    partial_credit: bool = False,
    sandbox: SandboxConfig | Mapping[str, Any] | None = None,
    **_: Any,
) -> list[float]:
    """verl's batch reward manager signature: a whole step judged in one sandbox call."""
    return score(solution_strs, ground_truths, partial_credit=partial_credit, sandbox=sandbox)


def completion_text(completion: str | Sequence[Mapping[str, Any]]) -> str:
    """The text of a TRL completion: a string, or the last assistant message of a chat."""
    if isinstance(completion, str):
        return completion
    messages = [m for m in completion if m.get("role", "assistant") == "assistant"]
    return str(messages[-1].get("content") or "") if messages else ""


FLAT_COLUMNS = ("environment", "entry_point", "io_style", "time_limit_s", "program")
"""Flat export columns that are `Truth` fields as they are (`tests` and `spec` are JSON text)."""


def _truth_from_flat(i: int, tests: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Row i's truth from the flat columns; a column absent or None keeps the field's default."""
    row: dict[str, Any] = {"tests": json.loads(tests) if isinstance(tests, str) else tests}
    for c in FLAT_COLUMNS:
        if kwargs.get(c) is not None and kwargs[c][i] is not None:
            row[c] = kwargs[c][i]
    if kwargs.get("spec") is not None and kwargs["spec"][i] is not None:
        spec = kwargs["spec"][i]
        row["spec"] = json.loads(spec) if isinstance(spec, str) else spec
    return row


def _truths_from_columns(n: int, kwargs: Mapping[str, Any]) -> list[Any]:
    """Per-row ground truths from the dataset columns TRL passes as keyword arguments."""
    if kwargs.get("ground_truth") is not None:
        truths = list(kwargs["ground_truth"])
    elif kwargs.get("reward_model") is not None:
        truths = list(kwargs["reward_model"])
    elif kwargs.get("tests") is not None:
        truths = [_truth_from_flat(i, t, kwargs) for i, t in enumerate(kwargs["tests"])]
    else:
        raise ValueError(
            "no ground truth: the dataset needs a `reward_model`, `ground_truth` or `tests` column "
            "(export with `stepstones export`)"
        )
    if len(truths) != n:
        raise ValueError(f"{n} completions but {len(truths)} ground truths")
    return truths


def reward_fn(
    completions: Sequence[str | Sequence[Mapping[str, Any]]],
    *,
    partial_credit: bool = False,
    sandbox: SandboxConfig | Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> list[float]:
    """TRL GRPO reward: one float per completion, ground truth read from the row's columns."""
    truths = _truths_from_columns(len(completions), kwargs)
    texts = [completion_text(c) for c in completions]
    return score(texts, truths, partial_credit=partial_credit, sandbox=sandbox)


def make_reward_fn(
    *, partial_credit: bool = False, sandbox: SandboxConfig | Mapping[str, Any] | None = None
) -> Callable[..., list[float]]:
    """A TRL reward function with options bound (TRL logs it under its `__name__`)."""

    def stepstones_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return reward_fn(completions, partial_credit=partial_credit, sandbox=sandbox, **kwargs)

    stepstones_reward.__name__ = "stepstones_partial" if partial_credit else "stepstones_pass"
    return stepstones_reward
