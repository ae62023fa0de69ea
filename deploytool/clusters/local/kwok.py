"""kwokctl for the local provider: the configuration we hand it and how we call it.

kwokctl runs with the binary runtime (named explicitly: there is no container engine here), an
isolated KWOK_WORKDIR under the cluster's folder, and a configuration that names a local file
for every binary and manifest it would otherwise download:

* etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok (controller) and
  metrics-server: the paths of our pinned builds (toolchain.find);
* metrics-server's manifest (the Service + APIService that make metrics.k8s.io an aggregated
  API): a kustomize folder we write; kwokctl builds it with `kubectl kustomize` (offline);
* kubectl: our build first on PATH (kwokctl looks kubectl up on PATH before its URL);
* ~/.kube/config is never touched: --kubeconfig points at a scratch file in the cluster folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from deploytool.clusters.local.layout import Layout, write_atomic
from deploytool.core import procs, toolchain
from deploytool.core.errors import CommandFailed


def versions() -> dict[str, str]:
    """The pinned versions kwokctl is told (tools/<group>/go.mod), under kwokctl's option names."""
    return {
        "kubeVersion": toolchain.load_group("k8s").version,
        "kwokVersion": toolchain.load_group("kwok").version,
        "etcdVersion": toolchain.load_group("etcd").version.lstrip("v"),  # kwokctl names etcd versions without the v
        "metricsServerVersion": toolchain.load_group("metrics-server").version,
    }


# The kwok CRDs we enable: port-forward rules and simulated resource usage are then API objects
# that drills (and we) create, change and delete while the cluster runs.
ENABLED_CRDS = ("PortForward", "ClusterPortForward", "ResourceUsage", "ClusterResourceUsage")

# The annotation of kwok nodes: kwok-controller manages these and only these (components_patches).
NODE_MANAGED_ANNOTATION = "kwok.x-k8s.io/node"
NODE_MANAGED_VALUE = "fake"

BINARIES = {  # kwokctl option -> our binary
    "etcdBinary": "etcd",
    "kubeApiserverBinary": "kube-apiserver",
    "kubeControllerManagerBinary": "kube-controller-manager",
    "kubeSchedulerBinary": "kube-scheduler",
    "kubectlBinary": "kubectl",
    "kwokControllerBinary": "kwok",
    "metricsServerBinary": "metrics-server",
}

_METRICS_SERVER_MANIFEST = """\
# The objects that make metrics.k8s.io an aggregated API served by the metrics-server process
# kwokctl runs on the host. kwokctl rewrites the Service to an ExternalName pointing at it and
# sets the APIService port.
apiVersion: v1
kind: Service
metadata:
  name: metrics-server
  namespace: kube-system
  labels:
    k8s-app: metrics-server
spec:
  selector:
    k8s-app: metrics-server
  ports:
  - name: https
    port: 443
    protocol: TCP
    targetPort: https
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
  labels:
    k8s-app: metrics-server
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service:
    name: metrics-server
    namespace: kube-system
"""


def binaries() -> dict[str, Path]:
    """Path of every binary kwokctl needs (ToolMissing if one is not built)."""
    found = {option: toolchain.find(binary) for option, binary in BINARIES.items()}
    found["kwokctl"] = toolchain.find("kwokctl")
    return found


def write_metrics_manifest(layout: Layout) -> Path:
    folder = layout.metrics_manifest_dir
    write_atomic(folder / "metrics-server.yaml", _METRICS_SERVER_MANIFEST)
    write_atomic(folder / "kustomization.yaml",
                 "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                 "resources:\n- metrics-server.yaml\n")
    return folder


def config_document(layout: Layout, bins: dict[str, Path]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "runtime": "binary",
        **versions(),
        "bindAddress": "127.0.0.1",
        "securePort": True,
        "quietPull": True,
        "cacheDir": str(layout.kwok_workdir / "cache"),
        "enable": ["metrics-server"],
        "metricsServerManifests": [str(layout.metrics_manifest_dir)],
        "enableCRDs": list(ENABLED_CRDS),
        # kwokctl stretches every heartbeat timing 5x by default (lease 200s, node grace period
        # 3m20s); factor 1 keeps Kubernetes' own timings: a node whose Lease is not renewed is
        # NotReady after 40s (see nodes.set_node_failed).
        "heartbeatFactor": 1,
    }
    for option in BINARIES:
        options[option] = str(bins[option])
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": options,
        "componentsPatches": components_patches(layout),
    }


def _arg(key: str, value: str, override: bool = False) -> dict[str, Any]:
    """An extra argument; override=True replaces an argument kwokctl sets (and only such a one:
    kwokctl v0.8.0 drops an override whose key it does not set, with a warning)."""
    return {"key": key, "value": value, "override": override}


def components_patches(layout: Layout) -> list[dict[str, Any]]:
    """What kwokctl's defaults get wrong for a cluster that may also have real nodes (kubelets).

    * kwok-controller manages only the nodes annotated kwok.x-k8s.io/node=fake (ours are): with
      kwokctl's --manage-all-nodes=true it would overwrite a real node's status and renew its Lease,
      and a stopped real kubelet would never look dead.
    * kube-apiserver reaches kubelets by InternalIP (a real node's name is not in any DNS), and
      presents the admin client certificate, which the kubelets accept (signed by the cluster CA).
    * metrics-server scrapes kubelets by InternalIP (kwok nodes' InternalIP is 127.0.0.1 already).
    """
    pki = layout.kwok_cluster_dir / "pki"
    return [
        {"name": "kwok-controller", "extraArgs": [
            _arg("manage-all-nodes", "false", override=True),
            _arg("manage-nodes-with-annotation-selector", f"{NODE_MANAGED_ANNOTATION}={NODE_MANAGED_VALUE}")]},
        {"name": "kube-apiserver", "extraArgs": [
            _arg("kubelet-preferred-address-types", "InternalIP,Hostname"),
            _arg("kubelet-client-certificate", str(pki / "admin.crt")),
            _arg("kubelet-client-key", str(pki / "admin.key"))]},
        {"name": "metrics-server", "extraArgs": [_arg("kubelet-preferred-address-types", "InternalIP", override=True)]},
    ]


def write_config(layout: Layout, bins: dict[str, Path]) -> Path:
    write_metrics_manifest(layout)
    text = "# Written by deploytool (clusters/local/kwok.py) for `kwokctl create cluster`.\n"
    text += yaml.safe_dump(config_document(layout, bins), sort_keys=False)
    write_atomic(layout.kwokctl_config, text)
    return layout.kwokctl_config


def kwokctl_env(layout: Layout, bins: dict[str, Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KWOK_")}
    env["KWOK_WORKDIR"] = str(layout.kwok_workdir)
    # kwokctl looks kubectl up on PATH first: make that ours.
    env["PATH"] = os.pathsep.join([str(bins["kubectlBinary"].parent), env.get("PATH", "")])
    env["KUBECONFIG"] = str(layout.root / "kwokctl-scratch-kubeconfig.yaml")
    env["KUBECACHEDIR"] = str(layout.root / "kube-cache")  # kubectl's discovery cache: not in ~/.kube
    return env


def create_argv(layout: Layout, bins: dict[str, Path]) -> list[str]:
    return [
        str(bins["kwokctl"]), "--config", str(layout.kwokctl_config), "--name", layout.name,
        "create", "cluster",
        "--runtime", "binary",
        "--kubeconfig", str(layout.root / "kwokctl-scratch-kubeconfig.yaml"),
        "--timeout", "5m",
        "--wait", "2m",
    ]


class KwokctlFailed(CommandFailed):
    """kwokctl exited non-zero; the message carries its last error line."""

    def __init__(self, argv: list[str], returncode: int, output: str, log_file: Path) -> None:
        super().__init__(argv, returncode, output)
        action = " ".join(a for a in argv[1:] if a in ("create", "delete", "start", "cluster"))
        Exception.__init__(self, f"kwokctl {action} failed (exit {returncode}): {last_error(output)} "
                                 f"(log: {log_file})")


def last_error(output: str) -> str:
    """The last ERROR record of kwokctl's JSON log lines ("msg: err"), else its last line."""
    found = ""
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") == "ERROR":
            found = f"{record.get('msg', '')}: {str(record.get('err', '')).strip()}"
    if found:
        return found
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def run_kwokctl(layout: Layout, argv: list[str], env: dict[str, str], log_name: str, timeout: float) -> str:
    """Run kwokctl to completion with output to logs/<log_name>.log (never our stdout). Returns the output."""
    log_file = layout.log_file(log_name)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        start = log.tell()
        try:
            proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  cwd=str(layout.root), timeout=timeout, start_new_session=True)
        except subprocess.TimeoutExpired:
            raise KwokctlFailed(argv, -1, f"timed out after {timeout:.0f}s", log_file) from None
    with open(log_file, "rb") as log:
        log.seek(start)
        text = log.read().decode(errors="replace")
    if proc.returncode != 0:
        raise KwokctlFailed(argv, proc.returncode, text, log_file)
    return text


def create_cluster(layout: Layout, bins: dict[str, Path]) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    write_config(layout, bins)
    run_kwokctl(layout, create_argv(layout, bins), kwokctl_env(layout, bins), "kwokctl", timeout=420)
    write_kubeconfig(layout)


def write_kubeconfig(layout: Layout) -> str:
    """Copy kwokctl's kubeconfig to <root>/kubeconfig.yaml with everything named after the cluster."""
    data = yaml.safe_load(layout.kwok_kubeconfig.read_text())
    name = layout.name
    cluster = data["clusters"][0]["cluster"]
    user = data["users"][0]["user"] if data.get("users") else {}
    ours = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    write_atomic(layout.kubeconfig, yaml.safe_dump(ours, sort_keys=False))
    layout.kubeconfig.chmod(0o600)
    return name


def start_cluster(layout: Layout, bins: dict[str, Path]) -> None:
    """Start the components of an existing kwokctl cluster (after a reboot, or a kill)."""
    argv = [str(bins["kwokctl"]), "--name", layout.name, "start", "cluster", "--timeout", "3m"]
    run_kwokctl(layout, argv, kwokctl_env(layout, bins), "kwokctl", timeout=240)


def restart_cluster(layout: Layout, bins: dict[str, Path]) -> None:
    """Stop and start every component: `kwokctl start cluster` alone starts nothing while any
    component still runs, so one component that died (metrics-server started before the API
    server answered) comes back only this way. etcd keeps its data."""
    env = kwokctl_env(layout, bins)
    run_kwokctl(layout, [str(bins["kwokctl"]), "--name", layout.name, "stop", "cluster"], env, "kwokctl", timeout=120)
    start_cluster(layout, bins)


def delete_cluster(layout: Layout) -> str:
    """`kwokctl delete cluster` if kwokctl is built; '' if there was nothing to delete or no kwokctl."""
    if not layout.kwok_cluster_dir.exists():
        return ""
    try:
        kwokctl = toolchain.find("kwokctl")
    except Exception:  # noqa: BLE001 - without kwokctl, the caller kills the pids itself
        return ""
    scratch = layout.root / "kwokctl-scratch-kubeconfig.yaml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KWOK_")}
    env.update(KWOK_WORKDIR=str(layout.kwok_workdir), KUBECONFIG=str(scratch))
    argv = [str(kwokctl), "--name", layout.name, "delete", "cluster", "--force", "--kubeconfig", str(scratch)]
    return run_kwokctl(layout, argv, env, "kwokctl", timeout=180)


def saved_options(layout: Layout) -> dict[str, Any]:
    """The options kwokctl saved for the cluster (ports it chose, ...); {} if none."""
    try:
        docs = list(yaml.safe_load_all(layout.kwok_saved_config.read_text()))
    except (FileNotFoundError, yaml.YAMLError):
        return {}
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "KwokctlConfiguration":
            return dict(doc.get("options") or {})
    return {}


def component_procs(layout: Layout) -> dict[str, procs.ProcInfo]:
    """Each component kwokctl started (pid and start time), from its pid files."""
    found: dict[str, procs.ProcInfo] = {}
    if not layout.kwok_pids_dir.is_dir():
        return found
    for pid_file in sorted(layout.kwok_pids_dir.glob("*.pid")):
        info = procs.read_pid_file(pid_file)
        if info:
            found[pid_file.stem] = info
    return found


def leftover_processes(folder: Path) -> list[int]:
    """pids of processes a cluster in folder started and that still run (the safety net after delete).

    Only ours: a binary under folder (kwokctl's components run from <cluster>/bin/), or our agent
    or milvus-lite with folder in their arguments. Anything else that merely mentions the folder
    (say `tail -f` of a log) is left alone.
    """
    needle = str(folder).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or needle not in b" ".join(argv):
            continue
        ours = argv[0].startswith(needle) or any(
            arg in (b"deploytool.clusters.local.agent", b"milvus_lite") for arg in argv[1:3])
        if ours:
            pids.append(int(entry.name))
    return sorted(pids)
