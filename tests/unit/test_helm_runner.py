"""The helm runner stops helm when deploytool is interrupted, and keeps helm out of the terminal's
Ctrl-C (its own session), so that `up` decides what happens to the release, not a half-killed helm."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import FrameType

import pytest

from deploytool.core.errors import BadInput
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


def _stand_in(tmp_path: Path, script: str) -> Helm:
    """A Helm whose binary is a shell script standing in for helm."""
    binary = tmp_path / "helm"
    binary.write_text("#!/bin/sh\n" + script)
    binary.chmod(0o755)
    helm = Helm.__new__(Helm)
    helm.binary, helm.kubeconfig, helm.context = str(binary), None, None
    return helm


def test_template_values_reach_helm_on_its_stdin_with_collection_off(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    helm = _stand_in(tmp_path, 'echo "argv: $*"; echo "gc: $GOGC $GOMEMLIMIT"; cat\n')
    templating = helm.start_template("milvus", tmp_path, "milvus-dev")
    templating.send_values({"b": [1, "x"], "a": {"c": None}})
    out = templating.result()
    assert out.splitlines()[:2] == [f"argv: template milvus {tmp_path} --namespace milvus-dev -f -", "gc: off 512MiB"]
    assert out.split("\n", 2)[2] == "a:\n  c: null\nb:\n- 1\n- x\n"


def test_a_gc_setting_of_the_user_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOGC", "200")
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    helm = _stand_in(tmp_path, 'echo "gc: $GOGC/$GOMEMLIMIT"; cat >/dev/null\n')
    assert helm.template("milvus", tmp_path, "ns", {}) == "gc: 200/\n"


def test_helm_failing_before_it_reads_its_values_is_reported_by_result(tmp_path: Path) -> None:
    helm = _stand_in(tmp_path, 'echo "Error: chart not found" >&2; exit 1\n')
    templating = helm.start_template("milvus", tmp_path, "ns")
    templating.proc.wait()
    templating.send_values({"big": "x" * 200_000})  # more than a pipe holds: the broken pipe is not an error
    with pytest.raises(BadInput, match="helm template failed: Error: chart not found"):
        templating.result()


def test_cancel_before_the_values_stops_helm_and_closes_the_pipe(tmp_path: Path) -> None:
    helm = _stand_in(tmp_path, "cat >/dev/null; sleep 30\n")
    templating = helm.start_template("milvus", tmp_path, "ns")
    with pytest.raises(RuntimeError, match="send_values"):
        templating.result()
    templating.cancel()
    assert templating.proc.returncode is not None
    templating.cancel()  # twice is harmless
