"""What a procedural task family is: a seeded generator of problems at several difficulty levels.

The procedural teacher and the simulated students are built on these. A family instance carries
its reference solution and a few realistic wrong solutions, so a simulated student's failures are
real code failing real tests in the sandbox.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import ClassVar, Literal

from pydantic import Field

from stepstones.tools.schema import IOStyle, Record, TestCase

BugKind = Literal["off_by_one", "edge_case", "too_slow", "exception", "wrong_logic"]


class FamilyInstance(Record):
    """One generated problem of a family at a level, with its reference and its bugs."""

    family: str
    level: int
    title: str
    statement: str
    entry_point: str
    io_style: IOStyle = "function"
    tests: list[TestCase] = Field(min_length=1)
    reference_solution: str
    bugs: dict[BugKind, str] = Field(
        description="bug kind -> a complete wrong solution that fails at least one test"
    )


class TaskFamily(ABC):
    """A parametric task with `levels` difficulty levels (1 = easiest)."""

    name: ClassVar[str]
    category: ClassVar[str]
    levels: ClassVar[int] = 3

    @abstractmethod
    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """A problem at `level`; the same rng state gives the same instance."""
