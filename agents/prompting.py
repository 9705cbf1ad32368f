"""Prompt files: one .md per agent task beside the agents, filled with string.Template.

string.Template uses $name, so the braces that fill code and JSON examples need no escaping.
A run may replace any of them (`prompt_files` in its config): the override is read once,
checked against the default's placeholders, and kept as text in the run's config, so the bank
records the exact prompts a run used and a resume uses them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template


def prompt_names() -> list[str]:
    """The agent prompts a config may override (`agents/prompts/<name>.md`)."""
    folder = resources.files("stepstones.agents").joinpath("prompts")
    return sorted(p.name.removesuffix(".md") for p in folder.iterdir() if p.name.endswith(".md"))


@cache
def prompt_template(name: str) -> Template:
    """The prompt `agents/prompts/<name>.md` as a Template."""
    text = resources.files("stepstones.agents").joinpath(f"prompts/{name}.md").read_text()
    return Template(text)


def render(name: str, prompts: Mapping[str, str] | None = None, **values: object) -> str:
    """The prompt `name` (a run's override in `prompts` if it has one) with `values`
    substituted; a missing value is a KeyError."""
    template = Template(prompts[name]) if prompts and name in prompts else prompt_template(name)
    return template.substitute({k: str(v) for k, v in values.items()})


def check_override(name: str, text: str) -> str:
    """`text` if it can replace the prompt `name`, else a ValueError saying why.

    An override may leave placeholders out (a prompt that ignores the seed is allowed) but may
    not use one the agent does not fill: that would fail mid-run, at the first call.
    """
    names = prompt_names()
    if name not in names:
        raise ValueError(f"unknown prompt {name!r}; the prompts are: {', '.join(names)}")
    template = Template(text)
    if not template.is_valid():
        raise ValueError(f"prompt {name!r}: a stray $ (write $$ for a literal dollar sign)")
    known = set(prompt_template(name).get_identifiers())
    unknown = sorted(set(template.get_identifiers()) - known)
    if unknown:
        raise ValueError(
            f"prompt {name!r} uses {', '.join('$' + u for u in unknown)}, which "
            f"the agent does not fill; it fills: "
            f"{', '.join('$' + k for k in sorted(known)) or 'nothing'}"
        )
    return text


def read_overrides(files: Mapping[str, str | Path]) -> dict[str, str]:
    """The texts of prompt override files (name -> path), each checked by `check_override`."""
    out = {}
    for name, path in files.items():
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"prompt {name!r}: cannot read {path}: {exc.strerror}") from None
        out[name] = check_override(name, text)
    return out
