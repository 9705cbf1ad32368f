"""Build the wheel and check it holds every module and data file of the source tree.

An editable install maps folders directly, so a subpackage or prompt file missing from
pyproject's `packages` / `package-data` only shows up for users installing the wheel. This
builds it (no dependencies; pip fetches only the build backend) and compares file lists.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {
    "stepstones": "stepstones",
    "agents": "stepstones/agents",
    "graphs": "stepstones/graphs",
    "tools": "stepstones/tools",
    "evals": "stepstones/evals",
}
DATA_SUFFIXES = {".py", ".md", ".jsonl", ".json", ".gz"}


def expected_files() -> set[str]:
    """Source files a user's wheel must contain, as wheel paths."""
    out = set()
    for folder, target in FOLDERS.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts:
                out.add(f"{target}/{path.relative_to(ROOT / folder).as_posix()}")
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp, str(ROOT)],
            check=True,
        )
        wheel = next(Path(tmp).glob("stepstones-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
    missing = sorted(expected_files() - names)
    if missing:
        print("check_wheel: missing from the wheel (fix pyproject packages/package-data):")
        for name in missing:
            print(f"  {name}")
        return 1
    print(f"check_wheel: {wheel.name} holds all {len(expected_files())} source and data files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
