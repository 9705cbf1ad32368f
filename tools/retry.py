"""How long to wait before retrying a remote call: one rule for model endpoints and E2B.

Exponential so a struggling service gets room, capped so a long outage is polled at a steady
rate, and jittered so many callers that failed together do not retry together.
"""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base_s: float, cap_s: float) -> float:
    """Seconds to wait before retry `attempt` (0-based): base_s * 2**attempt, capped at cap_s,
    times a uniform 0.5-1.5 jitter."""
    return min(cap_s, base_s * 2.0**attempt) * random.uniform(0.5, 1.5)
