"""The forked child of the fork server (`harness.py`): isolate one job, then run the solution.

Also the worker's isolation helpers (`private_namespaces`, `mount_job_dirs`, `release_job_dirs`,
`remove_tree`, `expose_runtime`, `deny_keyrings`).

Stdlib only; it runs inside the sandbox under `python -I -S`, loaded once by the fork server so
that every job starts from a warm interpreter. The fork server sits in private mount and IPC
namespaces of its own and mounts a fresh tmpfs on /tmp and /dev/shm for each job (or one on /tmp
that /dev/shm links into, where /dev is the jail's own: `move_shm_into_tmp`), detached with
every SysV object once the job's last process is dead, so nothing a job leaves in files,
segments, queues or semaphores is there for the next one (POSIX queues cannot be made at all).
A /tmp that a job left exactly as it was mounted is kept for the next one (`release_job_dirs`).
Before any solution code runs, the child takes rlimits, a new session and an unprivileged uid;
no_new_privs and a seccomp filter that refuses the kernel keyrings (which outlive processes) it
inherits from the fork server, which took both before its first fork.

Results go to the fork server as frames on fd 3 (`RESULT_FD`): {"i", "s", "o", "e", "c"} per test,
`s` one of ok/runtime_error/memory_exceeded/output_limit. For function and stdio style the host
compares `o` with expected outputs the sandbox never sees, so a frame a solution forges can only
claim an output it could have returned. Check style (HumanEval's assert tests) has no secret
expected output, so there the trusted check runs in this process and the solution in a process
of its own (`harness_check.py`) that never holds fd 3: only the check can report success.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import errno
import json
import math
import os
import resource
import signal
import struct
import sys
import time
import traceback
from typing import Any

HEADER = struct.Struct(">I")
RESULT_FD = 3
_CLONE_NEWNS, _CLONE_NEWIPC = 0x00020000, 0x08000000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 2, 4, 1 << 14, 1 << 18
_MNT_DETACH, _IPC_RMID = 2, 0
_INODES = 16384
_write = os.write
_join = "".join
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_scan = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__
_JSON_SPACE = " \t\n\r"


def _not_serializable(obj: object) -> Any:
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


# json.dumps's own arguments to the C encoder (after markers), ASCII for outputs, not for frames.
_ASCII = (_not_serializable, json.encoder.encode_basestring_ascii, None, ": ", ", ", False,
          False, True)  # fmt: skip
_FRAME_ENCODER = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(None, _not_serializable, json.encoder.encode_basestring, *_ASCII[2:])
)


def dumps(obj: object) -> str:
    """`json.dumps(obj)`, from json's C encoder without the Python layers around it.

    json.dumps walks a JSONEncoder's Python methods, a closure and its checks on every call,
    and a forked child pays a page fault for each object it touches: five tests' outputs and
    result frames cost a child ~100 faults that way (docs/sandbox.md). The same arguments as
    json.dumps's own call of the C encoder, so the same text; a fresh markers dict each call,
    so a circular value is still a ValueError.
    """
    if _c_make_encoder is None:
        return json.dumps(obj)
    return _join(_c_make_encoder({}, *_ASCII)(obj, 0))


def encode(obj: object) -> str:
    """`json.dumps(obj, ensure_ascii=False)` for the frames of our own protocol: objects the
    harness or the host built, never a solution (no markers, so no cycle check)."""
    if _FRAME_ENCODER is None:
        return json.dumps(obj, ensure_ascii=False)
    return _join(_FRAME_ENCODER(obj, 0))


def loads(text: str | bytes) -> Any:
    """`json.loads(text)`, straight from json's C scanner where the text is plain UTF-8 JSON
    with no whitespace around it (all the harness's own frames and test inputs); anything else,
    including every error, goes through json.loads itself, so results and errors are its own."""
    try:
        s = text.decode("utf-8") if isinstance(text, bytes) else text
        if s and s[0] not in _JSON_SPACE:
            obj, end = _scan(s, 0)
            if end == len(s):
                return obj
    except (ValueError, StopIteration, RecursionError):
        pass
    return json.loads(text)


_process_time = time.process_time
_monotonic = time.monotonic
_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option: int, value: int) -> None:
    """Best-effort prctl(2) (no-op where ctypes cannot reach libc)."""
    with contextlib.suppress(Exception):
        _libc.prctl(option, value, 0, 0, 0)


def read_proc(path: str) -> bytes:
    """The whole of a small /proc file, read with raw syscalls.

    The fork server reads several per job, and every page it writes after a fork faults: a
    text-mode `open` builds a file, a buffer, a decoder and a wrapper each time (50 faults a
    read measured, against a handful this way). Raises OSError as `open` would.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _sysctl(name: str, value: int) -> None:
    try:
        with open(f"/proc/sys/{name}", "w") as fh:
            fh.write(str(value))
    except OSError:
        pass


def private_namespaces() -> bool:
    """Put the fork server itself in new mount and IPC namespaces; False if unavailable.

    Needs CAP_SYS_ADMIN (the root worker keeps it, the solution's uid never has it). Taken once
    at start, so the per-job mounts and IPC limits below can never reach the host, whatever
    isolation the worker was started under. SysV objects are capped (and removed after every
    job); POSIX message queues cannot be created by the solution's uid at all.
    """
    if _libc.unshare(_CLONE_NEWNS | _CLONE_NEWIPC) != 0:
        return False
    # Private propagation first: a mount here must never reach the host.
    if _libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return False
    for name, value in (("kernel/shmmni", 64), ("kernel/msgmni", 32),
                        ("fs/mqueue/queues_max", 0)):  # fmt: skip
        _sysctl(name, value)
    return True


_SHM_CAP: list[int] = [0]
_MOUNTED: list[bytes] = []
SHM_IN_TMP = "/tmp/.shm"
"""Where /dev/shm points once `move_shm_into_tmp` made it a link: inside each job's /tmp."""
_SHM_MOVED = [False]


def move_shm_into_tmp() -> bool:
    """Make /dev/shm a link into /tmp, so a job's one fresh tmpfs holds its shared memory too.

    A second tmpfs per job meant a second mount and lazy unmount per verdict, and mounts
    serialise the workers on the kernel's mount locks: with one, the pool ran 0-7% faster in
    interleaved pairs, its cores busier (docs/sandbox.md). Only for a jail whose /dev is its
    own (bubblewrap's `--dev`, asked for by the host with `--own-dev`): elsewhere /dev is the
    host's, which must never change. POSIX shared memory and semaphores (glibc: files under
    /dev/shm) follow the link.
    """
    try:
        os.rmdir("/dev/shm")
    except OSError:
        return False
    try:
        os.symlink(SHM_IN_TMP, "/dev/shm")
    except OSError:  # keep a /dev/shm for the per-job tmpfs, as before
        with contextlib.suppress(OSError):
            os.mkdir("/dev/shm", 0o1777)
        return False
    _SHM_MOVED[0] = True
    return True


_KEPT: list[Any] = [None]
"""The worker's /tmp while the jobs since its mount left it untouched: (uid and size it was
mounted for, what it looks like, the inode number the kernel gave out last)."""
_MS_NOATIME = 1024
_O_TMPFILE = getattr(os, "O_TMPFILE", 0o20200000)


def _observed() -> tuple[tuple[int, ...], int] | None:
    """All a job can read of an empty /tmp and /tmp/.shm, and the next inode number; None if
    either holds anything (an entry or an extended attribute) or cannot be read.

    Stat covers modes, owners, link counts, sizes and times (atime cannot move: the mount is
    noatime); the inode number is taken by an unnamed file (O_TMPFILE), which changes neither
    directory, and moves past any inode a job made, even one it never linked or deleted again.
    """
    try:
        if os.listdir("/tmp") != [".shm"] or os.listdir(SHM_IN_TMP):
            return None
        if os.listxattr("/tmp") or os.listxattr(SHM_IN_TMP):
            return None
        looks = tuple(
            x for st in (os.lstat("/tmp"), os.lstat(SHM_IN_TMP))
            for x in (st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_nlink, st.st_size,
                      st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)
        )  # fmt: skip
        fd = os.open("/tmp", _O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        try:
            inode = os.fstat(fd).st_ino
        finally:
            os.close(fd)
    except OSError:
        return None
    return looks, inode


def _mount_fresh(owner: int, tmp_bytes: int) -> bool:
    """Mount the job's tmpfs /tmp (and /dev/shm, or /tmp/.shm where it links there)."""
    opts = f"size={tmp_bytes},nr_inodes={_INODES},mode=0700,uid={owner},gid={owner}"
    flags = _MS_NOSUID | _MS_NODEV | (_MS_NOATIME if _SHM_MOVED[0] else 0)
    if _libc.mount(b"tmpfs", b"/tmp", b"tmpfs", flags, opts.encode()) != 0:
        return False
    _MOUNTED.append(b"/tmp")
    if _SHM_MOVED[0]:
        try:
            os.mkdir(SHM_IN_TMP, 0o700)
            os.chown(SHM_IN_TMP, owner, owner)
        except OSError:
            return False
        if (seen := _observed()) is not None:
            _KEPT[0] = ((owner, tmp_bytes), *seen)
    elif os.path.isdir("/dev/shm"):
        shm = f"size={tmp_bytes},nr_inodes={_INODES},mode=1777".encode()
        if _libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", _MS_NOSUID | _MS_NODEV, shm) != 0:
            return False
        _MOUNTED.append(b"/dev/shm")
    return True


def _detach() -> bool:
    """Lazily unmount every job mount, newest first; False if one would not go."""
    ok = True
    while _MOUNTED:
        if _libc.umount2(_MOUNTED.pop(), _MNT_DETACH) != 0:
            ok = False
    return ok


def mount_job_dirs(uid: int, tmp_bytes: int, mem_bytes: int) -> bool:
    """Fresh size- and inode-capped tmpfs on /tmp and /dev/shm for one job, and its SysV cap.

    Mounted by the fork server over its own (private) /tmp and /dev/shm before the fork, and
    detached after the job's last process is dead (`release_job_dirs`): a job's files, deep
    trees and chmod 000 directories go with the mount, which the kernel frees; there is nothing
    for a job to defeat. SysV shared memory is capped at the job's memory limit. Where
    /dev/shm is a link into /tmp (`move_shm_into_tmp`), the one tmpfs holds both, within one
    size and inode cap, and a /tmp that the jobs before left exactly as it was mounted is kept
    for the next job of the same uid and size (`release_job_dirs`).
    """
    owner = uid if uid >= 0 else os.getuid()
    kept = _KEPT[0]
    if kept is None or kept[0] != (owner, tmp_bytes):  # else: untouched since its mount
        if kept is not None:  # kept for another uid or size
            _KEPT[0] = None
            if not _detach():
                return False
        if not _mount_fresh(owner, tmp_bytes):
            return False
    if _SHM_CAP[0] != mem_bytes:
        _SHM_CAP[0] = mem_bytes
        _sysctl("kernel/shmmax", mem_bytes)
        _sysctl("kernel/shmall", mem_bytes // os.sysconf("SC_PAGE_SIZE"))
    return True


def release_job_dirs() -> tuple[bool, bool]:
    """Detach the job's /dev/shm and /tmp and remove every SysV object it made.

    A /tmp the job left untouched stays for the next job instead: its entries (none), its stat
    and its next inode number are what they were when it was mounted, so no job can tell it from
    a fresh one. A mount and an unmount fewer per verdict (the kernel's mount locks serialise
    them across workers) gave a median 11% more verdicts a second in ten interleaved pairs
    (docs/sandbox.md). One trace of the job in it, and it is detached as before; a job that
    writes any file gets a fresh /tmp every time (a stdio job's inputs and outputs are memfds,
    `_stage_inputs`, so only a file its program writes counts).

    Returns (clean, removed): `removed` says some SysV object existed, so the caller checks
    that none is left; with none, the worker's IPC state is unchanged and needs no check.
    """
    ok, removed = True, False
    kept = _KEPT[0]
    if kept is not None:
        seen = _observed()
        if seen is not None and seen[0] == kept[1] and seen[1] == kept[2] + 1:
            _KEPT[0] = (kept[0], kept[1], seen[1])
        else:
            _KEPT[0] = None
    if _KEPT[0] is None:
        ok = _detach()
    if not ipc_in_use():
        return ok, removed
    for kind, ctl in (("shm", _libc.shmctl), ("msg", _libc.msgctl), ("sem", _libc.semctl)):
        try:
            ids = [
                int(line.split()[1]) for line in read_proc(f"/proc/sysvipc/{kind}").splitlines()[1:]
            ]
        except (OSError, ValueError, IndexError):
            ok = False
            continue
        for ipc_id in ids:
            removed = True
            ctl(ipc_id, _IPC_RMID, None)
    return ok, removed


_IPC_INFO = ctypes.create_string_buffer(128)
_INFO_INT = struct.Struct("i")


def ipc_in_use() -> bool:
    """Whether this IPC namespace may hold a SysV object: False only when the kernel's own
    counts (shmctl SHM_INFO, msgctl MSG_INFO, semctl SEM_INFO) say none exists.

    Three calls instead of reading /proc/sysvipc/{shm,msg,sem} after every job; those files
    are read only when something is there to remove. A failed call counts as in use.
    """
    buf = _IPC_INFO
    if _libc.shmctl(0, 14, buf) < 0 or _INFO_INT.unpack_from(buf, 0)[0]:  # shm_info.used_ids
        return True
    if _libc.msgctl(0, 12, buf) < 0 or _INFO_INT.unpack_from(buf, 0)[0]:  # msginfo.msgpool
        return True
    return _libc.semctl(0, 0, 19, buf) < 0 or bool(_INFO_INT.unpack_from(buf, 28)[0])  # semusz


# seccomp-bpf: (AUDIT_ARCH, x32 bit or None, [add_key, request_key, keyctl]) per machine.
_KEYRING_SYSCALLS = {
    "x86_64": (0xC000003E, 0x40000000, (248, 249, 250)),
    "aarch64": (0xC00000B7, None, (217, 218, 219)),
}
_RET_ALLOW, _RET_EPERM = 0x7FFF0000, 0x00050000 | errno.EPERM


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]  # fmt: skip


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


_FILTER: list[Any] = []


def keyring_filter() -> Any:
    """The seccomp program of `deny_keyrings` (None where the numbers are not known here).

    Built once, in the fork server, which installs it on itself before its first job.
    """
    if _FILTER:
        return _FILTER[0]
    known = _KEYRING_SYSCALLS.get(os.uname().machine)
    if known is None:
        _FILTER.append(None)
        return None
    arch, x32, calls = known
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JGE|K, RET|K
    deny = 6 + len(calls)  # index of the last instruction; a jump counts from the next one
    prog = [
        (ld, 0, 0, 4),
        (jeq, 1, 0, arch),
        (ret, 0, 0, _RET_EPERM),
        (ld, 0, 0, 0),
        (jge, deny - 5, 0, x32 if x32 is not None else 0xFFFFFFFF),
    ]
    prog += [(jeq, deny - 6 - n, 0, nr) for n, nr in enumerate(calls)]
    prog += [(ret, 0, 0, _RET_ALLOW), (ret, 0, 0, _RET_EPERM)]
    filters = (_SockFilter * len(prog))(*(_SockFilter(*ins) for ins in prog))
    _FILTER.append((_SockFprog(len(prog), filters), filters))  # keep the array alive
    return _FILTER[0]


def deny_keyrings() -> bool:
    """Refuse the kernel keyring syscalls (EPERM) to this process and all it forks.

    A uid's keyrings outlive its processes and no namespace of ours holds them: without this a
    job can leave `add_key` data that the next job on the worker (same uid) reads back. Syscalls
    of another ABI (i386 `int 0x80`, x32) are refused too, so the numbers cannot be dodged.
    Needs no_new_privs; False where the numbers are not known here or seccomp is missing.
    """
    built = keyring_filter()
    if built is None:
        return False
    return bool(_libc.prctl(22, 2, ctypes.byref(built[0]), 0, 0) == 0)  # SET_SECCOMP, FILTER


def remove_tree(path: str) -> bool:
    """Remove `path` whatever a job did to it; True when it is gone.

    Iterative and fd-relative, so neither depth (recursion limit, PATH_MAX) nor permissions the
    job took away (chmod 000) stop it; only used where per-job namespaces are unavailable.
    """
    names: list[str] = []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        for _ in range(1_000_000):
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o700)
            sub = None
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        sub = entry.name
                        break
                    os.unlink(entry.name, dir_fd=fd)
            if sub is not None:
                with contextlib.suppress(OSError):
                    os.chmod(sub, 0o700, dir_fd=fd, follow_symlinks=False)
                child = os.open(sub, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = child
                names.append(sub)
                continue
            if not names:
                break
            parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(names.pop(), dir_fd=fd)
        os.close(fd)
        fd = -1
        os.rmdir(path)
        return True
    except OSError:
        return False
    finally:
        if fd >= 0:
            os.close(fd)


def expose_runtime(paths: list[str]) -> None:
    """Make `paths` (the Python runtime) reachable by the solution's uid in our mount namespace.

    The unshare fallback shows the host filesystem; a runtime under a 0700 directory (pyenv in
    /root) is unreadable to an unprivileged uid, so stdlib imports that were not preloaded fail.
    The topmost untraversable ancestor is covered with an empty tmpfs and each path bound back
    read-only, which also hides the rest of that directory. Root in a private mount namespace
    only; the host's mounts never change.
    """
    libc = _libc
    if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None):
        return
    for path in paths:
        parts = path.strip("/").split("/")
        hidden = next(
            (
                ("/" + "/".join(parts[: n + 1]))
                for n in range(len(parts) - 1)
                if not os.stat("/" + "/".join(parts[: n + 1])).st_mode & 0o001
            ),
            None,
        )
        if hidden is None:
            continue
        keep = os.open(path, os.O_PATH | os.O_DIRECTORY)
        if libc.mount(b"tmpfs", hidden.encode(), b"tmpfs", 0, b"mode=0755,size=1m") == 0:
            os.makedirs(path, 0o755, exist_ok=True)
            libc.mount(f"/proc/self/fd/{keep}".encode(), path.encode(), None, 4096 | 16384, None)
            libc.mount(None, path.encode(), None, 32 | 4096 | 1, None)  # remount bind, read-only
        os.close(keep)


def ipc_objects() -> frozenset[str]:
    """The SysV IPC objects (and /dev/shm files) visible here: a job must leave this unchanged.

    Only consulted where per-job namespaces are unavailable; a change makes the worker recycle.
    """
    seen: set[str] = set()
    for kind in ("shm", "msg", "sem"):
        try:
            lines = read_proc(f"/proc/sysvipc/{kind}").decode("ascii", "replace").splitlines()
        except OSError:
            continue
        seen.update(f"{kind} {' '.join(line.split()[:2])}" for line in lines[1:])
    with contextlib.suppress(OSError):
        seen.update(f"devshm {name}" for name in os.listdir("/dev/shm"))
    return frozenset(seen)


# ---------------------------------------------------------------- result frames


_pending: list[bytes] = []
_flushed = [0.0]
_BATCH_S = [0.005]
"""How long results may wait to be sent together; 0 for a streamed job, whose host may stop it
at the first failed test (a test that hangs next must not hold back the one that failed)."""


def flush() -> None:
    """Write buffered result frames: one wake-up of the worker for many fast tests."""
    data = memoryview(b"".join(_pending))
    _pending.clear()
    _flushed[0] = _monotonic()
    while data:
        data = data[_write(RESULT_FD, data) :]


def emit(index: int, status: str, output: str | None, error: str | None, cpu: float) -> None:
    """Queue one result frame; slow tests still stream, so a later kill keeps earlier results."""
    _pending.append(_frame({"i": index, "s": status, "o": output, "e": error, "c": round(cpu, 6)}))
    if _monotonic() - _flushed[0] >= _BATCH_S[0] or sum(map(len, _pending)) > 1 << 15:
        flush()


def _frame(body: dict[str, Any]) -> bytes:
    raw = encode(body).encode("utf-8", "replace")
    return HEADER.pack(len(raw)) + raw


_SETUP_FRAME = _frame({"i": -1, "s": "setup", "o": None, "e": None, "c": 0.0})
"""Every job's first frame, the same each time: built once, here, not in every child."""


def describe(exc: BaseException) -> str:
    """`Type: message`, at most 500 characters (safe on any exception)."""
    try:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    except BaseException:
        text = type(exc).__name__
    return text[-500:]


def kind(exc: BaseException) -> str:
    """The child status an exception stands for."""
    if isinstance(exc, MemoryError):
        return "memory_exceeded"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "output_limit"
    return "runtime_error"


# ---------------------------------------------------------------- runners


def _run_function(job: dict[str, Any], budget: int) -> None:
    inputs = job["inputs"]
    start = _process_time()
    try:
        ns: dict[str, Any] = {"__name__": "__solution__", "__builtins__": builtins}
        exec(compile(job["code"], "solution.py", "exec"), ns)
        fn = ns.get(job["entry_point"])
        if not callable(fn):
            raise NameError(f"entry point {job['entry_point']!r} is not defined")
    except BaseException as exc:
        for i in range(len(inputs)):
            emit(i, kind(exc), None, describe(exc), _process_time() - start)
        return
    for i, raw in enumerate(inputs):
        t0 = _process_time()
        try:
            args = loads(raw)
            if not isinstance(args, list):
                raise TypeError("test input is not a JSON array of arguments")
            out = dumps(fn(*args))
        except BaseException as exc:
            emit(i, kind(exc), None, describe(exc), _process_time() - t0)
            continue
        if len(out) > budget:
            emit(i, "output_limit", None, f"return value over {budget} bytes", 0.0)
            continue
        budget -= len(out)
        emit(i, "ok", out, None, _process_time() - t0)


def _run_stdio(job: dict[str, Any], budget: int, staged: bool) -> None:
    """Each test runs the program as `__main__` with stdin and stdout on files; stderr stays on
    /dev/null (fd 2), so debug prints and warnings never mix into the judged output. A
    `SystemExit` of 0 or None is a normal end: the output is still judged on the host.

    With `staged`, the inputs wait in memfds (`_stage_inputs`) and each test's stdout is
    a memfd too, so a program that writes nothing itself leaves /tmp as it was mounted; else
    both are files in the working directory.
    """
    try:
        code = compile(job["code"], "solution.py", "exec")
    except BaseException as exc:
        for i in range(len(job["inputs"])):
            emit(i, "runtime_error", None, describe(exc), 0.0)
        return
    for i in range(len(job["inputs"])):
        t0 = _process_time()
        if staged:
            os.dup2(_STDIN_FD + i, 0)
            os.close(_STDIN_FD + i)
            out_fd = os.memfd_create(f"stdout{i}", os.MFD_CLOEXEC)
            os.dup2(out_fd, 1)
        else:
            fd = os.open(f"stdin{i}", os.O_RDONLY)
            os.dup2(fd, 0)
            os.close(fd)
            fd = os.open(f"stdout{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.close(fd)
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.argv = ["solution.py"]
        status, error = "ok", None
        try:
            exec(code, {"__name__": "__main__", "__builtins__": builtins})
        except SystemExit as exc:
            if exc.code not in (None, 0):
                status, error = "runtime_error", f"SystemExit: {exc.code!r}"[:500]
        except BaseException as exc:
            status, error = kind(exc), describe(exc)
        try:
            sys.stdout.flush()
        except BaseException as exc:
            if status == "ok":
                status, error = kind(exc), describe(exc)
        if staged:
            data = _read_all(out_fd, budget + 1)
            os.close(out_fd)
        else:
            with open(f"stdout{i}", "rb") as fh:
                data = fh.read(budget + 1)
        if len(data) > budget and status == "ok":
            status, error = "output_limit", f"stdout over {budget} bytes in total"
        budget -= min(len(data), budget)
        output = data.decode("utf-8", "replace") if status == "ok" else None
        emit(i, status, output, error, _process_time() - t0)


def _read_all(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes of `fd` from its start (the program's own reads moved no offset of
    ours: pread)."""
    parts, size = [], 0
    while size < limit and (part := os.pread(fd, limit - size, size)):
        parts.append(part)
        size += len(part)
    return b"".join(parts)


_NOFILE = 256
"""A job's RLIMIT_NOFILE: the fds a program may hold, 0 to 255."""
_STDIN_FD = _NOFILE
"""Where a stdio job's inputs wait, one fd each from here: at and above the job's RLIMIT_NOFILE,
so they take none of the fds a program may open and no fd it opens can land on them."""


def _stage_inputs(inputs: list[str]) -> bool:
    """Put each stdio input in a memfd at `_STDIN_FD` + i, before the job's limits: the
    kernel's internal tmpfs holds them, not the job's /tmp, so the worker can keep a /tmp the
    job left untouched (`release_job_dirs`). False (and nothing staged) where the fd limit has
    no room for them or memfds cannot be made: the caller writes files instead.

    Not sealed: the tests of one job share one process, so a program can already change what a
    later test of its own sees (its builtins, its inputs as files did before), and only its own
    outputs are judged.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and _STDIN_FD + len(inputs) > soft:
        return False
    try:
        for i, text in enumerate(inputs):
            fd = os.memfd_create(f"stdin{i}", os.MFD_CLOEXEC)
            try:
                view = memoryview(text.encode("utf-8"))
                while view:
                    view = view[os.write(fd, view) :]
                os.lseek(fd, 0, os.SEEK_SET)
                os.dup2(fd, _STDIN_FD + i, inheritable=False)
            finally:
                os.close(fd)
    except OSError:  # no memfds here (a kernel or filter without them), or out of memory
        os.closerange(_STDIN_FD, _STDIN_FD + len(inputs))
        return False
    return True


_STDIO: tuple[Any, ...] = ()
_DEVNULL = [-1]
"""/dev/null, opened by the fork server for every child to take as its stdin, out and err."""
_ENVIRON_FOR: list[str | None] = [None]
"""The workdir the fork server's environment is already set for (comparing os.environ itself
decodes every variable: 60 page faults a child)."""


def _environ(workdir: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}


def _inherited() -> None:
    """What a child takes from the fork server across the fork rather than making itself (two
    signal calls are 31 page faults in a child): SIGXFSZ ignored, so a write past the job's
    file size limit fails with EFBIG instead of killing it; SIGPIPE back to its default, as
    in any program (Python ignores it), which the worker can take too: its only writes go
    to the host, and it has nothing left to do once the host is gone."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if _DEVNULL[0] < 0:
        _DEVNULL[0] = os.open("/dev/null", os.O_RDWR)


def prepare_children(workdir: str | None) -> None:
    """Build once in the fork server what every job's child would otherwise build itself.

    A child's first write to a page it shares with the server is a page copy; the stdio objects
    and the environment made here cost it nothing. `workdir` is None when it differs per job.
    The stdio objects are never written here: only a child, once its fds 1 and 2 are
    /dev/null, uses them.
    """
    global _STDIO
    _STDIO = (open(1, "w", closefd=False), open(2, "w", closefd=False))  # noqa: SIM115
    _inherited()
    if workdir is not None:
        os.environ.clear()
        os.environ.update(_environ(workdir))
    _ENVIRON_FOR[0] = workdir


def child(job: dict[str, Any], wfd: int, workdir: str | None, uid: int) -> None:
    """Set up one job's process (fds, limits, uid) and run it; returns when done.

    `workdir` is the run directory the worker made when it has no private namespaces; None
    means: work in the fresh /tmp the worker mounted for this job. no_new_privs and the keyring
    filter come from the worker, which took them before its first fork.
    """
    limits = job["limits"]
    mem = int(limits["memory_mb"]) * 1024 * 1024
    _BATCH_S[0] = 0.0 if job.get("stream") else 0.005
    os.setsid()
    if _DEVNULL[0] < 0:
        _inherited()
    if workdir is None:
        workdir = "/tmp"  # the fresh tmpfs the worker mounted for this job
    for fd in (0, 1, 2):
        os.dup2(_DEVNULL[0], fd)
    os.dup2(wfd, RESULT_FD)
    os.closerange(RESULT_FD + 1, 1 << 16)
    # The worker's sys.stdout buffers in memory; a solution's prints must go to /dev/null instead.
    sys.stdout, sys.stderr = _STDIO or (
        open(1, "w", closefd=False),  # noqa: SIM115
        open(2, "w", closefd=False),  # noqa: SIM115
    )
    os.chdir(workdir)
    staged = job["io_style"] == "stdio" and _stage_inputs(job["inputs"])
    if job["io_style"] == "stdio" and not staged:
        for i, text in enumerate(job["inputs"]):
            with open(f"stdin{i}", "w", encoding="utf-8") as fh:
                fh.write(text)
    if _ENVIRON_FOR[0] != workdir:  # the fork server set it already where the workdir is fixed
        os.environ.clear()
        os.environ.update(_environ(workdir))
    cpu = max(1, math.ceil(float(limits["cpu_time_s"])))
    out = int(limits["output_bytes"])
    for res, value in (
        (resource.RLIMIT_CPU, (cpu + 1, cpu + 2)),
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_FSIZE, (out, out)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NOFILE, (_NOFILE, _NOFILE)),
        (resource.RLIMIT_NPROC, (int(limits["max_processes"]),) * 2),
    ):
        resource.setrlimit(res, value)
    if uid >= 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    # Setup is done and no solution code has run: the worker tells setup failures (infrastructure)
    # from anything a solution does by this first frame, which a solution cannot take back.
    _pending.append(_SETUP_FRAME)
    flush()
    if job.get("check") is not None:
        _check_runner()(job, out)
    elif job["io_style"] == "stdio":
        _run_stdio(job, out, staged)
    else:
        _run_function(job, out)
    flush()


def _check_runner() -> Any:
    """harness_check.run_check, whichever way this module was loaded (package or jail)."""
    module = sys.modules.get("harness_check") or sys.modules.get(
        "stepstones.tools.sandbox.harness_check"
    )
    if module is None:
        raise RuntimeError("harness_check was not preloaded by the fork server")
    return module.run_check
