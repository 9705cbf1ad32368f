"""Rewards in verl's and TRL's signatures: right, wrong and hostile completions, batched and safe
from many threads, processes and event loops; a broken sandbox raises instead of scoring."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import threading
from collections.abc import Iterator, Sequence

import pytest

from stepstones.tools import reward
from stepstones.tools.export import GroundTruth
from stepstones.tools.sandbox import SandboxConfig, Submission
from stepstones.tools.schema import TestCase, Verdict

TRUTH = GroundTruth(
    tests=[TestCase(input=f"[{x}]", expected=str(x + 1)) for x in (0, 1, 5, -3)],
    entry_point="add_one",
    time_limit_s=0.5,
).model_dump_json()

RIGHT = "Sure:\n```python\ndef add_one(x):\n    return x + 1\n```"
WRONG = "```python\ndef add_one(x):\n    return x + 1 if x > 0 else x\n```"  # passes 2 of 4
HOSTILE = {
    "exit_early": "```python\nimport sys\nsys.exit(0)\ndef add_one(x):\n    return x + 1\n```",
    "forge_output": '```python\nprint(\'{"status": "passed", "passed": 4}\')\n'
    "def add_one(x):\n    return None\n```",
    "equal_to_all": "```python\nclass Any:\n    def __eq__(self, other):\n        return True\n"
    "def add_one(x):\n    return Any()\n```",
    "kill_parent": "```python\nimport os, signal\ndef add_one(x):\n"
    "    os.kill(os.getppid(), signal.SIGKILL)\n    return x + 1\n```",
    "spin": "```python\ndef add_one(x):\n    while True:\n        pass\n```",
    "read_secrets": "```python\ndef add_one(x):\n    return open('/etc/shadow').read()\n```",
}


def _isolation_reason() -> str | None:
    from stepstones.tools.sandbox.local import IsolationUnavailable, resolve_isolation

    try:
        resolve_isolation(SandboxConfig())
    except IsolationUnavailable as exc:
        return f"no sandbox isolation here (bwrap or user namespaces needed): {exc}"
    return None


needs_sandbox = pytest.mark.skipif((reason := _isolation_reason()) is not None, reason=reason or "")


@pytest.fixture(scope="module", autouse=True)
def small_sandbox() -> Iterator[None]:
    """Two workers are enough and start fast; closed after the module."""
    reward.configure(SandboxConfig(workers=2))
    yield
    reward._RUNTIME.close()


@needs_sandbox
def test_verl_compute_score_right_wrong_hostile() -> None:
    assert reward.compute_score("stepstones", RIGHT, TRUTH) == 1.0
    assert reward.compute_score("stepstones", WRONG, TRUTH) == 0.0
    assert reward.compute_score("stepstones", WRONG, TRUTH, partial_credit=True) == 0.5
    assert reward.compute_score("stepstones", "I don't know.", TRUTH, {"id": "x"}) == 0.0
    names = list(HOSTILE)
    scores = reward.compute_score_batch(
        ["stepstones"] * len(names), [HOSTILE[n] for n in names], [TRUTH] * len(names)
    )
    assert dict(zip(names, scores, strict=True)) == dict.fromkeys(names, 0.0)


@needs_sandbox
def test_trl_reward_fn_reads_dataset_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    run = reward._RUNTIME.run

    def counting(subs: Sequence[Submission]) -> list[Verdict]:
        calls.append(len(subs))
        return run(subs)

    monkeypatch.setattr(reward._RUNTIME, "run", counting)
    chat = [[{"role": "assistant", "content": RIGHT}], [{"role": "assistant", "content": WRONG}]]
    columns = {"reward_model": [{"style": "rule", "ground_truth": TRUTH}] * 2, "id": ["a", "b"]}
    assert reward.reward_fn(chat, prompts=[[], []], **columns) == [1.0, 0.0]
    assert reward.reward_fn([RIGHT, HOSTILE["forge_output"]], ground_truth=[TRUTH] * 2) == [
        1.0,
        0.0,
    ]
    flat = {"tests": [GroundTruth.model_validate_json(TRUTH).model_dump()["tests"]],
            "entry_point": ["add_one"], "io_style": ["function"]}  # fmt: skip
    assert reward.make_reward_fn(partial_credit=True)([WRONG], **flat) == [0.5]
    assert calls == [2, 2, 1]  # one sandbox call per batch
    with pytest.raises(ValueError, match="no ground truth"):
        reward.reward_fn([RIGHT])


@needs_sandbox
def test_many_threads_and_a_running_loop() -> None:
    results: list[list[float]] = []

    def worker() -> None:
        results.append(reward.reward_fn([RIGHT, WRONG], ground_truth=[TRUTH, TRUTH]))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[1.0, 0.0]] * 6

    async def inside_loop() -> float:  # a trainer that calls the sync API from async code
        return reward.compute_score("stepstones", RIGHT, TRUTH)

    assert asyncio.run(inside_loop()) == 1.0


def _default_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _score_in_child(text: str) -> float:
    return reward.compute_score("stepstones", text, TRUTH)


@needs_sandbox
def test_forked_workers_build_their_own_sandbox() -> None:
    assert reward.compute_score("stepstones", RIGHT, TRUTH) == 1.0  # parent's sandbox exists
    # The workers take SIGTERM's default: Pool.terminate stops them with it, and a handler
    # inherited from this process (whatever installed one earlier in the session) once left a
    # worker waiting for tasks forever and this test with it.
    with multiprocessing.get_context("fork").Pool(2, initializer=_default_sigterm) as pool:
        assert pool.map(_score_in_child, [RIGHT, WRONG, RIGHT]) == [1.0, 0.0, 1.0]


class _BrokenSandbox:
    name = "broken"
    isolation = "none"

    async def run(self, submissions: Sequence[Submission]) -> list[Verdict]:
        return [Verdict(status="sandbox_error", error="worker crashed") for _ in submissions]

    async def aclose(self) -> None:
        return None


def test_sandbox_error_raises_never_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = reward._Runtime()
    monkeypatch.setattr(reward, "_RUNTIME", runtime)
    monkeypatch.setattr(reward, "get_sandbox", lambda config: _BrokenSandbox())
    with pytest.raises(reward.RewardError, match="worker crashed"):
        reward.compute_score("stepstones", RIGHT, TRUTH)
    # no code to run: nothing reaches the sandbox and the score is a plain 0
    assert reward.reward_fn(["no code here"], ground_truth=[TRUTH]) == [0.0]
    runtime.close()


STDIO_TRUTH = GroundTruth(
    tests=[TestCase(input="1 2\n", expected="3\n"), TestCase(input="20 22\n", expected="42\n")],
    io_style="stdio",
).model_dump_json()
STDIO_RIGHT = (
    "```python\nimport sys\na, b = map(int, input().split())\n"
    "print('debug', file=sys.stderr)\nprint(a + b)\nsys.exit(0)\n```"
)
EXIT_EARLY = {
    "function": [
        "```python\ndef add_one(x):\n    raise SystemExit(0)\n```",
        "```python\ndef add_one(x):\n    import os\n    os._exit(0)\n```",
        "```python\nimport atexit, os\natexit.register(os._exit, 0)\n"
        "def add_one(x):\n    return None\n```",
    ],
    "stdio": [
        "```python\nimport sys\nsys.exit(0)\n```",
        "```python\nimport os\nos._exit(0)\n```",
        "```python\nimport os, json, struct\nfor i in range(2):\n"
        "    b = json.dumps({'i': i, 's': 'ok', 'o': '3\\n', 'e': None, 'c': 0}).encode()\n"
        "    os.write(3, struct.pack('>I', len(b)) + b)\nos._exit(0)\n```",
    ],
}


@needs_sandbox
def test_issue12_exit_early_never_scores() -> None:
    """Class 1: ending the process before the check, function or stdio style, scores 0 (a
    forged result frame can claim only an output the program could have printed: here 3 for
    both tests, right for one)."""
    texts = EXIT_EARLY["function"] + EXIT_EARLY["stdio"]
    truths = [TRUTH] * len(EXIT_EARLY["function"]) + [STDIO_TRUTH] * len(EXIT_EARLY["stdio"])
    assert reward.score(texts, truths) == [0.0] * len(texts)
    assert reward.compute_score("stepstones", STDIO_RIGHT, STDIO_TRUTH) == 1.0


@needs_sandbox
def test_issue12_tolerance_only_for_float_answers() -> None:
    """Class 1: an integer answer is exact; only a float expected value has a tolerance."""

    def truth(expected: str) -> str:
        return GroundTruth(tests=[TestCase(input="[]", expected=expected)]).model_dump_json()

    def returns(value: str) -> str:
        return f"```python\ndef solve():\n    return {value}\n```"

    cases = [
        ("3.0000000012", "3", 0.0),
        ("1e18", str(10**18 + 1), 0.0),
        ("True", "1", 0.0),
        ("3", "3", 1.0),
        ("3.0", "3", 1.0),
        ("0.1 + 0.2", "0.3", 1.0),
        ("[2.5000000000001, 1]", "[2.5, 1]", 1.0),
        ("[2.5, 1.0000001]", "[2.5, 1]", 0.0),
    ]
    scores = reward.score([returns(v) for v, _, _ in cases], [truth(e) for _, e, _ in cases])
    assert scores == [s for _, _, s in cases], list(zip(cases, scores, strict=True))


@needs_sandbox
def test_issue12_hostile_output_between_correct_ones_is_its_own_zero() -> None:
    """Class 2: output the host cannot decode is that completion's 0, never a RewardError."""
    deep = (
        "```python\nimport sys\nsys.setrecursionlimit(100000)\ndef add_one(x):\n"
        "    y = []\n    for _ in range(3000):\n        y = [y]\n    return y\n```"
    )
    huge = "```python\ndef add_one(x):\n    return 10**400\n```"
    texts = [RIGHT, deep, RIGHT, huge, RIGHT]
    assert reward.compute_score_batch(["s"] * 5, texts, [TRUTH] * 5) == [1.0, 0.0, 1.0, 0.0, 1.0]


@needs_sandbox
def test_partial_credit_is_for_code_only_and_truths_name_their_environment() -> None:
    """Outside code the reward is 0/1 (Table 1): an induction f^ right on 2 of 4 pairs is 0."""
    from stepstones.tools.environments import Truth

    induction = Truth.model_validate_json(TRUTH).model_copy(update={"environment": "induction"})
    assert reward.score([WRONG, RIGHT], [induction] * 2, partial_credit=True) == [0.0, 1.0]
    assert reward.score([WRONG], [GroundTruth.model_validate_json(TRUTH)], partial_credit=True) == [
        0.5
    ]  # a GroundTruth record is a code truth
    unknown = induction.model_copy(update={"environment": "nonesuch"}).model_dump_json()
    with pytest.raises(ValueError, match="unknown environment 'nonesuch'"):
        reward.compute_score("stepstones", RIGHT, unknown)


def test_importing_the_reward_module_registers_nothing_to_run_at_exit() -> None:
    """A trainer imports the reward from its config; only a sandbox it started has to be
    stopped at exit (issue 16: no atexit at import)."""
    import subprocess
    import sys

    code = (
        "import atexit\n"
        "seen = []\n"
        "register = atexit.register\n"
        "def spy(fn, *a, **k):\n"
        "    seen.append(getattr(fn, '__qualname__', repr(fn)))\n"
        "    return register(fn, *a, **k)\n"
        "atexit.register = spy\n"
        "import stepstones.tools.reward\n"
        "print([name for name in seen if name.startswith('_Runtime')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
