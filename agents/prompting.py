"""Prompt files: one .md per agent task beside the agents, filled with string.Template.

string.Template uses $name, so the braces that fill code and JSON examples need no escaping.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def prompt_template(name: str) -> Template:
    """The prompt `agents/prompts/<name>.md` as a Template."""
    text = resources.files("stepstones.agents").joinpath(f"prompts/{name}.md").read_text()
    return Template(text)


def render(name: str, **values: object) -> str:
    """The prompt `name` with `values` substituted; a missing value is a KeyError."""
    return prompt_template(name).substitute({k: str(v) for k, v in values.items()})
