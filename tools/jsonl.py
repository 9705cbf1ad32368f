"""Reading JSON Lines a user or a package gave us: one reader, one kind of error message.

Seeds and benchmark copies are both JSONL; each bad line must be one error naming the file and
the line, in the caller's own exception type, so the command line prints it as one red line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def read_jsonl(
    lines: Iterable[str], origin: str, error: type[Exception], required: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; `error` for one that is not a JSON
    object with a string field `required`."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{origin}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not isinstance(row.get(required), str):
            raise error(f"{origin}:{number}: each line needs a string field {required!r}")
        yield number, row
