"""The one kube-proxy of a machine's real nodes (iptables mode), and CoreDNS on the host.

kube-proxy programs the host's iptables (nat and filter KUBE-* chains) so that pod traffic to a
Service's ClusterIP reaches a ready endpoint; `kube-proxy --cleanup` removes those chains at
teardown. It listens on loopback only (healthz and metrics on free ports) and opens NodePorts only
on our bridges' addresses.

CoreDNS runs on the host (not in a pod: it needs no image and is up before any pod) with the
cluster's kubeconfig, listening on realnet.DNS_ADDRESS:53, the kubelets' clusterDNS. It answers
for cluster.local (Services, headless Services' pods, StatefulSet pod names) and nothing else: it
has no `forward`, so a pod can never resolve (or reach) a name outside the cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploytool.clusters.local import realnet


def proxy_config(*, kubeconfig: Path, node: str, healthz_port: int, metrics_port: int) -> dict[str, Any]:
    """KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clusterCIDR": realnet.POD_RANGE,
        "nodePortAddresses": [realnet.POD_RANGE],
        "detectLocalMode": "ClusterCIDR",
        # leave the host's conntrack sysctls alone (0 = do not set)
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False, "syncPeriod": "10s",
                     "minSyncPeriod": "1s"},
    }


def proxy_argv(kube_proxy: Path, config_file: Path) -> list[str]:
    return [str(kube_proxy), f"--config={config_file}", "--v=1"]


def cleanup_argv(kube_proxy: Path) -> list[str]:
    return [str(kube_proxy), "--cleanup", "--v=1"]


def corefile(*, kubeconfig: Path, context: str, health_port: int, ready_port: int) -> str:
    return f"""# Written by deploytool (clusters/local/kubeproxy.py): cluster DNS for the real nodes' pods.
.:53 {{
    bind {realnet.DNS_ADDRESS}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} {context}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""


def coredns_argv(coredns: Path, corefile_path: Path) -> list[str]:
    return [str(coredns), "-conf", str(corefile_path)]
