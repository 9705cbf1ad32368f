"""The student's task prompt: one renderer for the run and for the exported RL dataset.

Pass rates, bands and rewards are measured on the prompt the students were given; a policy
trained on another prompt would be trained on mislabelled difficulty. So the run's students
(`agents/student.py`) and the export (`tools/export.py`) both take their messages from here,
and a test holds them equal for every io style. It lives on the tools floor because the export
does; the templates are files beside it (tools/prompts/).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template

from stepstones.tools.schema import Problem

Message = dict[str, str]
"""A chat message as trainers read it: {"role": ..., "content": ...}."""


@cache
def _template(name: str) -> Template:
    return Template(resources.files("stepstones.tools").joinpath(f"prompts/{name}.md").read_text())


def system_message() -> str:
    """The students' system message: the reply form (one python block, standard library)."""
    return _template("student_system").substitute().strip()


def user_message(problem: Problem) -> str:
    """The statement, what to write (a function or a stdio program) and one worked example."""
    first = problem.tests[0]
    return (
        _template(f"student_solve_{problem.io_style}")
        .substitute(
            statement=problem.statement.strip(),
            entry_point=problem.entry_point,
            example_input=first.input,
            example_output=first.expected,
        )
        .strip()
    )


def task_messages(problem: Problem, *, system: bool = True) -> list[Message]:
    """The messages a student is given for `problem` (without the system one if asked): the
    code environment's, or the task and reply form of the problem's own environment."""
    if problem.environment == "code":
        sys_text, user = system_message(), user_message(problem)
    else:
        from stepstones.tools.environments import get_environment  # it imports this module

        env = get_environment(problem.environment)
        sys_text, user = env.system_prompt(), env.task_prompt(problem)
    head = [{"role": "system", "content": sys_text}] if system else []
    return [*head, {"role": "user", "content": user}]
