# metasim: the two commands a fresh machine needs are `make run` and `make test`.
# Both install the Debian packages they need first (apt-get; sudo when not root).

SWIFT        ?= swift
# systemd: systemd-socket-activate and systemd-analyze for the daemon's service tests.
APT_PACKAGES := libbox2d-dev libyaml-dev libcairo2-dev libgif-dev pkg-config python3-venv systemd
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
METASIM      := .build/release/metasim
PEERS_PYTHON ?= /tmp/metasim-peers/bin/python
# The Python client's tests run in their own virtual environment (numpy, pytest, safetensors, gymnasium from PyPI;
# moviepy: Gymnasium's RecordVideo writes its videos with it).
TEST_VENV    := .venv-test
PYTHON       ?= python3

.PHONY: deps build run test test-swift test-python fuzz fuzz-smoke bench bench-protocol bench-allocations bench-soak leaks bench-batch fidelity train evaluate bench-adapt bench-policy clean install install-files uninstall

# `make install` (PREFIX, DESTDIR): binaries, systemd units, sysusers.d and tmpfiles.d entries,
# the world catalog, shipped policies (a policies/ folder, when the repository has one) and an
# example configuration. Units go to $(PREFIX)/lib/systemd/system, which systemd searches for
# /usr/local and /usr alike; see docs/operations.md.
PREFIX       ?= /usr/local
DESTDIR      ?=
SYSCONFDIR   ?= /etc
BUILD_DIR    ?= .build/release
BINDIR       := $(PREFIX)/bin
UNITDIR      := $(PREFIX)/lib/systemd/system
SYSUSERSDIR  := $(PREFIX)/lib/sysusers.d
TMPFILESDIR  := $(PREFIX)/lib/tmpfiles.d
DATADIR      := $(PREFIX)/share/metasim
INSTALLED    := $(BINDIR)/metasim $(BINDIR)/metasimd $(UNITDIR)/metasimd.service $(UNITDIR)/metasimd.socket \
                $(SYSUSERSDIR)/metasim.conf $(TMPFILESDIR)/metasim.conf $(SYSCONFDIR)/metasim/metasimd.yaml.example

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

# The main job: the end-to-end demo (docs/protocol.md, "Policies"): metasimd on a private socket with
# the catalog and the shipped checkpoints; held-out worlds adapted to over the real protocol.
run: build
	$(METASIM) demo --svg demo-episode.svg

# Swift tests (the daemon's tests start the built metasimd), then the Python client's tests,
# then every fuzz target over its committed corpus and regressions (docs/fuzzing.md).
test: test-swift test-python fuzz-smoke

test-swift: deps
	$(SWIFT) build
	$(SWIFT) test

$(TEST_VENV)/.ready: clients/python/pyproject.toml Makefile
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install -q --upgrade pip
	$(TEST_VENV)/bin/pip install -q numpy pytest safetensors prometheus_client 'gymnasium>=1.1' moviepy
	touch $@

# The client as users install it (not editable: an editable install leaves out the .pth file that
# registers the worlds with Gymnasium in every interpreter), reinstalled when its files change.
CLIENT_FILES := $(wildcard clients/python/*.toml clients/python/*.py clients/python/*.pth clients/python/metasim_client/*.py)
$(TEST_VENV)/.client: $(TEST_VENV)/.ready $(CLIENT_FILES)
	$(TEST_VENV)/bin/pip install -q --no-deps --force-reinstall ./clients/python
	rm -rf clients/python/build
	touch $@

# The web view's browser test (clients/python/tests/test_web_view.py) needs Chromium (Debian's
# `chromium`): installed when missing; when it cannot be, that test is skipped and says why.
.PHONY: deps-browser
deps-browser:
	@dpkg -s chromium >/dev/null 2>&1 || { echo "installing: chromium"; \
		{ $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; } \
		|| echo "chromium could not be installed: the web view's browser test will be skipped"; }

test-python: deps deps-browser $(TEST_VENV)/.client
	$(SWIFT) build --product metasimd
	$(SWIFT) build --product metasim
	$(TEST_VENV)/bin/python -m pytest -q clients/python/tests

# libFuzzer (docs/fuzzing.md): `make fuzz` fuzzes every target for FUZZ_SECONDS on FUZZ_JOBS
# workers (FUZZ_TARGETS: a subset); `make fuzz-smoke` replays the corpus and regressions once
# through the plain debug build's targets (no instrumented build: seconds).
FUZZ_SECONDS ?= 600
FUZZ_JOBS    ?= 1
FUZZ_TARGETS ?=
fuzz: deps
	Fuzz/fuzz.sh build release
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) Fuzz/fuzz.sh run $(FUZZ_TARGETS)

fuzz-smoke: deps
	$(SWIFT) build
	Fuzz/fuzz.sh smoke

# Speed against the peers (Gymnasium, EnvPool) in one run; see Benchmarks/README.md.
bench: build
	python3 Benchmarks/compare_peers.py --metasim $(METASIM)

# Stepping over the daemon's socket (Swift and Python clients) against in-process and EnvPool.
bench-protocol: build
	$(PEERS_PYTHON) Benchmarks/protocol_bench.py --metasim $(METASIM)
# An rgb_array frame of lunar-lander over the socket against Gymnasium's own of LunarLander-v3 (issue 30).
.PHONY: bench-render
bench-render: build
	$(PEERS_PYTHON) Benchmarks/render_bench.py --metasimd .build/release/metasimd
# The web view's cost (issue 32): 4 sessions stepped with their pages open against without, in one run.
.PHONY: bench-web-view
bench-web-view: build $(TEST_VENV)/.ready
	$(TEST_VENV)/bin/python Benchmarks/web_view_bench.py --metasim $(METASIM)
# Heap allocations of the release daemon per step and per episode reset (an interposed malloc).
bench-allocations: build
	$(PEERS_PYTHON) Benchmarks/step_allocations.py --metasimd $(dir $(METASIM))metasimd
# Soak (issue 27): a constant set of stepping sessions plus open/close churn and large pings for
# SOAK_SECONDS; the daemon's RSS slope after warm-up and its fd count (Benchmarks/README.md).
SOAK_SECONDS ?= 600
bench-soak: build
	$(PYTHON) Benchmarks/soak.py --metasimd $(dir $(METASIM))metasimd --duration $(SOAK_SECONDS)
# Leaks: the server tests and a short soak under AddressSanitizer/LeakSanitizer, built in its own
# scratch path (.build-asan). Reports go to files (.build-asan/lsan/report.PID; the daemons the tests
# start write their own) and do not change exit statuses (exitcode=0: a test checking a daemon's
# exit status still tests what it tests). The test under systemd-socket-activate is skipped: that
# tool does not pass ASAN_OPTIONS on, and a report on a pipe nobody reads blocks the daemon. Every
# report's summary is printed; a memory error (not a leak) fails the target, and so does a sanitized
# daemon that does not exit 0 without a report after the soak. Tests/lsan-suppressions.txt says
# what is suppressed and why. Not part of `make test` (slow).
ASAN_SCRATCH := .build-asan
leaks: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path $(ASAN_SCRATCH)
	rm -rf $(ASAN_SCRATCH)/lsan && mkdir -p $(ASAN_SCRATCH)/lsan
	-ASAN_OPTIONS=detect_leaks=1:exitcode=0:malloc_context_size=100:log_path=$(CURDIR)/$(ASAN_SCRATCH)/lsan/report \
		LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan-suppressions.txt:print_suppressions=0 $(SWIFT) test --skip-build \
		--sanitize=address --scratch-path $(ASAN_SCRATCH) --filter 'MetaSimServerTests|MetaSimProtocolTests|MetaSimClientTests' --skip socketActivation
	$(PYTHON) Benchmarks/soak.py --metasimd $(ASAN_SCRATCH)/debug/metasimd --duration 60 --warmup 20 --burst-frames 2000 \
		--env ASAN_OPTIONS=detect_leaks=1:malloc_context_size=100 --env LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan-suppressions.txt \
		--require-clean-exit --output $(ASAN_SCRATCH)/soak-leaks.json
	@echo "Sanitizer reports of the test run (one file per process; none: no leak):"; \
		grep -H "^SUMMARY" $(ASAN_SCRATCH)/lsan/report.* 2>/dev/null || echo "  none"; \
		! grep -h "^SUMMARY" $(ASAN_SCRATCH)/lsan/report.* 2>/dev/null | grep -v "leaked in"
# Parallel efficiency of batches: episodes/s over the catalog with --jobs 1 and --jobs 2.
bench-batch: build
	METASIM=$(METASIM) Benchmarks/batch_scaling.sh

# Every replica world against its Gymnasium environment in one run (returns under random actions
# and Gymnasium's scripted controllers, outcome rates, one step from matched states, pendulum's
# energy; FIDELITY_EPISODES per side, FIDELITY_ARGS for more options), then the step-by-step
# comparison of lunar-lander with LunarLander-v3, then lunar-lander-discrete and bipedal-walker
# against Gymnasium's code ported onto Box2D 2.4.1 (a C++ compiler and libbox2d-dev). See
# Benchmarks/README.md.
FIDELITY_EPISODES ?= 1000
FIDELITY_ARGS     ?=
fidelity: build
	$(PEERS_PYTHON) Benchmarks/replica_fidelity.py --metasimd $(dir $(METASIM))metasimd --episodes $(FIDELITY_EPISODES) $(FIDELITY_ARGS)
	$(PEERS_PYTHON) Benchmarks/lunar_lander_fidelity.py --metasim $(METASIM)
	$(PEERS_PYTHON) Benchmarks/box2d24_lunar_lander.py --metasim $(METASIM) --episodes $(FIDELITY_EPISODES)
	$(PEERS_PYTHON) Benchmarks/box2d24_bipedal_walker.py --metasimd $(dir $(METASIM))metasimd --episodes $(FIDELITY_EPISODES)

# Stable-Baselines3 against the daemon (issue 30): its own venv (SB3, torch, the client as users
# install it); check_env, make_vec_env with DummyVecEnv and SubprocVecEnv, and a short PPO run on
# cartpole, on a private metasimd (the client's discovery starts one from PATH). Not part of
# `make test` (torch is large). SB3_TORCH: a CPU-only torch wheel when pip's local wheel folder
# has one, else PyPI's torch.
SB3_VENV     := .venv-sb3
SB3_TORCH    ?= $(or $(firstword $(wildcard /opt/wheels/torch-*+cpu-*.whl)),torch)
$(SB3_VENV)/.ready:
	$(PYTHON) -m venv $(SB3_VENV)
	$(SB3_VENV)/bin/pip install -q --upgrade pip
	$(SB3_VENV)/bin/pip install -q $(SB3_TORCH)
	$(SB3_VENV)/bin/pip install -q numpy 'gymnasium>=1.1' 'stable-baselines3>=2.4'
	touch $@
$(SB3_VENV)/.client: $(SB3_VENV)/.ready $(CLIENT_FILES)
	$(SB3_VENV)/bin/pip install -q --no-deps --force-reinstall ./clients/python
	rm -rf clients/python/build
	touch $@
.PHONY: check-sb3 transfer-sb3
check-sb3: build $(SB3_VENV)/.client
	PATH="$(CURDIR)/$(dir $(METASIM)):$$PATH" METASIM_WORLDS="$(CURDIR)/worlds" $(SB3_VENV)/bin/python Benchmarks/check_sb3.py

# Issue 30's transfer target: policies trained on a replica (cartpole, pendulum) run on Gymnasium's
# environment and the other way round (Benchmarks/README.md); TRANSFER_ARGS e.g. --pair cartpole.
TRANSFER_ARGS ?=
transfer-sb3: build $(SB3_VENV)/.client
	PATH="$(CURDIR)/$(dir $(METASIM)):$$PATH" METASIM_WORLDS="$(CURDIR)/worlds" $(SB3_VENV)/bin/python \
		Benchmarks/transfer_sb3.py --json-out transfer-sb3.json $(TRANSFER_ARGS)

# Meta-learning checkpoints (docs/meta-learning.md): retrains the shipped policies from their
# recorded seeds and checks that they come out bit for bit (policies/SHA256SUMS).
# point-nav: MAML 300 iterations, the multi-task baseline 150. When rl2 was given twice its
# training, both were trained for 300 instead of 150 too and compared on validation tasks
# (docs/meta-learning.md, "MAML given the same extra budget"): MAML's led after 3 steps and
# replaced the 150-iteration policy; the baseline's did not lead, so it stays at 150.
POINT_NAV_TRAIN := --world point-nav --inner-steps 3 --seed 1
# track-racer: 6-second episodes (--horizon 300 instead of the world's 1000), 32-32 network; the
# meta-policy with ProMP's outer loop, as cheetah-vel's.
# The oracles of track-racer and lunar-lander (told the task) get the same budget as the policies.
TRACK_RACER_TRAIN := --world track-racer --iterations 100 --inner-steps 3 --seed 1 --horizon 300 --hidden 32,32 \
                     --normalize-observations --init-log-std=-0.5

# cheetah-vel: one inner step of 20 episodes in training (3 at evaluation), observation
# normalization; the oracle is told the target speed and trained for as many iterations (it sits in
# policies/oracles/, out of the daemon's policies folder: it only serves evaluation). The meta-policy
# is trained with ProMP's outer loop (5 clipped outer steps per iteration at Adam 0.001, clip 0.3)
# for 200 iterations: half the episodes the baselines get.
CHEETAH_VEL_TRAIN := --world cheetah-vel --inner-steps 1 --episodes 20 --normalize-observations --init-log-std=-0.5 --seed 1
# Meta-trained for one inner step, it is adapted for three: `metasim tune` chooses the rate of
# steps 2 and 3 on 40 validation tasks of the training range (its own training tasks skipped).
CHEETAH_VEL_TUNE := --steps 3 --rates 0.0125,0.025,0.05,0.075 --tasks 40
# lunar-lander (continuous; family over gravity, wind and engine power): 400-step episodes.
LUNAR_LANDER_TRAIN := --world lunar-lander --iterations 100 --inner-steps 1 --episodes 20 --normalize-observations \
                      --init-log-std=-0.5 --horizon 400 --seed 1
# cartpole: meta-Q-learning (a Q-network; discrete actions), 100 iterations of 8 tasks.
CARTPOLE_TRAIN := --world cartpole --algo metaq --iterations 100 --meta-batch 8 --episodes 5 --q-updates 100 \
                  --q-lr 1e-5 --seed 1

# Hidden-task families (docs/worlds.md §20; results in docs/meta-learning.md, "Hidden-task
# families"). Each: the meta-policy (MAML, learned rate, one inner step of 20 episodes in
# training) and the multi-task baseline with the same budget; then the meta-policy's later rates
# and the baseline's rate are chosen from the same grid on the same 40 validation tasks of the
# training range (neither policy's training tasks among them: --skip-training-of, --same-tasks-as);
# the oracle, told the task, gets the same budget and serves only evaluation.
HIDDEN_TUNE := --steps 3 --rates 0.05,0.1,0.2,0.3 --tasks 40
REACHER_GOAL_TRAIN := --world reacher-goal --iterations 150 --inner-steps 1 --episodes 20 --normalize-observations \
                      --init-log-std=-0.5 --seed 1
# lane-keep-lane: 10-second episodes (--horizon 200 instead of the world's 1000), 32-32 network.
LANE_KEEP_LANE_TRAIN := --world lane-keep-lane --iterations 100 --inner-steps 1 --episodes 20 --normalize-observations \
                        --init-log-std=-0.5 --horizon 200 --hidden 32,32 --seed 1
# lane-keep-pull: as lane-keep-lane, 150 iterations.
LANE_KEEP_PULL_TRAIN := --world lane-keep-pull --iterations 150 --inner-steps 1 --episodes 20 --normalize-observations \
                        --init-log-std=-0.5 --horizon 200 --hidden 32,32 --seed 1
# cheetah-dir: the meta-policy with ProMP's outer loop, as cheetah-vel's (the third argument).
CHEETAH_DIR_TRAIN := --world cheetah-dir --iterations 100 --inner-steps 1 --episodes 20 --normalize-observations \
                     --init-log-std=-0.5 --seed 1
CHEETAH_DIR_META := --outer-epochs 5 --clip 0.3 --outer-lr 0.001
# lane-keep-reversed: as lane-keep-pull, the meta-policy with ProMP's outer loop (as cheetah-dir's).
LANE_KEEP_REVERSED_TRAIN := --world lane-keep-reversed --iterations 150 --inner-steps 1 --episodes 20 --normalize-observations \
                            --init-log-std=-0.5 --horizon 200 --hidden 32,32 --seed 1
# Memory-based meta-policies (RL²: a GRU of 64 units whose state carries across the episodes of
# a trial, 2 by default; point-nav's 4 and its 1,000 iterations, chosen on validation tasks:
# docs/meta-learning.md "Results against episodes of experience"), evaluated beside MAML against episodes of experience
# (make evaluate: --memory). Bit-identical for any --threads.
POINT_NAV_RL2 := --world point-nav --algo rl2 --trial-episodes 4 --iterations 1000 --seed 1
CHEETAH_DIR_RL2 := --world cheetah-dir --algo rl2 --iterations 300 --normalize-observations --init-log-std=-0.5 --seed 1
# reacher-goal: its rewards are about -0.1 a step, so the GRU reads them times 10, on 80 tasks an
# iteration for 1,200 iterations; chosen on validation tasks over the 600-iteration, 20-task,
# unscaled policy and three other settings (docs/meta-learning.md "Results against episodes of experience").
REACHER_GOAL_RL2 := --world reacher-goal --algo rl2 --iterations 1200 --meta-batch 80 --reward-input-scale 10 \
                    --normalize-observations --init-log-std=-0.5 --seed 1
LANE_KEEP_REVERSED_RL2 := --world lane-keep-reversed --algo rl2 --iterations 600 --normalize-observations --init-log-std=-0.5 \
                          --horizon 200 --seed 1
# lane-keep-pull: lane-keep-reversed's rl2 options; chosen on validation tasks over the context
# policy with lane-keep-reversed's options (docs/meta-learning.md "Results against episodes of experience").
LANE_KEEP_PULL_RL2 := --world lane-keep-pull --algo rl2 --iterations 600 --normalize-observations --init-log-std=-0.5 \
                      --horizon 200 --seed 1
# The context meta-policy (an encoder of transitions, mean-pooled, conditioning the policy; its
# decoder predicts each next reward and change of observation): lane-keep-reversed's, on 4-episode
# trials, chosen on validation tasks over 2-episode trials, over 1,500 iterations and over
# standardized decoder targets (docs/meta-learning.md "Context meta-policy").
LANE_KEEP_REVERSED_CONTEXT := --world lane-keep-reversed --algo context --trial-episodes 4 --iterations 600 --normalize-observations \
                              --init-log-std=-0.5 --horizon 200 --seed 1
# Trains FAMILY's meta-policy, baseline, their tuning and its oracle:
# $(call hidden-family,FAMILY,OPTIONS[,META-POLICY-ONLY OPTIONS])
define hidden-family
	$(METASIM) train $(2) --algo maml --learn-inner-lr $(3) --output policies/$(1).safetensors
	$(METASIM) train $(2) --algo multitask --output policies/$(1)-multitask.safetensors
	$(METASIM) tune --world $(1) --policy policies/$(1).safetensors --skip-training-of policies/$(1)-multitask.safetensors $(HIDDEN_TUNE)
	$(METASIM) tune --world $(1) --policy policies/$(1)-multitask.safetensors --same-tasks-as policies/$(1).safetensors
	$(METASIM) train $(2) --algo oracle --output policies/oracles/$(1)-oracle.safetensors
endef

train: build
	$(METASIM) train $(POINT_NAV_TRAIN) --iterations 300 --algo maml --learn-inner-lr --output policies/point-nav.safetensors
	$(METASIM) train $(POINT_NAV_TRAIN) --iterations 150 --algo multitask --output policies/point-nav-multitask.safetensors
	$(METASIM) train $(POINT_NAV_RL2) --output policies/point-nav-rl2.safetensors
	$(METASIM) train $(TRACK_RACER_TRAIN) --algo maml --learn-inner-lr --outer-epochs 5 --clip 0.3 --outer-lr 0.001 \
		--output policies/track-racer.safetensors
	$(METASIM) train $(TRACK_RACER_TRAIN) --algo multitask --output policies/track-racer-multitask.safetensors
	$(METASIM) train $(TRACK_RACER_TRAIN) --algo oracle --output policies/oracles/track-racer-oracle.safetensors
	$(METASIM) train $(CHEETAH_VEL_TRAIN) --iterations 200 --algo maml --learn-inner-lr --outer-epochs 5 --clip 0.3 --outer-lr 0.001 \
		--output policies/cheetah-vel.safetensors
	$(METASIM) tune --world cheetah-vel --policy policies/cheetah-vel.safetensors $(CHEETAH_VEL_TUNE)
	$(METASIM) train $(CHEETAH_VEL_TRAIN) --iterations 400 --algo multitask --output policies/cheetah-vel-multitask.safetensors
	$(METASIM) train $(CHEETAH_VEL_TRAIN) --iterations 400 --algo oracle --output policies/oracles/cheetah-vel-oracle.safetensors
	$(METASIM) train $(LUNAR_LANDER_TRAIN) --algo maml --learn-inner-lr --output policies/lunar-lander.safetensors
	$(METASIM) train $(LUNAR_LANDER_TRAIN) --algo multitask --output policies/lunar-lander-multitask.safetensors
	$(METASIM) train $(LUNAR_LANDER_TRAIN) --algo oracle --output policies/oracles/lunar-lander-oracle.safetensors
	$(METASIM) train $(CARTPOLE_TRAIN) --output policies/cartpole.safetensors
	$(call hidden-family,reacher-goal,$(REACHER_GOAL_TRAIN))
	$(METASIM) train $(REACHER_GOAL_RL2) --output policies/reacher-goal-rl2.safetensors
	$(call hidden-family,lane-keep-lane,$(LANE_KEEP_LANE_TRAIN))
	$(call hidden-family,cheetah-dir,$(CHEETAH_DIR_TRAIN),$(CHEETAH_DIR_META))
	$(METASIM) train $(CHEETAH_DIR_RL2) --output policies/cheetah-dir-rl2.safetensors
	$(call hidden-family,lane-keep-pull,$(LANE_KEEP_PULL_TRAIN))
	$(METASIM) train $(LANE_KEEP_PULL_RL2) --output policies/lane-keep-pull-rl2.safetensors
	$(call hidden-family,lane-keep-reversed,$(LANE_KEEP_REVERSED_TRAIN),$(CHEETAH_DIR_META))
	$(METASIM) train $(LANE_KEEP_REVERSED_RL2) --output policies/lane-keep-reversed-rl2.safetensors
	$(METASIM) train $(LANE_KEEP_REVERSED_CONTEXT) --output policies/lane-keep-reversed-context.safetensors
	cd policies && sha256sum -c SHA256SUMS

# Held-out evaluation of the shipped policies, baselines side by side.
evaluate: build
	$(METASIM) evaluate --world point-nav --policy policies/point-nav.safetensors \
		--baseline policies/point-nav-multitask.safetensors --memory policies/point-nav-rl2.safetensors --tasks 40 --blocks 2 \
		--json policies/point-nav-evaluation.json --plot policies/point-nav-evaluation.svg
	$(METASIM) evaluate --world track-racer --policy policies/track-racer.safetensors \
		--baseline policies/track-racer-multitask.safetensors --oracle policies/oracles/track-racer-oracle.safetensors --tasks 40 \
		--json policies/track-racer-evaluation.json --plot policies/track-racer-evaluation.svg
	$(METASIM) evaluate --world cheetah-vel --policy policies/cheetah-vel.safetensors \
		--baseline policies/cheetah-vel-multitask.safetensors --oracle policies/oracles/cheetah-vel-oracle.safetensors --tasks 40 \
		--json policies/cheetah-vel-evaluation.json --plot policies/cheetah-vel-evaluation.svg
	$(METASIM) evaluate --world lunar-lander --policy policies/lunar-lander.safetensors \
		--baseline policies/lunar-lander-multitask.safetensors --oracle policies/oracles/lunar-lander-oracle.safetensors --tasks 40 \
		--json policies/lunar-lander-evaluation.json --plot policies/lunar-lander-evaluation.svg
	$(METASIM) evaluate --world cartpole --policy policies/cartpole.safetensors --tasks 40 --first-task-seed 1000001000 \
		--json policies/cartpole-evaluation.json --plot policies/cartpole-evaluation.svg

	$(call hidden-evaluate,reacher-goal,--memory policies/reacher-goal-rl2.safetensors)
	$(call hidden-evaluate,lane-keep-lane)
	$(call hidden-evaluate,cheetah-dir,--memory policies/cheetah-dir-rl2.safetensors)
	$(call hidden-evaluate,lane-keep-pull,--memory policies/lane-keep-pull-rl2.safetensors)
	$(call hidden-evaluate,lane-keep-reversed,--memory policies/lane-keep-reversed-rl2.safetensors \
		--memory policies/lane-keep-reversed-context.safetensors)

# Two disjoint blocks of 40 held-out tasks (seeds 1000000000…039 and …040…079):
# $(call hidden-evaluate,FAMILY[,MORE OPTIONS, e.g. --memory policies/FAMILY-rl2.safetensors])
define hidden-evaluate
	$(METASIM) evaluate --world $(1) --policy policies/$(1).safetensors --baseline policies/$(1)-multitask.safetensors \
		--oracle policies/oracles/$(1)-oracle.safetensors --tasks 40 --blocks 2 $(2) \
		--json policies/$(1)-evaluation.json --plot policies/$(1)-evaluation.svg
endef

# Wall time of each inner step (20 episodes, baseline, gradient, update) of one adaptation.
bench-adapt: build
	$(METASIM) adapt --world point-nav --policy policies/point-nav.safetensors --task-seed 1000000000

# The meta-policy daemon (issue 6): adapt latency and act throughput over the socket, next to the
# same work in process, on a private metasimd.
bench-policy: build
	$(METASIM) bench-policy

# The recurrent (rl2) policy's GRU: forward and backward throughput, beside the MLP's (issue 31).
.PHONY: bench-gru
bench-gru: build
	$(METASIM) bench-gru

install: build
	@$(MAKE) --no-print-directory install-files

# Copies what `build` made (BUILD_DIR) without building: for packaging and for the tests.
install-files:
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(DATADIR) $(DESTDIR)$(SYSCONFDIR)/metasim
	install -m 755 $(BUILD_DIR)/metasim $(BUILD_DIR)/metasimd $(DESTDIR)$(BINDIR)/
	sed 's|/usr/local/bin/metasimd|$(BINDIR)/metasimd|' \
		systemd/metasimd.service > $(DESTDIR)$(UNITDIR)/metasimd.service
	install -m 644 systemd/metasimd.socket $(DESTDIR)$(UNITDIR)/metasimd.socket
	install -m 644 systemd/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/metasim.conf
	install -m 644 systemd/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/metasim.conf
	sed 's|/usr/local/share/metasim/|$(DATADIR)/|' systemd/metasimd.yaml.example \
		> $(DESTDIR)$(SYSCONFDIR)/metasim/metasimd.yaml.example
	rm -rf $(DESTDIR)$(DATADIR)/worlds && cp -R worlds $(DESTDIR)$(DATADIR)/worlds
	rm -rf $(DESTDIR)$(DATADIR)/web && cp -R web $(DESTDIR)$(DATADIR)/web
	install -m 644 systemd/metasimd-web.conf $(DESTDIR)$(DATADIR)/metasimd-web.conf
	if [ -d policies ]; then rm -rf $(DESTDIR)$(DATADIR)/policies && cp -R policies $(DESTDIR)$(DATADIR)/policies; fi
	chmod -R u=rwX,go=rX $(DESTDIR)$(DATADIR)
	@# On the live system (no DESTDIR): the user and group, the folders, systemd's unit list.
	@if [ -z "$(DESTDIR)" ]; then \
		command -v systemd-sysusers >/dev/null && systemd-sysusers $(SYSUSERSDIR)/metasim.conf || true; \
		command -v systemd-tmpfiles >/dev/null && systemd-tmpfiles --create $(TMPFILESDIR)/metasim.conf || true; \
		[ -d /run/systemd/system ] && systemctl daemon-reload || true; \
		echo "installed; start with: systemctl enable --now metasimd.socket"; \
	fi

# Removes what install put there; keeps the user, /etc/metasim/metasimd.yaml and /var/lib/metasim.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rm -rf $(DESTDIR)$(DATADIR)
	-rmdir $(DESTDIR)$(SYSCONFDIR)/metasim 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi

clean:
	rm -rf .build .build-fuzz $(TEST_VENV) $(SB3_VENV)
