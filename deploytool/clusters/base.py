"""What every cluster provider offers, and the step runner that prints ✓/✗ lines while creating."""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploytool.core.errors import BadInput

DEFAULT_NAME = "deploytool"
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


@dataclass(frozen=True)
class ClusterRef:
    """How to reach a cluster: its provider, its name, and a kubeconfig file + context."""

    provider: str
    name: str
    kubeconfig: Path | None  # None: the default kubeconfig ($KUBECONFIG or ~/.kube/config)
    context: str | None  # None: the kubeconfig's current context

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kubeconfig"] = str(self.kubeconfig) if self.kubeconfig else None
        return data

    def api_client(self) -> Any:
        """A kubernetes ApiClient built from this ref's kubeconfig (never touches ~/.kube/config)."""
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig) if self.kubeconfig else None,
                                context=self.context, client_configuration=cfg)
        return client.ApiClient(cfg)


def check_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise BadInput(f"invalid cluster name {name!r}: use 1-40 lowercase letters, digits and '-', "
                       "starting and ending with a letter or digit")
    return name


class ClusterProvider(abc.ABC):
    """A way to get a Kubernetes cluster. Implementations: local (kwok), current (kubeconfig), kind."""

    name: str = ""

    @abc.abstractmethod
    def available(self) -> tuple[bool, str]:
        """(True, "") if this provider can work on this machine, else (False, why)."""

    @abc.abstractmethod
    def exists(self, name: str) -> bool:
        """True if a cluster of that name exists (created by this provider)."""

    @abc.abstractmethod
    def create(self, name: str, nodes: int = 3, node_cpu: str = "16", node_memory: str = "64Gi",
               progress: bool = True, retain: bool = False) -> ClusterRef:
        """Create the cluster, or reuse (and say so) an existing one of that name."""

    @abc.abstractmethod
    def delete(self, name: str, progress: bool = True) -> dict[str, Any]:
        """Remove every process and file the provider made for the cluster; a no-op if there is none."""

    @abc.abstractmethod
    def status(self, name: str) -> dict[str, Any]:
        """Plain data about the cluster: processes, API server, nodes, ports, ..."""

    @abc.abstractmethod
    def ref(self, name: str) -> ClusterRef:
        """The ClusterRef of an existing cluster."""


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "condition") -> Any:
    """Call check() until it returns a truthy value (returned) or timeout seconds pass (TimeoutError).

    Exceptions raised by check() count as 'not yet'; the last one is named in the TimeoutError.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
        if time.monotonic() >= deadline:
            hint = f" (last error: {_short(last)})" if last else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{hint}")
        time.sleep(interval)
