# metasim: the two commands a fresh machine needs are `make run` and `make test`.
# Both install the Debian packages they need first (apt-get; sudo when not root).

SWIFT        ?= swift
APT_PACKAGES := libbox2d-dev libyaml-dev pkg-config python3-venv
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
METASIM      := .build/release/metasim
PEERS_PYTHON ?= /tmp/metasim-peers/bin/python
# The Python client's tests run in their own virtual environment (numpy, pytest from PyPI).
TEST_VENV    := .venv-test
PYTHON       ?= python3

.PHONY: deps build run test test-swift test-python bench bench-protocol bench-batch fidelity train evaluate bench-adapt clean

# Debian packages: installed only when missing (apt-get update first, as a fresh machine needs).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

build: deps
	$(SWIFT) build -c release --product metasim $(SWIFT_BUILD_FLAGS)
	$(SWIFT) build -c release --product metasimd $(SWIFT_BUILD_FLAGS)

# The main job: a headless run over the whole catalog with its summary table.
run: build
	$(METASIM) run --all --episodes 5 --seed 0

# Swift tests (the daemon's tests start the built metasimd), then the Python client's tests.
test: test-swift test-python

test-swift: deps
	$(SWIFT) build
	$(SWIFT) test

$(TEST_VENV)/.ready: clients/python/pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install -q --upgrade pip
	$(TEST_VENV)/bin/pip install -q numpy pytest
	$(TEST_VENV)/bin/pip install -q -e clients/python
	touch $@

test-python: deps $(TEST_VENV)/.ready
	$(SWIFT) build --product metasimd
	$(SWIFT) build --product metasim
	$(TEST_VENV)/bin/python -m pytest -q clients/python/tests

# Speed against the peers (Gymnasium, EnvPool) in one run; see Benchmarks/README.md.
bench: build
	python3 Benchmarks/compare_peers.py --metasim $(METASIM)

# Stepping over the daemon's socket (Swift and Python clients) against in-process and EnvPool.
bench-protocol: build
	$(PEERS_PYTHON) Benchmarks/protocol_bench.py --metasim $(METASIM)
# Parallel efficiency of batches: episodes/s over the catalog with --jobs 1 and --jobs 2.
bench-batch: build
	METASIM=$(METASIM) Benchmarks/batch_scaling.sh

# Step-by-step comparison of lunar-lander with Gymnasium's LunarLander-v3.
fidelity: build
	$(PEERS_PYTHON) Benchmarks/lunar_lander_fidelity.py --metasim $(METASIM)

# Meta-learning checkpoints (docs/meta-learning.md): retrains the shipped policies from their
# recorded seeds and checks that they come out bit for bit (policies/SHA256SUMS).
POINT_NAV_TRAIN := --world point-nav --iterations 150 --inner-steps 3 --seed 1

train: build
	$(METASIM) train $(POINT_NAV_TRAIN) --algo maml --learn-inner-lr --output policies/point-nav.safetensors
	$(METASIM) train $(POINT_NAV_TRAIN) --algo multitask --output policies/point-nav-multitask.safetensors
	cd policies && sha256sum -c SHA256SUMS

# Held-out evaluation of the shipped policies, baselines side by side.
evaluate: build
	$(METASIM) evaluate --world point-nav --policy policies/point-nav.safetensors \
		--baseline policies/point-nav-multitask.safetensors --tasks 40 --json policies/point-nav-evaluation.json

# Wall time of each inner step (20 episodes, baseline, gradient, update) of one adaptation.
bench-adapt: build
	$(METASIM) adapt --world point-nav --policy policies/point-nav.safetensors --task-seed 1000000000

clean:
	rm -rf .build $(TEST_VENV)
