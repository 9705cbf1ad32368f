"""Export and reward for every environment, end to end through the real sandbox.

One problem of each environment is derived from a family problem and built with gold by
execution (as the offline teacher does), banked, exported, and every exported row is then
scored from what the row itself carries: its prompt is the student's prompt of its environment,
its ground truth (reward_model for verl, the flat columns for TRL) gives a right answer 1.0 and
wrong and hostile answers 0.0, and the card counts the rows per environment. Families differ per
environment so no row is a near-duplicate of another (the export's dedup compares statement and
program, across environments as the run's critic does).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepstones.agents.families import FAMILIES
from stepstones.agents.teacher import problem_from_instance
from stepstones.tools import reward
from stepstones.tools.environments import ENVIRONMENT_NAMES, Truth, get_environment
from stepstones.tools.environments.base import same_value
from stepstones.tools.environments.derive import derive, derive_fuzzing
from stepstones.tools.export import GroundTruth, export_run
from stepstones.tools.sandbox import SandboxConfig, get_sandbox
from stepstones.tools.schema import Lineage, Problem
from stepstones.tools.store import Bank
from stepstones.tools.task_prompt import task_messages
from tests.conftest import needs_bwrap

pytestmark = needs_bwrap

FAMILY = {
    "code": "arithmetic",
    "induction": "digit_sums",
    "deduction": "primes",
    "abduction": "run_length",
    "fuzzing": "custom_sort",
}
HOSTILE_VALUES = [
    "[" * 5000 + "]" * 5000,
    "9" * 50_000,
    "__import__('os').system('true')",
    "f(exec('import os'))",
    '```json\n["found"]\n```',
    "I cannot answer this.",
]


def fenced(lang: str, text: str) -> str:
    return f"Here it is:\n```{lang}\n{text}\n```"


async def _one(env_name: str, sandbox: Any) -> tuple[Problem, dict[str, list[str]]]:
    """A valid problem of `env_name` and its right, wrong and hostile replies."""
    family = FAMILY[env_name]
    source = problem_from_instance(
        FAMILIES[family].generate(2, random.Random(3)), Lineage(seed_id=family)
    )
    draft = (
        await derive_fuzzing(source, random.Random(5), sandbox)
        if env_name == "fuzzing"
        else derive(source, env_name, random.Random(5))
    )
    assert draft is not None, env_name
    env = get_environment(env_name)
    problem = await env.build(draft, Lineage(seed_id=family), sandbox)
    assert isinstance(problem, Problem), (env_name, problem)
    assert await env.validate(problem, sandbox) == [], env_name
    entry = problem.entry_point
    exit_early = fenced("python", f"raise SystemExit(0)\ndef {entry}(*a):\n    return None")
    forge = fenced(
        "python", f'print(\'{{"status": "passed"}}\')\ndef {entry}(*a):\n    return None'
    )
    if env_name in ("code", "induction"):
        replies = {
            "right": [fenced("python", problem.reference_solution)],
            "wrong": [fenced("python", f"def {entry}(*a):\n    return None")],
            "hostile": [exit_early, forge, "I cannot solve this."],
        }
    elif env_name == "deduction":
        output = problem.spec["output"]
        replies = {
            "right": [fenced("json", json.dumps(output))],
            "wrong": [json.dumps([output, "x"]), json.dumps({"v": output})],
            "hostile": [*HOSTILE_VALUES, exit_early],
        }
    elif env_name == "abduction":
        other = next(
            json.loads(t.input)
            for t in source.tests
            if not same_value(json.loads(t.expected), problem.spec["output"])
        )
        replies = {
            "right": [fenced("json", json.dumps(draft.input))],
            "wrong": [json.dumps(other), "[]"],
            "hostile": [*HOSTILE_VALUES, exit_early],
        }
    else:
        replies = {
            "right": [fenced("json", json.dumps(draft.witness))],
            "wrong": [json.dumps(draft.inputs[0]), '[["not", "a", "list of ints"]]'],
            "hostile": [*HOSTILE_VALUES, exit_early],
        }
    band, rate = "medium", 0.5
    return problem.model_copy(
        update={"band": band, "pass_rate": rate, "pass_rates": {"sim:novice": rate}}
    ), replies


async def _all() -> dict[str, tuple[Problem, dict[str, list[str]]]]:
    sandbox = get_sandbox(SandboxConfig(workers=2))
    try:
        return {name: await _one(name, sandbox) for name in ENVIRONMENT_NAMES}
    finally:
        await sandbox.aclose()


@pytest.fixture(scope="module")
def built() -> dict[str, tuple[Problem, dict[str, list[str]]]]:
    """One valid problem of each environment, with the replies that judge its row."""
    return asyncio.run(_all())


@pytest.fixture(scope="module", autouse=True)
def small_sandbox() -> Iterator[None]:
    """The reward's own sandbox, two workers, closed after the module."""
    reward.configure(SandboxConfig(workers=2))
    yield
    reward._RUNTIME.close()


@pytest.fixture(scope="module")
def exported(
    built: dict[str, tuple[Problem, dict[str, list[str]]]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Bank]:
    """The five problems banked in one finished run and exported as parquet."""
    root = tmp_path_factory.mktemp("envs")
    bank = Bank(root / "bank.sqlite")
    bank.start_run(
        "r",
        {
            "bands": [{"name": "medium", "lo": 0.0, "hi": 1.0, "quota": 5}],
            "teacher": "procedural",
            "students": ["sim:novice"],
        },
    )
    for problem, _ in built.values():
        bank.put_problem("r", problem.id, problem, valid=True)
    bank.finish_run("r", "finished", {})
    result = export_run(bank, root / "out", fmt="parquet", benchmark=None)
    assert result.rows == len(ENVIRONMENT_NAMES) and not result.excluded
    return root / "out", bank


def _rows(out: Path) -> dict[str, dict[str, Any]]:
    import pyarrow.parquet as pq

    rows = pq.read_table(out / "train.parquet").to_pylist()
    return {r["environment"]: r for r in rows}


def test_every_row_names_its_environment_and_has_the_students_prompt(
    built: dict[str, tuple[Problem, dict[str, list[str]]]], exported: tuple[Path, Bank]
) -> None:
    out, bank = exported
    rows = _rows(out)
    assert set(rows) == set(ENVIRONMENT_NAMES)
    for name, row in rows.items():
        problem = bank.problem("r", row["id"])
        assert problem is not None and problem.environment == name
        assert row["extra_info"]["environment"] == name
        assert row["prompt"] == task_messages(problem)
        assert row["prompt"] == task_messages(built[name][0])
        truth = Truth.model_validate_json(row["reward_model"]["ground_truth"])
        assert truth == get_environment(name).truth(problem)
        if name in ("code", "induction"):  # the student writes f: its reference stays out
            assert truth.program is None and row["program"] is None
            assert (
                json.dumps(problem.reference_solution)[1:-1]
                not in row["reward_model"]["ground_truth"]
            )
    code = rows["code"]  # exactly the JSON code rows had before environments existed
    assert (
        code["reward_model"]["ground_truth"]
        == GroundTruth.of(bank.problem("r", code["id"])).model_dump_json()
    )
    assert "environment" not in json.loads(code["reward_model"]["ground_truth"])
    meta = json.loads((out / "export.json").read_text())
    assert meta["environments"] == dict.fromkeys(ENVIRONMENT_NAMES, 1)
    card = (out / "README.md").read_text()
    assert "## Counts per environment" in card
    assert all(f"| {name} | 1 |" in card for name in ENVIRONMENT_NAMES)


def _cases(
    built: dict[str, tuple[Problem, dict[str, list[str]]]], rows: dict[str, dict[str, Any]]
) -> tuple[list[str], list[str], list[float], list[str]]:
    """Every reply of every environment: (environments, replies, expected scores, truths)."""
    envs, texts, want, truths = [], [], [], []
    for name, (_, replies) in built.items():
        for kind, items in replies.items():
            for text in items:
                envs.append(f"{name}/{kind}")
                texts.append(text)
                want.append(1.0 if kind == "right" else 0.0)
                truths.append(rows[name]["reward_model"]["ground_truth"])
    return envs, texts, want, truths


def test_verl_compute_score_judges_every_environment_by_execution(
    built: dict[str, tuple[Problem, dict[str, list[str]]]], exported: tuple[Path, Bank]
) -> None:
    rows = _rows(exported[0])
    envs, texts, want, truths = _cases(built, rows)
    one_by_one = [
        reward.compute_score("stepstones", t, g, rows[e.split("/")[0]]["extra_info"])
        for e, t, g in zip(envs, texts, truths, strict=True)
    ]
    assert dict(zip(zip(envs, texts, strict=True), one_by_one, strict=True)) == dict(
        zip(zip(envs, texts, strict=True), want, strict=True)
    )
    batch = reward.compute_score_batch(["stepstones"] * len(texts), texts, truths)
    assert batch == want, list(zip(envs, batch, strict=True))


def test_trl_reward_fn_reads_reward_model_or_the_flat_columns(
    built: dict[str, tuple[Problem, dict[str, list[str]]]], exported: tuple[Path, Bank]
) -> None:
    rows = _rows(exported[0])
    envs, texts, want, _ = _cases(built, rows)
    per = [rows[e.split("/")[0]] for e in envs]
    chats = [[{"role": "assistant", "content": t}] for t in texts]
    got = reward.reward_fn(
        chats, reward_model=[r["reward_model"] for r in per], id=[r["id"] for r in per]
    )
    assert got == want, list(zip(envs, got, strict=True))
    flat = {
        c: [r[c] for r in per]
        for c in (
            "tests",
            "entry_point",
            "io_style",
            "time_limit_s",
            "environment",
            "spec",
            "program",
            "id",
            "stage",
        )
    }
    got = reward.make_reward_fn(partial_credit=True)(texts, **flat)
    assert got == want, list(zip(envs, got, strict=True))
