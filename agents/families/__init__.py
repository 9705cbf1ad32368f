"""Procedural task families: seeded generators of problems at several difficulty levels.

`FAMILIES` maps each family's name to its instance, in a stable order (module by module, then
as each module lists them), so a seeded permutation of `family_names()` is the same in every
process. Families are grouped by category in the sibling modules.
"""

from __future__ import annotations

from stepstones.agents.families import (
    alignment,
    digits,
    dp,
    graph_tasks,
    lists,
    numbers,
    search,
    simulation,
    strings,
    text_parsing,
    trading,
)
from stepstones.agents.families.base import BugKind, FamilyInstance, TaskFamily


def _registry() -> dict[str, TaskFamily]:
    registry: dict[str, TaskFamily] = {}
    for module in (
        strings,
        lists,
        numbers,
        digits,
        search,
        text_parsing,
        dp,
        alignment,
        trading,
        graph_tasks,
        simulation,
    ):
        for family in module.FAMILIES:
            if family.name in registry:
                raise ValueError(f"two task families are named {family.name!r}")
            registry[family.name] = family
    return registry


FAMILIES: dict[str, TaskFamily] = _registry()


def family_names() -> list[str]:
    """Names of all registered families, in registry order."""
    return list(FAMILIES)


def get_family(name: str) -> TaskFamily:
    """The family called `name`; KeyError naming the known families if there is none."""
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(FAMILIES)
        raise KeyError(f"unknown task family {name!r}; known families: {known}") from None


__all__ = ["FAMILIES", "BugKind", "FamilyInstance", "TaskFamily", "family_names", "get_family"]
