"""The helm runner stops helm when deploytool is interrupted, and keeps helm out of the terminal's
Ctrl-C (its own session), so that `up` decides what happens to the release, not a half-killed helm."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import FrameType

import pytest

from deploytool.core.helm import Helm


def test_an_interrupt_stops_the_helm_process(tmp_path: Path) -> None:
    helm = Helm.__new__(Helm)  # the runner only; the command is a shell standing in for a long helm call
    helm.binary, helm.kubeconfig, helm.context = "/bin/sh", None, None
    pid_file = tmp_path / "pid"

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            helm._run(["-c", f"echo $$ > {pid_file}; echo $(ps -o sid= -p $$) >> {pid_file}; exec sleep 30"])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pid, session = (int(x) for x in pid_file.read_text().split())
    assert pid == session, "helm leads a session of its own: a terminal's Ctrl-C does not reach it"
    assert session != os.getsid(0)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"helm (pid {pid}) still runs after the interrupt")
