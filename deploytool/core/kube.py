"""Kubernetes client access for one cluster, with an API call counter (shown with -v)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from deploytool.core.errors import ClusterUnreachable


class _CountingApiClient(client.ApiClient):
    """An ApiClient that counts requests by verb and resource path (for the cost report)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def call_api(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        path = urlsplit(str(url)).path
        key = f"{method} {path}"
        with self._lock:
            self.calls[key] = self.calls.get(key, 0) + 1
        return super().call_api(method, url, *args, **kwargs)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass
class Kube:
    kubeconfig: str | None
    context: str | None
    api: _CountingApiClient = field(init=False)

    def __post_init__(self) -> None:
        cfg = client.Configuration()
        try:
            config.load_kube_config(config_file=self.kubeconfig, context=self.context, client_configuration=cfg)
        except (config.ConfigException, FileNotFoundError, KeyError) as exc:
            raise ClusterUnreachable(f"cannot load kubeconfig {self.kubeconfig or '~/.kube/config'} "
                                     f"(context {self.context or 'current'}): {exc}") from None
        self.api = _CountingApiClient(cfg)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.autoscaling = client.AutoscalingV2Api(self.api)
        self.policy = client.PolicyV1Api(self.api)
        self.storage = client.StorageV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.discovery = client.DiscoveryV1Api(self.api)
        self.version = client.VersionApi(self.api)

    def ping(self) -> str:
        """The server's git version, or ClusterUnreachable."""
        try:
            return str(self.version.get_code(_request_timeout=10).git_version)
        except (ApiException, HTTPError, OSError) as exc:
            raise ClusterUnreachable(f"cluster not reachable ({self.context or 'current context'}): "
                                     f"{str(exc).splitlines()[0][:200]}") from None

    def close(self) -> None:
        self.api.close()



# Defined in core.labels; re-exported because branches written before the move import them from here.
from deploytool.core.labels import release_selector  # noqa: E402, F401
from deploytool.core.labels import selector as labels  # noqa: E402, F401
