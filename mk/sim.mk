# Simulation: the pyuvm environment (tb/), the regression and the whole test suite.
# Owner: the verification part (tb/, tests/test_sim*.py, tests/conftest.py, bench/bench_sim.py).
#
#   make sim [CONFIG=paper_n10_decision] [SIM=verilator|icarus] [SEED=n] [TEST=smx_random,...]
#            [DUMP=file.npz,...] [WAVES=1] [COVERAGE=1] [PROFILE=full|quick] [MODEL=numpy|fxp]
#            [CHECK=harness|monitors]
#       one configuration on one simulator, all tests (or TEST=) in one simulator run;
#       without DUMP the bundled dumps in data/ that fit N are replayed (the digits CNN logits on
#       the default configuration). Results: results/<config>/<sim>/summary.json, results.xml,
#       coverage.txt, sim.log; COVERAGE=1 (Verilator) adds the annotated line+toggle coverage.
#       DUMP_FROM=probabilities DUMP_MAP=predictions:logits,ground_truth:labels: replay another
#       tool's file directly (models.dumps.open_dump_arg; `make import-dump` converts it once).
#       MODEL=fxp: the scoreboard's expected values come from the fxpmath reference
#       (models/fxp_reference.py), cross-checked against the numpy model on every vector.
#       CHECK=monitors: every handshake is logged and compared by the Python scoreboard, with the
#       diagnosis of lost/duplicated/swapped outputs (tb/align.py); the default CHECK=harness
#       compares in the harness and logs only what differs (tb/protocol.py; docs/verification.md).
#   make regression   every configuration on both simulators (pytest -n 2), full vector counts,
#                     code coverage, summary table in results/regression.md
#   make test         the whole pytest suite (pytest -n 2 tests/), quick vector counts
#   make bench-sim    verified vectors/s of the environment beside a bare cocotb loop (N = 10)
#   make sim DESIGN=path/to/design.toml   verify your own unit (tb/byo, docs/byo.md)
#   make sim-stream CONFIG=<configs/stream name>   the streaming unit (tb/stream, docs/stream.md)

CONFIG   ?= paper_n10_decision
SIM      ?= verilator
SEED     ?=
TEST     ?=
DUMP     ?=
WAVES    ?=
COVERAGE ?=
PROFILE  ?= full
MODEL    ?= numpy
CHECK    ?= harness
PYTEST_WORKERS ?= 2
# make exports command-line variables; cocotb reads COVERAGE (Python coverage) and WAVES itself
unexport COVERAGE WAVES

.PHONY: sim regression test bench-sim sim-stream

comma := ,
# flags take 1 (on) or 0/empty (off); anything else is refused rather than silently ignored
flag = $(if $(filter-out 0 1,$($(1))),$(error $(1)=$($(1)) is not a flag: use $(1)=1 (on) or $(1)=0 (off)),$(filter 1,$($(1))))
# paths on the command line are relative to where the user typed make (make -C changes directory)
SMX_CALLER_DIR ?= $(or $(PWD),$(CURDIR))
export SMX_CALLER_DIR

# DESIGN=path/to/design.toml: your own unit through the generic path (docs/byo.md)
sim: $(STAMP)
ifdef DESIGN
	$(PY) -m tb.byo.run --design '$(DESIGN)' --sim $(SIM) \
	  $(if $(SEED),--seed '$(SEED)') $(if $(TEST),--test $(subst $(comma), ,$(TEST))) $(if $(DUMP),--dump '$(DUMP)') \
	  $(if $(call flag,WAVES),--waves)
else
	$(PY) -m tb.run --config '$(CONFIG)' --sim $(SIM) --profile $(PROFILE) --model $(MODEL) --check $(CHECK) \
	  $(if $(SEED),--seed '$(SEED)') $(if $(TEST),--test '$(TEST)') $(if $(DUMP),--dump '$(DUMP)') \
	  $(if $(DUMP_FROM),--dump-from '$(DUMP_FROM)') $(if $(DUMP_MAP),--dump-map '$(DUMP_MAP)') \
	  $(if $(call flag,WAVES),--waves) $(if $(call flag,COVERAGE),--coverage)
endif

# the streaming unit (docs/stream.md): CONFIG names a configs/stream/ configuration
sim-stream: $(STAMP)
	$(if $(filter paper_n10_decision,$(CONFIG)),$(error make sim-stream needs CONFIG=<a configs/stream/ name, e.g. attn_p8_n4096_full>))
	$(PY) -m tb.stream.run --config '$(CONFIG)' --sim $(SIM) $(if $(SEED),--seed '$(SEED)') $(if $(DUMP),--dump '$(DUMP)')

# SHARD=i/n runs the i-th of n deterministic parts (each machine the same SEED); SEEDS=k runs k
# seeds per configuration (the nightly profile); docs/regression.md merges the shards
regression: $(STAMP)
	$(if $(and $(SHARD),$(if $(SEED),,1)),$(error SHARD needs SEED=<n>: every shard must use the same seed))
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -p no:cacheprovider \
	  tests/test_sim.py tests/test_sim_codecov.py tests/test_sim_shapes.py \
	  --smx-profile full $(if $(SEED),--smx-seed $(SEED),--smx-seed random) -v \
	  $(if $(SHARD),--shard $(SHARD)) $(if $(SEEDS),--smx-seeds $(SEEDS)) \
	  --junitxml=results/regression$(if $(SHARD),-$(subst /,of,$(SHARD))).xml

# timing-deps (mk/timing.mk): tests/test_timing.py needs OpenSTA and the OSU 0.18 um liberty;
# IMAGENET_STAMP (mk/data.mk): tests/test_imagenet.py re-captures ImageNet rows from the wheels
# The cell-library flow runs on its own first: in a cold run beside the other workers it once
# timed a netlist whose per-stage report came back empty (not reproduced alone; see docs/timing.md)
test: $(STAMP) timing-deps $(IMAGENET_STAMP)
	$(PY) -m pytest -p no:cacheprovider tests/test_timing.py
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup tests/ --ignore=tests/test_timing.py

bench-sim: $(STAMP)
	$(PY) -m bench.bench_sim
