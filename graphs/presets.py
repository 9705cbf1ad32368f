"""Named bundles of run settings: the product's default, and the paper's loop as its authors ran it.

A preset sits between the defaults and a config file (defaults < preset < file < STEPSTONES_*
environment < command line), so a user can start from the paper's settings and change one.
Each preset says where its numbers come from. The default stays the default until the paper's
settings are measured to do as well offline (docs/experiments.md, "Presets").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    """Config values (the RunContext's own keys) and the source they come from."""

    name: str
    source: str
    values: dict[str, Any] = field(default_factory=dict)


def _bands(*bins: tuple[str, float, float], quota: int = 8) -> list[dict[str, Any]]:
    return [{"name": n, "lo": lo, "hi": hi, "quota": quota} for n, lo, hi in bins]


_PAPER_LOOP: dict[str, Any] = {
    "samples": 32,
    "direction_rule": "paper",
    "target_range": (0.35, 0.65),
    "band_gaps": "none",
}

PRESETS: dict[str, Preset] = {
    "default": Preset(
        "default", "stepstones' own settings: thirds of the pass-rate range, k = 4, band steering"
    ),
    "paper": Preset(
        "paper",
        "arXiv 2603.24202, section 3.3 and Appendix E: M = 32 samples; harder if p > 0.65, "
        "easier if p = 0; the refine prompt's target 0.35-0.65; bins easy 0.81-0.91, medium "
        "0.41-0.59, hard 0.05-0.16 (a pass rate between bins is in none)",
        {
            **_PAPER_LOOP,
            "bands": _bands(("hard", 0.05, 0.16), ("medium", 0.41, 0.59), ("easy", 0.81, 0.91)),
        },
    ),
    "paper-broad": Preset(
        "paper-broad",
        "arXiv 2603.24202: the paper's loop with its broader four bins, easy 0.85-0.97, "
        "easy-medium 0.61-0.85, medium 0.26-0.61, hard 0.10-0.26",
        {
            **_PAPER_LOOP,
            "bands": _bands(
                ("hard", 0.10, 0.26),
                ("medium", 0.26, 0.61),
                ("easy-medium", 0.61, 0.85),
                ("easy", 0.85, 0.97),
            ),
        },
    ),
}


def preset_values(name: str) -> dict[str, Any]:
    """The config values of preset `name`; ValueError naming the presets for an unknown one."""
    try:
        return dict(PRESETS[name].values)
    except KeyError:
        raise ValueError(f"unknown preset {name!r}: choose {', '.join(PRESETS)}") from None


def presets_help() -> str:
    """One line per preset, for --help and the docs."""
    return "; ".join(f"{p.name}: {p.source}" for p in PRESETS.values())
