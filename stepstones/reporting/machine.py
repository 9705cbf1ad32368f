"""The machine a figure was measured on: printed beside every benchmark and experiment result.

Stdlib only, so benchmarks that need no plotting do not pull in matplotlib.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from typing import Any


def machine() -> dict[str, Any]:
    """CPU model, core count, load, Python, platform and date (UTC)."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "load": [round(x, 1) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line() -> str:
    """`machine()` as one line (shared machines vary a lot, so the load is in it)."""
    m = machine()
    load = ", ".join(f"{x:.1f}" for x in m["load"])
    return (
        f"{m['cpu']}, nproc={m['nproc']}, load average {load}, Python {m['python']}, "
        f"{m['platform']}, {m['date']}"
    )
