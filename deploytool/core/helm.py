"""The helm CLI as the rendering and release engine.

Imports nothing heavy (YAML only where values are written): `render` starts `helm template` before
it has read any YAML.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from deploytool.core import toolchain
from deploytool.core.errors import BadInput, CommandFailed

# `helm template` is a short-lived process whose heap stays small (~55 MB peak for this chart without
# collecting): Go's collector ran ~6 times in its ~50 ms, a third of its CPU time. Collection is
# switched off for it, with GOMEMLIMIT as the ceiling at which Go collects anyway. A GOGC or
# GOMEMLIMIT the user set wins. Long-running helm commands (upgrade --wait) keep Go's defaults.
TEMPLATE_GC = {"GOGC": "off", "GOMEMLIMIT": "512MiB"}


class Helm:
    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        self.binary = str(toolchain.find("helm"))
        self.kubeconfig = kubeconfig
        self.context = context

    def _argv(self, args: list[str]) -> list[str]:
        argv = [self.binary, *args]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--kube-context", self.context]
        return argv

    def _run(self, args: list[str], timeout: float = 900) -> str:
        """Run helm to completion. helm runs in a session of its own, so a Ctrl-C meant for deploytool
        does not reach it half-way through a release operation: on KeyboardInterrupt (or any other
        exception) helm is stopped here, and the caller settles what it left (deploy/release.py)."""
        argv = self._argv(args)
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) as proc:
            try:
                out, err = proc.communicate(timeout=timeout)
            except BaseException:
                proc.kill()
                proc.communicate()
                raise
        if proc.returncode != 0:
            raise CommandFailed(argv, proc.returncode, err or out)
        return out

    def template(self, release: str, chart: Path, namespace: str, values: dict[str, Any]) -> str:
        templating = self.start_template(release, chart, namespace)
        templating.send_values(values)
        return templating.result()

    def start_template(self, release: str, chart: Path, namespace: str) -> Templating:
        """Start `helm template` before its values exist; send_values() hands them over, result() waits.

        helm spends most of its ~50 ms starting up (`helm version` alone takes ~35 ms) before it reads
        its values, from standard input here (`-f -`: never written to disk): the caller layers and
        validates the values meanwhile. `helm template` only prints; cancel() stops it on bad input."""
        argv = self._argv(["template", release, str(chart), "--namespace", namespace, "-f", "-"])
        env = os.environ if {"GOGC", "GOMEMLIMIT"} & set(os.environ) else {**os.environ, **TEMPLATE_GC}
        read_end, write_end = os.pipe()
        try:
            proc = subprocess.Popen(argv, stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=env)
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        return Templating(argv, proc, write_end)

    def lint(self, chart: Path, values: dict[str, Any]) -> str:
        with _values_file(values) as vf:
            return self._run(["lint", "--strict", str(chart), "-f", vf])

    def upgrade_install(self, release: str, chart: Path, namespace: str, values: dict[str, Any],
                        timeout_s: int = 600, atomic: bool = True, install: bool = True, wait: bool = True) -> str:
        """helm upgrade; wait=False returns once the release's objects are applied (the caller watches)."""
        args = ["upgrade", *(["--install"] if install else []), release, str(chart), "--namespace", namespace,
                *(["--wait"] if wait else []), "--timeout", f"{timeout_s}s"]
        if atomic:
            args.append("--atomic")
        with _values_file(values) as vf:
            return self._run([*args, "-f", vf], timeout=timeout_s + 120)

    def uninstall(self, release: str, namespace: str, timeout_s: int = 300, wait: bool = True) -> str:
        return self._run(["uninstall", release, "--namespace", namespace, *(["--wait"] if wait else []),
                          "--timeout", f"{timeout_s}s"])

    def history(self, release: str, namespace: str) -> list[dict[str, Any]]:
        try:
            out = self._run(["history", release, "--namespace", namespace, "--output", "json", "--max", "50"])
        except CommandFailed as exc:
            if "not found" in exc.output:
                return []
            raise
        import json

        return json.loads(out or "[]")

    def get_manifest(self, release: str, namespace: str) -> str:
        return self._run(["get", "manifest", release, "--namespace", namespace])

    def get_values(self, release: str, namespace: str, all_values: bool = False) -> dict[str, Any]:
        """The release's user-supplied values; all_values: merged with the chart's defaults as deployed."""
        out = self._run(["get", "values", release, "--namespace", namespace, "--output", "json",
                         *(["--all"] if all_values else [])])
        import json

        return json.loads(out or "{}") or {}

    def rollback(self, release: str, namespace: str, revision: int, timeout_s: int = 600, wait: bool = True) -> str:
        return self._run(["rollback", release, str(revision), "--namespace", namespace, *(["--wait"] if wait else []),
                          "--timeout", f"{timeout_s}s"], timeout=timeout_s + 60)


class Templating:
    """A running `helm template` waiting for its values: send_values(), then result(); or cancel()."""

    def __init__(self, argv: list[str], proc: subprocess.Popen[str], values_fd: int) -> None:
        self.argv, self.proc, self._values_fd = argv, proc, values_fd

    def send_values(self, values: dict[str, Any]) -> None:
        from deploytool.core import yamlio

        text = yamlio.dump(values, sort_keys=True)
        fd, self._values_fd = self._values_fd, -1
        try:
            # helm reads all of its input before it writes anything, so this cannot block on a full pipe.
            with open(fd, "w") as values_in:
                values_in.write(text)
        except BrokenPipeError:
            pass  # helm exited early: result() reports why
        except BaseException:
            self.cancel()
            raise

    def result(self, timeout: float = 300) -> str:
        if self._values_fd >= 0:
            raise RuntimeError("helm template is still waiting for its values: call send_values() first")
        try:
            out, err = self.proc.communicate(timeout=timeout)
        finally:
            self.cancel()
        if self.proc.returncode != 0:
            failed = CommandFailed(self.argv, self.proc.returncode, err or out)
            raise BadInput(f"helm template failed: {failed.output.strip().splitlines()[-1]}") from failed
        return out

    def cancel(self) -> None:
        if self._values_fd >= 0:
            os.close(self._values_fd)
            self._values_fd = -1
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


class _values_file:
    """A temporary values file (mode 0600) that is removed as soon as helm has read it."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def __enter__(self) -> str:
        import tempfile  # not on render's path (its values go through a pipe)

        from deploytool.core import yamlio

        self._tmp = tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="deploytool-values-", delete=False)
        self._tmp.write(yamlio.dump(self.values, sort_keys=True))  # libyaml: ~4x faster than yaml.safe_dump
        self._tmp.close()
        return self._tmp.name

    def __exit__(self, *exc: object) -> None:
        Path(self._tmp.name).unlink(missing_ok=True)
