# Benchmarks (figures recorded in docs/numerics.md and docs/verification.md).
.PHONY: bench-model
bench-model: $(STAMP)
	$(PY) bench/bench_model.py
