"""The fork server's interpreter stays light: every module it imports can add work to every
child it forks (threading's at-fork hook, for one, runs in each; docs/sandbox.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import stepstones.tools.sandbox.harness as harness

PROBE = """
import json, sys
sys.path.append(sys.argv[1])
import harness, harness_check, harness_child
for name in harness._PRELOAD.split():
    __import__(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_fork_server_imports_no_module_that_hooks_every_fork() -> None:
    here = str(Path(harness.__file__).parent)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, here],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = set(json.loads(done.stdout))
    assert {"harness", "harness_child", "harness_check", "decimal"} <= modules  # the probe worked
    # random's at-fork hook reseeds in every child (44 page faults a verdict).
    assert not modules & {"threading", "subprocess", "asyncio", "random"}, sorted(modules)
