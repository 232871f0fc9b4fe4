# Area and timing in a standard-cell library (OSU 0.18 um): Yosys maps, OpenSTA times. See docs/timing.md.
#   make timing-deps                    install OpenSTA and the OSU liberty from Debian if missing (root)
#   make timing [CONFIG=name|path] [ALLOW_LARGE=1]   default: the four N = 10 units -> results/timing/
#   make timing-closure   the pipelined variants of configs/timing/ beside their bases (docs/timing.md)
#   make timing-stream    the streaming unit (configs/stream/) at N = 64 and N = 1024
#     (a configuration estimated too large to synthesise in minutes, e.g. N = 1000, is refused
#      before anything runs unless ALLOW_LARGE=1)

TIMING_DEBS    := opensta qflow-tech-osu018
TIMING_CONFIGS ?= paper_n10_decision paper_n10_top4 paper_n10_full paper_n10_conventional
# CONFIG has a default in mk/sim.mk: only a CONFIG given on the command line selects the unit here.
TIMING_RUN      = $(if $(filter command line,$(origin CONFIG)),$(CONFIG),$(TIMING_CONFIGS))

# timing closure (docs/timing.md): each base configuration and its pipelined variants
TIMING_CLOSURE ?= paper_n10_decision configs/timing/paper_n10_decision_max1.toml \
                  configs/timing/paper_n10_decision_max2.toml paper_n10_conventional \
                  configs/timing/paper_n10_conventional_div1.toml configs/timing/paper_n10_conventional_div3.toml \
                  paper_n10_full configs/timing/paper_n10_full_max1.toml configs/timing/paper_n10_full_max1_sum1.toml \
                  configs/timing/paper_n10_full_max1_sum2.toml paper_n10_top4 \
                  configs/timing/paper_n10_top4_topk1.toml configs/timing/paper_n10_top4_topk1_max1.toml
# N = 64 (about 7 min of Yosys each): make timing CONFIG=attn_n64_full; CONFIG=configs/timing/attn_n64_full_max3.toml
# (and its _sum1/_sum2/_sum3 variants)
TIMING_STREAM  ?= configs/stream/attn_p4_n64_full.toml configs/stream/imagenet_p16_n1024_decision.toml \
                  configs/stream/imagenet_p16_n1024_full.toml

.PHONY: timing-deps timing timing-closure timing-stream

# Idempotent: installs only the packages dpkg does not report installed; runs apt-get update
# only when apt has no package lists yet or the install fails without one.
timing-deps:
	@missing=""; for p in $(TIMING_DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "timing-deps: $(TIMING_DEBS) installed"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "timing-deps: missing Debian packages:$$missing; install them as root: apt-get install -y$$missing" >&2; exit 1; fi; \
	echo "timing-deps: installing$$missing"; \
	if [ -z "$$(ls /var/lib/apt/lists/*_Packages 2>/dev/null)" ]; then apt-get update -q || exit 1; fi; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing \
	  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; } \
	  || { echo "timing-deps: apt-get could not install:$$missing" >&2; exit 1; }

timing: $(STAMP) timing-deps
	$(PY) -m scripts.timing $(foreach c,$(TIMING_RUN),--config $(c)) $(if $(ALLOW_LARGE),--allow-large,)

timing-closure: $(STAMP) timing-deps
	$(PY) -m scripts.timing $(foreach c,$(TIMING_CLOSURE),--config $(c))

timing-stream: $(STAMP) timing-deps
	$(PY) -m scripts.timing $(foreach c,$(TIMING_STREAM),--config $(c))
