# Every target is a one-liner; the logic lives in deploytool/ and .ci/run.
PY ?= .venv/bin/python
ENVS ?= dev staging prod

.PHONY: setup tools test test-unit lint render

setup:  ## venv + deploytool (editable) with the local-cluster and test extras
	python3 -m venv .venv && $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e '.[local,test]'

tools:  ## apt-get the real nodes' Debian packages if missing; build helm, etcd, kube-*, kwok, metrics-server, coredns, minio (Go module proxy) into ~/.cache/deploytool
	$(PY) -m deploytool.core.toolchain

test:  ## every tier: unit first, then the cluster tier (kind tests skip without Docker + kind)
	$(PY) -m pytest tests

test-unit:  ## fast tier only
	$(PY) -m pytest tests/unit

lint:  ## ruff + mypy
	$(PY) -m ruff check deploytool tests images && $(PY) -m mypy && $(PY) -m mypy images/milvus-standin/milvus_standin

render:  ## re-render manifests/<env>/ for every committed env
	for e in $(ENVS); do .venv/bin/deploytool render --env $$e || exit $$?; done
