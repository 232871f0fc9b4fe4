# Reports, design-space sweep, paper area check and the hls4ml peer comparison.
# Owner: the reports part (scripts/report.py, report_area.py, sweep.py, peer_hls4ml.py).
#
#   make report                      accuracy reports per dump x configuration -> results/report/
#   make area-check                  synthesise the three N = 10 units if needed, ratios vs the paper
#   make sweep [SWEEP_GRID=full] [NO_AREA=1] [SWEEP_JOBS=2]   design-space sweep -> results/sweep/
#   make peer                        hls4ml softmax (g++ C simulation) beside ours -> results/peer/
#   make imagenet-figures            N = 1000 figures on the ImageNet dump (model) -> results/imagenet/
#
# report and peer take DUMP=a.npz[,b.npz] (default: every dump in data/), DUMP_FROM=probabilities
# and DUMP_MAP=predictions:logits,ground_truth:labels for another tool's file (docs/dumps.md).

SWEEP_GRID ?= small
SWEEP_JOBS ?= 2
NO_AREA    ?=
DUMP       ?=
DUMP_FROM  ?=
DUMP_MAP   ?=
report_comma := ,
DUMP_ARGS = $(foreach d,$(subst $(report_comma), ,$(DUMP)),--dump $(d)) \
            $(if $(DUMP_FROM),--dump-from $(DUMP_FROM)) $(if $(DUMP_MAP),--dump-map $(DUMP_MAP))

.PHONY: report area-check sweep peer imagenet-figures

# The report never synthesises: it quotes whatever areas and simulation summaries exist.
report: $(STAMP)
	$(PY) -m scripts.report_area
	$(PY) -m scripts.report $(DUMP_ARGS)

area-check: $(STAMP)
	$(PY) -m scripts.report_area --synth

sweep: $(STAMP)
	$(PY) -m scripts.sweep --grid $(SWEEP_GRID) --jobs $(SWEEP_JOBS) $(if $(NO_AREA),--no-area,) $(if $(TIMING),--timing,)

peer: $(STAMP)
	$(PY) -m scripts.peer_hls4ml $(DUMP_ARGS)

imagenet-figures: $(STAMP)
	$(PY) -m scripts.imagenet_figures --dump data/imagenet_lite0_logits.npz --out results/imagenet
