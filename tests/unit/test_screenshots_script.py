"""scripts/screenshots.py answers --help and by default writes nowhere near the committed docs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "screenshots.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_names_the_flags_and_runs_nothing() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for flag in ("--out", "--work", "--quota", "--width", "--height", "--chromium"):
        assert flag in proc.stdout
    assert "docs/images" in proc.stdout  # how to regenerate the committed image


def test_default_output_is_a_scratch_folder_outside_the_repository() -> None:
    args = load_script().parser().parse_args([])
    for folder in (args.out, args.work):
        resolved = folder.resolve()
        assert not resolved.is_relative_to(ROOT / "docs"), resolved
        assert not resolved.is_relative_to(ROOT), resolved
    explicit = load_script().parser().parse_args(["--out", "docs/images"])
    assert explicit.out == Path("docs/images") and explicit.work == args.work
