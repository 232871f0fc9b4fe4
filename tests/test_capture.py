"""scripts/capture_logits.py on what CI can afford: the `onnx` subcommand on the committed digits
CNN (onnx and onnxruntime are main requirements; torch is not needed)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from models.dumps import load_dump

ROOT = Path(__file__).resolve().parents[1]

MODEL = ROOT / "data" / "digits_cnn.onnx"
INPUTS = ROOT / "data" / "digits_test_inputs.npz"
BUNDLED = ROOT / "data" / "digits_cnn_logits.npz"

from scripts import capture_logits


def run_capture(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scripts.capture_logits", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    out = tmp_path_factory.mktemp("cap") / "digits.npz"
    r = run_capture("onnx", "--model", str(MODEL), "--inputs", str(INPUTS), "--input-key", "x",
                    "--labels-key", "y", "--dataset", "digits test split", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return load_dump(out, n_lanes=10), r.stdout


def test_dump_equals_a_direct_onnxruntime_run(captured):
    dump, _ = captured
    with np.load(INPUTS) as z:
        x, y = z["x"], z["y"]
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    direct = sess.run(["logits"], {"x": x})[0]
    assert direct.shape == (360, 10)
    np.testing.assert_array_equal(dump.logits, direct.astype(np.float64))
    np.testing.assert_array_equal(dump.labels, y)
    assert dump.mask.all()


def test_accuracy_matches_the_training_script(captured):
    """The training script measured accuracy with torch before export and wrote it into the ONNX
    metadata; the captured logits must give the same count."""
    dump, stdout = captured
    props = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    correct = int((dump.logits.argmax(axis=1) == dump.labels).sum())
    assert (correct, dump.m) == (int(props["test_correct"]), int(props["test_total"]))
    assert f"top-1 accuracy {correct / dump.m:.4f}" in stdout


def test_meta_records_the_capture(captured):
    dump, _ = captured
    m = dump.meta
    assert m["captured"] == "classifier logits (ONNX output 'logits')"
    assert m["dataset"] == "digits test split"
    assert m["command"].startswith("python -m scripts.capture_logits onnx --model")
    assert m["model_sha256"] == hashlib.sha256(MODEL.read_bytes()).hexdigest()
    assert m["model_metadata"]["seed"] == "0"
    assert m["onnxruntime_version"] == ort.__version__


def test_bundled_dump_matches_the_bundled_model(captured):
    """data/digits_cnn_logits.npz was made from data/digits_cnn.onnx: a stale pair fails here."""
    fresh, _ = captured
    bundled = load_dump(BUNDLED, n_lanes=10)
    assert bundled.meta["model_sha256"] == fresh.meta["model_sha256"]
    np.testing.assert_allclose(bundled.logits, fresh.logits, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(bundled.labels, fresh.labels)


def test_batched_run_gives_the_same_dump(tmp_path, captured):
    out = tmp_path / "b.npz"
    r = run_capture("onnx", "--model", str(MODEL), "--inputs", str(INPUTS), "--input-key", "x",
                    "--batch-size", "7", "--dataset", "d", "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = load_dump(out)
    assert d.labels is None and d.meta["batch_size"] == 7
    np.testing.assert_allclose(d.logits, captured[0].logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--input-key", "nope"], "no array 'nope' (has ['index', 'x', 'y'])"),
    ([], "holds ['index', 'x', 'y']; choose one with --input-key"),
    (["--input-key", "x", "--output", "probs"], "no output 'probs' (has ['logits'])"),
])
def test_bad_arguments_give_one_clear_error(tmp_path, args, message):
    out = tmp_path / "e.npz"
    r = run_capture("onnx", "--model", str(MODEL), "--inputs", str(INPUTS), "--dataset", "d", "--out", str(out), *args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_missing_model_file(tmp_path):
    r = run_capture("onnx", "--model", str(tmp_path / "none.onnx"), "--inputs", str(INPUTS), "--dataset", "d", "--out", str(tmp_path / "o.npz"))
    assert r.returncode == 2 and "none.onnx: model file not found" in r.stderr


def test_torch_subcommands_say_what_is_missing(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # as in the main env: import torch fails
    rc = capture_logits.main(["attention", "--model", "x", "--sentences", "s.txt", "--out", str(tmp_path / "a.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "needs torch" in err and "make capture-env" in err


@pytest.mark.parametrize("live, k, expect", [
    (4, 8, [0, 1, 2, 3]),
    (10, 0, list(range(10))),
    (62, 8, [0, 9, 17, 26, 35, 44, 52, 61]),
    (9, 2, [0, 8]),
])
def test_query_subsampling_keeps_first_and_last(live, k, expect):
    assert capture_logits.query_positions(live, k).tolist() == expect
