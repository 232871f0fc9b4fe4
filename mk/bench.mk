# Benchmarks (figures recorded in docs/numerics.md and docs/verification.md).
.PHONY: bench-model
bench-model: $(STAMP)
	$(PY) -m bench.bench_model

# the environment beside the raw simulator binary, both simulators, N = 10, 64, 1000 (docs/regression.md)
.PHONY: bench-raw bench-byo
bench-raw: $(STAMP)
	$(PY) -m bench.bench_raw

# the generic bring-your-own-design path beside a bare cocotb loop (docs/byo.md)
bench-byo: $(STAMP)
	$(PY) -m bench.bench_byo
