"""pid_alive: an exited process is gone even as an unreaped zombie; one whose threads still run is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deploytool.core import procs

# The main thread exits (pthread_exit) while another thread sleeps: the leader shows as a zombie,
# the process is still running.
LEADER_EXITS = ("import ctypes, threading, time\n"
                "threading.Thread(target=time.sleep, args=(60,)).start()\n"
                "ctypes.CDLL(None).pthread_exit(None)\n")


def _state(pid: int) -> str:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rfind(")") + 2:].split()[0]


def _until(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_zombie_leader_with_running_threads_is_alive_and_an_exited_process_is_not() -> None:
    proc = subprocess.Popen([sys.executable, "-c", LEADER_EXITS])
    try:
        assert _until(lambda: _state(proc.pid) == "Z"), "the main thread did not exit"
        assert procs.pid_alive(proc.pid, procs.start_time(proc.pid))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
    assert _until(lambda: not procs.pid_alive(proc.pid))
    assert not Path(f"/proc/{proc.pid}").exists() or _state(proc.pid) in ("Z", "X")


def test_stop_pid_waits_until_the_process_has_exited() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    started = procs.start_time(proc.pid)
    assert procs.pid_alive(proc.pid, started)
    assert procs.stop_pid(proc.pid, started, timeout=5)
    assert not procs.pid_alive(proc.pid, started)
