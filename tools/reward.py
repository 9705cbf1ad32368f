"""Rewards for RL trainers, judged by the same sandbox that measured the students' pass rates.

Three entry points over one batched scorer:

- `compute_score(data_source, solution_str, ground_truth, extra_info=None)`: verl's
  `custom_reward_function` signature (one completion);
- `compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos)`: verl's
  `reward_manager=batch` signature (a whole step in one sandbox call);
- `reward_fn(completions, **kwargs)`: TRL `GRPOTrainer(reward_funcs=...)`; the row's ground truth
  arrives as a dataset column in kwargs (`reward_model`, `ground_truth`, or `tests` +
  `entry_point` + `io_style`).

A completion scores 1.0 when every test passes, else 0.0 (or the fraction passed with
`partial_credit=True`). Infrastructure failure (`sandbox_error`) raises `RewardError`: a broken
sandbox must stop training, never teach the policy that correct code is worth 0.

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
from typing import Any

from stepstones.tools.export import GroundTruth
from stepstones.tools.sandbox import Sandbox, SandboxConfig, Submission, get_sandbox
from stepstones.tools.schema import Verdict


class RewardError(RuntimeError):
    """The sandbox failed (infrastructure, not the completion): no score can be given."""


def _extract(text: str, entry_point: str) -> str | None:
    # The students' own extractor, so a completion earns the reward its pass rate promised.
    from stepstones.tools.codeblocks import extract_code

    code: str | None = extract_code(text, entry_point)
    return code


class _Runtime:
    """One sandbox per process on a private event-loop thread, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = SandboxConfig()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sandbox: Sandbox | None = None

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
atexit.register(_RUNTIME.close)


def configure(sandbox: SandboxConfig | Mapping[str, Any] | None = None) -> None:
    """Choose the sandbox rewards run in (default `SandboxConfig()`: local, isolated)."""
    cfg = sandbox if isinstance(sandbox, SandboxConfig) else SandboxConfig.model_validate(
        dict(sandbox or {}))  # fmt: skip
    _RUNTIME.configure(cfg)


def parse_ground_truth(value: GroundTruth | str | Mapping[str, Any]) -> GroundTruth:
    """A ground truth from its JSON string, a dict, or a `reward_model` dict holding either."""
    if isinstance(value, GroundTruth):
        return value
    if isinstance(value, Mapping) and "ground_truth" in value:
        return parse_ground_truth(value["ground_truth"])
    if isinstance(value, str):
        return GroundTruth.model_validate_json(value)
    return GroundTruth.model_validate(dict(value))


def score(
    completions: Sequence[str],
    truths: Sequence[GroundTruth | str | Mapping[str, Any]],
    *,
    partial_credit: bool = False,
    sandbox: SandboxConfig | Mapping[str, Any] | None = None,
) -> list[float]:
    """Scores of completions against their ground truths, judged in one sandbox call."""
    if len(completions) != len(truths):
        raise ValueError(f"{len(completions)} completions but {len(truths)} ground truths")
    if sandbox is not None:
        configure(sandbox)
    parsed = [parse_ground_truth(t) for t in truths]
    limits = _RUNTIME._config.limits
    pending: list[tuple[int, Submission]] = []
    for i, (text, truth) in enumerate(zip(completions, parsed, strict=True)):
        code = _extract(text, truth.entry_point)
        if code is None:
            continue
        lim = limits if truth.time_limit_s is None else limits.model_copy(
            update={"cpu_time_s": truth.time_limit_s})  # fmt: skip
        pending.append((i, Submission(code=code, tests=truth.tests, entry_point=truth.entry_point,
                                      io_style=truth.io_style, limits=lim)))  # fmt: skip
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
        elif partial_credit and verdict.total:
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
    """verl's custom reward: 1.0 if the completion passes every test, else 0.0."""
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


def _truths_from_columns(n: int, kwargs: Mapping[str, Any]) -> list[Any]:
    """Per-row ground truths from the dataset columns TRL passes as keyword arguments."""
    if kwargs.get("ground_truth") is not None:
        truths = list(kwargs["ground_truth"])
    elif kwargs.get("reward_model") is not None:
        truths = list(kwargs["reward_model"])
    elif kwargs.get("tests") is not None:
        cols = ("entry_point", "io_style", "time_limit_s")
        truths = [
            {"tests": json.loads(t) if isinstance(t, str) else t,
             **{c: kwargs[c][i] for c in cols if kwargs.get(c) is not None}}
            for i, t in enumerate(kwargs["tests"])
        ]  # fmt: skip
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
