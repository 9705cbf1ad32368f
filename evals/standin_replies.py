"""What the OpenAI stand-in says when it plays the teacher and the students.

One place for the replies that tests and benchmarks script against `OpenAIStandin`:

- `DRAFTS`: one valid draft of every environment (the tests' fixed examples, whose gold
  answers they check), and `fenced_reply`, a teacher's reply in the fenced layout the teacher
  is asked for: prose first, then one block per part;
- `bench_reply`: a reply function for the stand-in that reads each request as a vLLM server
  would see it and answers as the role that sent it. The teacher gets a distinct valid task of
  the environment its system prompt names (evals/bench_tasks.py), its number a hash of the
  request, so a rerun asks and gets the same; a refinement asked for a harder or easier task
  gets one whose pass rate is lower or higher than its parent's. A student gets the right or
  the wrong answer to the task its prompt names, decided per (model, task, choice) at the
  task's pass rate: deterministic per request, a mix the bands can use.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

from stepstones.agents.preflight import PING
from stepstones.evals.bench_tasks import TASK_ID, Task, make_task, pass_probability
from stepstones.tools.environments import get_environment
from stepstones.tools.environments.fenced import fenced_of

DRAFTS: dict[str, dict[str, Any]] = {
    "code": {
        "title": "Sort",
        "statement": "Given a list of integers xs, return it sorted in ascending order. solve(xs).",
        "entry_point": "solve",
        "inputs": [[[3, 1, 2]], [[]], [[2, 2, 1]], [[-5, 9, 0]]],
        "reference_solution": "def solve(xs):\n    return sorted(xs)\n",
    },
    "induction": {
        "title": "Squares",
        "message": "f takes a list of integers, returns an int.",
        "entry_point": "f",
        "program": "def f(xs):\n    return sum(x * x for x in xs)\n",
        "inputs": [[[1, 2]], [[3]], [[]], [[2, 2, 2]], [[-1, 4]]],
        "shown": 3,
    },
    "deduction": {
        "title": "Odd squares",
        "entry_point": "f",
        "program": "def f(n):\n    return [i * i for i in range(n) if i % 2]\n",
        "input": [7],
        "probes": [[3], [10]],
    },
    "abduction": {
        "title": "Affine",
        "entry_point": "f",
        "program": "def f(n):\n    return n * 3 + 1\n",
        "input": [5],
        "probes": [[1], [2]],
    },
    "fuzzing": {
        "title": "Clamp",
        "message": "f clamps x into 0..100.",
        "entry_point": "f",
        "program": "def f(x):\n    return -1 if x == 42 else max(0, min(x, 100))\n",
        "pre_test": "def pre_test(x):\n    return isinstance(x, int)\n",
        "test": "def test(x):\n    return 0 <= f(x) <= 100\n",
        "witness": [42],
        "inputs": [[5], [500], [-3]],
    },
}
"""One valid draft per environment, as a teacher would write it (no outputs anywhere)."""

TEACHER_PROSE = "The seed is about numbers; a task on them follows."
STUDENT_PROSE = (
    "I work through the task step by step, checking the edge cases (an empty list, negative "
    "numbers, repeated values) before I write the answer."
)

_ENVIRONMENT = re.compile(r"^Environment: (\w+)", re.MULTILINE)
_DIRECTION = re.compile(r"Write a \*\*(\w+)\*\* variant")
STEP = 0.25
"""How far a refinement moves the pass rate (down for harder, up for easier)."""


def fenced_reply(environment: str, draft: dict[str, Any]) -> str:
    """A teacher's reply holding `draft` in the fenced layout (validated as the environment's
    draft first, so a broken example fails here, not as a rejection deep in a run)."""
    record = get_environment(environment).draft_model.model_validate(draft)
    return f"{TEACHER_PROSE}\n\n{fenced_of(record)}\n"


_ENDPOINT = re.compile(r"@https?://[^\s/\"']+")


def _texts(body: dict[str, Any]) -> list[str]:
    """The request's message texts, endpoints (`@http://127.0.0.1:PORT`) blanked.

    The teacher's performance summary names each student by its spec, endpoint included, and
    the stand-in listens on a free port: hashing the port would make each invocation of a
    benchmark a different draw of tasks, whatever its `--seed`.
    """
    return [_ENDPOINT.sub("@endpoint", str(m.get("content", ""))) for m in body.get("messages", [])]


def _digest(*parts: object) -> int:
    return int(hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:12], 16)


def teacher_task(body: dict[str, Any]) -> Task:
    """The task a teacher request gets: fresh, or a step harder or easier than its parent."""
    texts = _texts(body)
    env = _ENVIRONMENT.search(texts[0]) if texts else None
    environment = env.group(1) if env else "code"
    asked = "\n".join(texts[1:])
    key = (body.get("model"), texts)
    direction = _DIRECTION.search(asked)
    parent = TASK_ID.search(asked)
    if direction is None or parent is None:
        return make_task(environment, _digest(key) % 1_000_000)
    step = -STEP if direction.group(1) == "harder" else STEP
    target = pass_probability(parent.group(1), int(parent.group(2))) + step
    target = min(0.95, max(0.05, target))
    candidates = [_digest(key, j) % 1_000_000 for j in range(32)]
    best = min(candidates, key=lambda v: abs(pass_probability(environment, v) - target))
    return make_task(environment, best)


def student_answer(body: dict[str, Any], choice: int) -> str:
    """A student's reply to the task its prompt names: right at the task's pass rate."""
    found = TASK_ID.search("\n".join(_texts(body)))
    if found is None:
        return "I cannot tell which task this is."
    task = make_task(found.group(1), int(found.group(2)))
    draw = random.Random(f"{body.get('model')}|{found.group(0)}|{choice}").random()
    return f"{STUDENT_PROSE}\n\n{task.right if draw < task.pass_p else task.wrong}"


def bench_reply(body: dict[str, Any], choice: int) -> str:
    """The stand-in's reply to any request of a run: the preflight ping, the teacher, a student."""
    texts = _texts(body)
    if texts and texts[-1].strip() == PING[-1].text:
        return "OK"
    if any("You are the teacher" in t for t in texts[:1]):
        task = teacher_task(body)
        return fenced_reply(task.environment, task.draft)
    return student_answer(body, choice)
