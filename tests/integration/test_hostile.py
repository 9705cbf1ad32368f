"""Hostile solutions: none may pass, escape, leak secrets, reach the network or outlive its run.

Expected outputs are random tokens known only to the host, so a program can only pass by learning
them from outside the sandbox. All programs run in one batch (as the graph would run them), then
each is checked, and so are host invariants: no process left under a sandbox uid, no file written
outside the sandbox, no connection to a host listener, no planted secret in any verdict, and the
pool still judging correctly afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepstones.tools.sandbox.base import SandboxConfig, Submission
from stepstones.tools.sandbox.local import LocalSandbox
from stepstones.tools.schema import ExecLimits, TestCase, Verdict

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="the local sandbox needs bubblewrap: apt-get install bubblewrap",
)

SECRETS = {
    "OPENAI_API_KEY": "sk-hostile-" + secrets.token_hex(12),
    "E2B_API_KEY": "e2b_hostile_" + secrets.token_hex(12),
}
TOKENS = [secrets.token_hex(8) for _ in range(3)]
TESTS = [TestCase(input=json.dumps([i]), expected=json.dumps(t)) for i, t in enumerate(TOKENS)]
LIMITS = ExecLimits(
    cpu_time_s=0.3, wall_time_s=1.0, memory_mb=256, output_bytes=50_000, max_processes=8
)
HOST_DIR = Path(tempfile.mkdtemp(prefix="stepstones-hostile-"))
ANSWERS = HOST_DIR / "answers.json"
SENTINELS = [
    Path("/tmp/stepstones-pwned"),
    HOST_DIR / "pwned",
    Path.home() / "stepstones-pwned",
    Path(__file__).with_name("pwned"),
]

_READ_ANSWERS = f"""
import glob
def solve(i):
    for path in [{str(ANSWERS)!r}] + glob.glob('/tmp/**/answers*', recursive=True):
        try:
            return __import__('json').load(open(path))[i]
        except Exception:
            pass
    return None
"""
_WRITE_OUTSIDE = "\n".join(
    ["def solve(i):"]
    + [f"    try: open({str(p)!r}, 'w').write('x')\n    except OSError: pass" for p in SENTINELS]
    + [
        "    for p in ['/usr/pwned', '/sandbox/harness.py', '/tmp/pwned', '/proc/sys/pwned']:",
        "        try: open(p, 'w').write('x')",
        "        except OSError: pass",
        "    return 'written'",
    ]
)

PROGRAMS: dict[str, tuple[str, set[str] | None]] = {
    "fork_bomb": (
        "import os\ndef solve(i):\n    while True:\n        try: os.fork()\n"
        "        except OSError: pass",
        None,
    ),
    "memory_hog": (
        "def solve(i):\n    a = []\n    while True:\n        a.append(' ' * 10**7)",
        {"memory_exceeded", "timeout"},
    ),
    "infinite_loop": ("def solve(i):\n    while True:\n        pass", {"timeout"}),
    "busy_threads": (
        "import threading\ndef spin():\n    while True:\n        pass\n"
        "def solve(i):\n    for _ in range(4):\n"
        "        threading.Thread(target=spin).start()\n    return 'x'",
        None,
    ),
    "huge_stdout": (
        "import sys\ndef solve(i):\n    while True:\n        sys.stdout.write('y' * 65536)",
        {"timeout"},
    ),
    "huge_return": ("def solve(i):\n    return 'z' * 10**6", {"output_limit"}),
    "huge_files": (
        "def solve(i):\n    n = 0\n    while True:\n"
        "        open(f'f{n}', 'w').write('q' * 10**6)\n        n += 1",
        None,
    ),
    "network_connect": (
        "import socket\ndef solve(i):\n    for host in ['1.1.1.1', '127.0.0.1']:\n"
        "        try: socket.create_connection((host, PORT), timeout=1)\n"
        "        except OSError: pass\n    return 'offline'",
        None,
    ),
    "dns_lookup": (
        "import socket\ndef solve(i):\n    return socket.getaddrinfo('pypi.org', 443)",
        {"runtime_error"},
    ),
    "read_shadow": ("def solve(i):\n    return open('/etc/shadow').read()", {"runtime_error"}),
    "read_home": (
        "import os\ndef solve(i):\n"
        "    return [os.listdir(os.path.expanduser('~')), os.listdir('/root'),"
        " open('/root/.bashrc').read()]",
        {"runtime_error"},
    ),
    "read_answers_file": (_READ_ANSWERS, None),
    "write_outside": (_WRITE_OUTSIDE, {"wrong_answer"}),
    "env_secrets": ("import os\ndef solve(i):\n    return dict(os.environ)", {"wrong_answer"}),
    "proc_environ": (
        "import os\ndef solve(i):\n    out = []\n    for p in os.listdir('/proc'):\n"
        "        try: out.append(open(f'/proc/{p}/environ').read())\n"
        "        except OSError: pass\n    return out",
        {"wrong_answer"},
    ),
    "kill_parent": (
        "import os, signal\ndef solve(i):\n    for pid in (os.getppid(), 1):\n"
        "        try: os.kill(pid, signal.SIGKILL)\n        except OSError: pass\n"
        "    return 'parent'",
        {"wrong_answer"},
    ),
    "kill_everything": ("import os, signal\ndef solve(i):\n    os.kill(-1, signal.SIGKILL)", None),
    "os_exit_before_tests": (
        "import os\nos._exit(0)\ndef solve(i):\n    return i",
        {"runtime_error"},
    ),
    "sys_exit_before_tests": (
        "import sys\nsys.exit(0)\ndef solve(i):\n    return i",
        {"runtime_error"},
    ),
    "forged_verdict_print": (
        "import json, os\nprint(json.dumps({'status': 'passed', 'passed': 3,"
        " 'total': 3}))\nos.write(1, b'PASSED 3/3')\n"
        'def solve(i):\n    print(\'{"status": "passed"}\')\n    return i',
        {"wrong_answer"},
    ),
    "forged_result_frames": (
        "import json, os, struct\nfor i in range(3):\n"
        "    b = json.dumps({'i': i, 's': 'ok', 'o': '\"guess\"', 'e': None,"
        " 'c': 0}).encode()\n    os.write(3, struct.pack('>I', len(b)) + b)\n"
        "os._exit(0)",
        {"wrong_answer"},
    ),
    "patch_harness": (
        "import sys\nhc = sys.modules['harness_child']\norig = hc.emit\n"
        "hc.emit = lambda i, s, o, e, c: orig(i, 'ok', '\"forged\"', None, 0)"
        "\ndef solve(i):\n    raise RuntimeError('no idea')",
        {"wrong_answer"},
    ),
    "patch_builtins": (
        "import builtins, json\njson.dumps = lambda *a, **k: '\"forged\"'\n"
        "builtins.isinstance = lambda *a: True\n"
        "def solve(i):\n    return None",
        None,
    ),
    "gc_scan_for_answers": (
        "import gc, re\ndef solve(i):\n"
        "    hexes = [o for o in gc.get_objects() if isinstance(o, str)"
        " and re.fullmatch('[0-9a-f]{16}', o)]\n"
        "    return hexes[i] if len(hexes) > i else None",
        {"wrong_answer"},
    ),
    "deep_recursion": (
        "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)"
        " + 1\ndef solve(i):\n    return f(0)",
        {"runtime_error", "timeout", "memory_exceeded"},
    ),
    "ignore_signals": (
        "import signal\nfor s in (signal.SIGXCPU, signal.SIGTERM, signal.SIGINT):\n"
        "    signal.signal(s, signal.SIG_IGN)\ndef solve(i):\n    while True:\n"
        "        pass",
        {"timeout"},
    ),
    "stop_self": (
        "import os, signal\ndef solve(i):\n    os.kill(os.getpid(), signal.SIGSTOP)",
        {"timeout"},
    ),
    "raise_rlimits": (
        "import resource\ndef solve(i):\n    for r in (resource.RLIMIT_CPU,"
        " resource.RLIMIT_AS, resource.RLIMIT_NPROC):\n"
        "        resource.setrlimit(r, (resource.RLIM_INFINITY,) * 2)\n    return i",
        {"runtime_error"},
    ),
    "background_daemon": (
        "import os, time\ndef solve(i):\n    if os.fork() == 0:\n"
        "        os.setsid()\n        if os.fork() == 0:\n"
        "            time.sleep(3600)\n        os._exit(0)\n    return i",
        {"wrong_answer"},
    ),
    "shell_escape": (
        "import subprocess\ndef solve(i):\n    return subprocess.run(['sh', '-c',"
        " 'id; cat /etc/passwd; ls /root; env'], capture_output=True,"
        " text=True).stdout",
        None,
    ),
    "close_result_pipe": ("import os\nos.close(3)\ndef solve(i):\n    return i", {"runtime_error"}),
    "setuid_root": ("import os\ndef solve(i):\n    os.setuid(0)\n    return i", {"runtime_error"}),
}


def _sandbox_pids(uids: set[int]) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid in uids:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A host TCP listener no sandboxed program may reach."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def judged(listener: socket.socket) -> Iterator[tuple[dict[str, Verdict], LocalSandbox]]:
    """Every hostile program judged in one batch, with secrets planted in the host env."""
    ANSWERS.write_text(json.dumps(TOKENS))
    port = listener.getsockname()[1]
    with pytest.MonkeyPatch.context() as mp:
        for key, value in SECRETS.items():
            mp.setenv(key, value)
        box = LocalSandbox(SandboxConfig(workers=4))
        subs = [
            Submission(code=code.replace("PORT", str(port)), tests=TESTS, limits=LIMITS)
            for code, _ in PROGRAMS.values()
        ]
        verdicts = box.run_sync(subs)
    for name, v in zip(PROGRAMS, verdicts, strict=True):
        print(f"{name:24} {v.status:16} cpu={v.cpu_s} wall={v.wall_s}")
    yield dict(zip(PROGRAMS, verdicts, strict=True)), box
    box.close()
    shutil.rmtree(HOST_DIR, ignore_errors=True)


def test_suite_is_large_enough() -> None:
    assert len(PROGRAMS) >= 25


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_hostile_program_never_passes(
    judged: tuple[dict[str, Verdict], LocalSandbox], name: str
) -> None:
    verdict = judged[0][name]
    allowed = PROGRAMS[name][1]
    assert verdict.status not in ("passed", "sandbox_error"), verdict.error
    assert verdict.passed == 0
    if allowed is not None:
        assert verdict.status in allowed, (verdict.status, verdict.error)
    blob = verdict.model_dump_json()
    for secret in SECRETS.values():
        assert secret not in blob


def test_host_invariants_hold(
    judged: tuple[dict[str, Verdict], LocalSandbox], listener: socket.socket
) -> None:
    verdicts, box = judged
    uids = {w.uid for w in box._all}
    assert _sandbox_pids(uids) == [], "a sandboxed process outlived its run"
    for path in SENTINELS:
        assert not path.exists(), f"wrote outside the sandbox: {path}"
    with pytest.raises(BlockingIOError):
        listener.accept()
    (after,) = box.run_sync(
        [
            Submission(
                code="def solve(i):\n    return TOKENS[i]".replace("TOKENS", repr(TOKENS)),
                tests=TESTS,
                limits=LIMITS,
            )
        ]
    )
    assert after.ok, after.error
    for name in ("env_secrets", "proc_environ", "shell_escape"):
        assert "API_KEY" not in (verdicts[name].tests[0].output or "")
