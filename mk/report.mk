# Reports, design-space sweep, paper area check and the hls4ml peer comparison.
# Owner: the reports part (scripts/report.py, report_area.py, sweep.py, peer_hls4ml.py).
#
#   make report                      accuracy reports per dump x configuration -> results/report/
#   make area-check                  synthesise the three N = 10 units if needed, ratios vs the paper
#   make sweep [SWEEP_GRID=full] [NO_AREA=1] [SWEEP_JOBS=2]   design-space sweep -> results/sweep/
#   make peer                        hls4ml softmax (g++ C simulation) beside ours -> results/peer/

SWEEP_GRID ?= small
SWEEP_JOBS ?= 2
NO_AREA    ?=

.PHONY: report area-check sweep peer

# The report never synthesises: it quotes whatever areas and simulation summaries exist.
report: $(STAMP)
	$(PY) scripts/report_area.py
	$(PY) scripts/report.py

area-check: $(STAMP)
	$(PY) scripts/report_area.py --synth

sweep: $(STAMP)
	$(PY) scripts/sweep.py --grid $(SWEEP_GRID) --jobs $(SWEEP_JOBS) $(if $(NO_AREA),--no-area,)

peer: $(STAMP)
	$(PY) scripts/peer_hls4ml.py
