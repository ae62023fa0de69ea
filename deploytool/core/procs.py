"""Background daemons with a pid file and a log file.

Every daemon deploytool starts is detached from the caller's terminal and output: stdin is
/dev/null, stdout and stderr go to a log file, and it runs in a session (and process group) of
its own. A test runner or CI job that captured our output therefore never waits on a pipe a
daemon still holds, and a Ctrl-C in the terminal does not reach the daemon.

The pid file holds "<pid> <start-time>" (the start time is field 22 of /proc/<pid>/stat), so a
recycled pid is never mistaken for our daemon and never signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploytool.core.wait import wait_until


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    start_time: int | None  # None when unknown (a pid file written by another tool)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rfind(")") + 2:].split()


def start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
    return int(fields[19]) if fields and len(fields) > 19 else None


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child (so it does not linger as a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError:
        pass


def _threads_running(pid: int) -> bool:
    """True if a thread of pid is still running: a thread-group leader that exited shows as a
    zombie while its other threads (a Go daemon's, say) may still be at work."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            raw = (task / "stat").read_text()
        except OSError:
            continue
        if raw[raw.rfind(")") + 2:].split()[:1] not in (["Z"], ["X"]):
            return True
    return False


def pid_alive(pid: int, expected_start: int | None = None) -> bool:
    """True if the process exists, has not exited (no thread of it runs any more: a zombie waiting
    to be reaped counts as exited), and (if given) started at expected_start."""
    if pid <= 0:
        return False
    fields = _stat_fields(pid)
    if fields is None:
        return False
    if expected_start is not None and len(fields) > 19 and int(fields[19]) != expected_start:
        return False
    if fields[0] in ("Z", "X"):
        if _threads_running(pid):
            return True
        _reap(pid)
        return False
    return True


def read_pid_file(pid_file: Path) -> ProcInfo | None:
    try:
        words = Path(pid_file).read_text().split()
    except (FileNotFoundError, OSError):
        return None
    if not words or not words[0].isdigit():
        return None
    started = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
    return ProcInfo(int(words[0]), started)


def is_alive(pid_file: Path) -> bool:
    info = read_pid_file(pid_file)
    return info is not None and pid_alive(info.pid, info.start_time)


def start_daemon(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start argv detached (own session, stdin /dev/null, output appended to log_file); return its pid.

    If the pid file names a live process, that process is kept and its pid returned.
    """
    pid_file, log_file = Path(pid_file), Path(log_file)
    existing = read_pid_file(pid_file)
    if existing and pid_alive(existing.pid, existing.start_time):
        return existing.pid
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab", buffering=0) as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(argv)}\n".encode())
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(cwd) if cwd else None,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            close_fds=True,
        )
    started = start_time(proc.pid)
    pid_file.write_text(f"{proc.pid} {started if started is not None else ''}\n")
    # The Popen object may be dropped: pid_alive() reaps our own exited children.
    return proc.pid


def wait_gone(pid: int, expected_start: int | None, timeout: float) -> bool:
    try:
        return wait_until(lambda: not pid_alive(pid, expected_start), timeout, 0.1, f"pid {pid} to exit", retry=())
    except TimeoutError:
        return False


def stop_pid(pid: int, expected_start: int | None = None, timeout: float = 10.0, group: bool = True) -> bool:
    """SIGTERM (the process group if the pid leads one), wait up to timeout, then SIGKILL.

    Returns True if the process is gone at the end.
    """
    if not pid_alive(pid, expected_start):
        return True

    def send(sig: int) -> None:
        try:
            if group and os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            pass

    send(signal.SIGTERM)
    if wait_gone(pid, expected_start, timeout):
        return True
    send(signal.SIGKILL)
    return wait_gone(pid, expected_start, 5.0)


def stop_daemon(pid_file: Path, timeout: float = 10.0) -> bool:
    """Stop the daemon named by pid_file and remove the file. True if nothing is left running."""
    pid_file = Path(pid_file)
    info = read_pid_file(pid_file)
    gone = True
    if info is not None:
        gone = stop_pid(info.pid, info.start_time, timeout)
    if gone:
        pid_file.unlink(missing_ok=True)
    return gone


def tail(log_file: Path, lines: int = 20) -> str:
    """The last lines of a log file ('' if there is none), for error messages."""
    try:
        text = Path(log_file).read_text(errors="replace")
    except (FileNotFoundError, OSError):
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
