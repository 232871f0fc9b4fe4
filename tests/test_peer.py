"""hls4ml peer (scripts/peer_hls4ml.py): our C++ harness compiled with g++ against the installed
hls4ml package's headers, run on a few vectors. Needs g++ and hls4ml (pinned in
requirements.txt); a missing one fails here with the reason, it is never skipped."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from models.config import load_config
from models.dumps import save_dump
from models.reference import softmax
from scripts import peer_hls4ml as peer

META = {"model": "synthetic", "dataset": "test", "captured": "logits", "command": "pytest", "date": "2026-01-01"}
FW = 5
LSB = 2.0 ** -FW


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("peer_build")


def _codes(x):
    return np.round(np.asarray(x, np.float64) / LSB).astype(np.int64)


def test_stable_close_to_softmax_and_wrap_hazard(build_dir):
    spec = peer.PeerSpec(impl="stable", n=4, iw=5, fw=FW, of=10)
    assert spec.norm_type == (9, 4) and spec.exp_table_size == 512 and spec.table_size == 1024
    exe = peer.build_harness(spec, build_dir)
    x = np.array([[0.0, -1.0, -2.0, -3.0],
                  [2.5, 2.0, -4.0, 1.0],
                  [15.0, -1.0, 0.0, 14.0]])       # lane 1 is 16 below the max: beyond inp_norm_t's [0, 16)
    codes = _codes(x)
    y = peer.run_harness(exe, spec, codes)
    ref = softmax(x)
    # ordinary rows: within hls4ml's table resolution of softmax (paper notes: max abs ~0.2 at worst)
    assert np.abs(y[:2] - ref[:2]).max() < 0.06
    assert list(np.argmax(y[:2], axis=1)) == [0, 0]
    # the hazard: 15 - (-1) = 16 wraps to 0 in ap_ufixed<9,4>, so lane 1 comes out like the max
    assert ref[2, 1] < 1e-6 and y[2, 1] == y[2, 0] and y[2, 1] > 0.3
    mask = np.ones_like(codes, bool)
    hz = peer.wrap_hazard(spec, codes, mask, y, mask)
    assert hz == {"rows_wrapped_live": 1, "rows_wrapped_masked_only": 0, "rows_small_looks_max": 1}
    assert peer.output_ties(y, codes, mask) == 1


def test_latency_saturates_large_inputs(build_dir):
    spec = peer.PeerSpec(impl="latency", n=4, iw=5, fw=FW, of=10)
    exe = peer.build_harness(spec, build_dir)
    x = np.array([[0.0, -1.0, -2.0, -3.0],
                  [6.0, 5.5, 0.0, 0.0]])          # exp(6), exp(5.5) exceed ap_fixed<18,8>'s 128
    y = peer.run_harness(exe, spec, _codes(x))
    assert np.abs(y[0] - softmax(x[:1])[0]).max() < 0.06
    assert y[1, 0] == y[1, 1]                     # both saturate: the decision is lost
    assert peer.output_ties(y, _codes(x), np.ones((2, 4), bool)) == 1


def test_harness_rejects_bad_input(build_dir):
    spec = peer.PeerSpec(impl="stable", n=4, iw=5, fw=FW, of=10)
    exe = peer.build_harness(spec, build_dir)
    with pytest.raises(peer.PeerError, match="outside the 10-bit signed range"):
        peer.run_harness(exe, spec, np.array([[600, 0, 0, 0]]))
    with pytest.raises(peer.PeerError, match=r"shape \[M, 4\]"):
        peer.run_harness(exe, spec, np.zeros((1, 5), np.int64))
    res = subprocess.run([str(exe)], input="1 5\n0 0 0 0 0\n", capture_output=True, text=True)
    assert res.returncode == 2 and "differs from the compiled SM_N" in res.stderr
    res = subprocess.run([str(exe)], input="2 4\n0 0 0 0\n", capture_output=True, text=True)
    assert res.returncode == 2 and "fewer codes than M*N" in res.stderr


def test_compare_on_a_small_masked_dump(tmp_path, build_dir):
    """Both mask modes on a padded dump; our unit's row uses the model, hls4ml's the harness."""
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 2, size=(6, 3))
    mask = np.ones((6, 3), bool)
    mask[::2, 2] = False                          # live counts 2 and 3 -> two live-only builds
    p = save_dump(tmp_path / "m.npz", logits, mask=mask, meta=META)
    cfg = load_config("paper_n10_full")
    rows = peer.compare(cfg, peer.load_dump(p), ("stable",), build_dir)
    assert [(r["unit"], r["masked_lanes"]) for r in rows] == [
        ("ours: paper_n10_full", "masked"), ("hls4ml stable", "at min code"),
        ("hls4ml stable", "left out (live lanes only)")]
    ours, at_min, live_only = rows
    assert all(r["vectors"] == 6 for r in rows)
    assert ours["argmax_quantized"] == 1.0
    # Q(6,5): inp_norm_t = ap_ufixed<10,5> holds differences below 32. The inputs stay within +-6,
    # so no live lane wraps; padding sits at the min code, -32, and wraps wherever the row's max
    # is >= 0. Live-only mode never feeds padding.
    assert cfg.in_int_bits == 6 and cfg.in_frac_bits == FW
    row_max = np.where(mask, np.round(logits / LSB), -np.inf).max(axis=1)
    assert at_min["rows_wrapped_live"] == 0
    assert at_min["rows_wrapped_masked_only"] == int((row_max >= 0).sum()) > 0
    assert live_only["rows_wrapped_masked_only"] == 0
    assert live_only["mse_mean"] < 5e-3 and live_only["argmax_float"] == 1.0


def test_make_peer_and_report_pass_dump_options():
    """`make peer` / `make report` hand DUMP=, DUMP_FROM= and DUMP_MAP= to the scripts (once they
    were silently ignored by `make peer`)."""
    root = Path(__file__).resolve().parents[1]
    for target, script in (("peer", "scripts.peer_hls4ml"), ("report", "scripts.report")):
        r = subprocess.run(["make", "-n", "-W", "requirements.txt", target, "DUMP=a.npz,b.csv", "DUMP_FROM=probabilities",
                            "DUMP_MAP=predictions:logits"], cwd=root, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        line = next(ln for ln in r.stdout.splitlines() if f"-m {script} " in ln)
        assert line.endswith(f"-m {script} --dump a.npz --dump b.csv --dump-from probabilities --dump-map predictions:logits")


def test_peer_cli_replays_a_probabilities_file(tmp_path, build_dir):
    rng = np.random.default_rng(4)
    z = rng.normal(0, 2, size=(4, 10))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    src = tmp_path / "tool.npz"
    np.savez(src, predictions=p)
    rows = peer.run_peer([src], ["paper_n10_full"], ("stable",), tmp_path / "out", build_dir=build_dir,
                         progress=False, from_probabilities=True, key_map="predictions:logits")
    assert {r["dump"] for r in rows} == {"tool"}
    assert all(r["vectors"] == 4 for r in rows)
