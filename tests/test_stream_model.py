"""The streaming unit's contract (models/stream.py): configurations, the cross-check with the
parallel unit's model, and the guard-bit bound of the K = N sum against float softmax."""
from __future__ import annotations

import dataclasses
import math
import tomllib

import numpy as np
import pytest

from models.config import ConfigError, load_config
from models.datapath import run_model
from models.dumps import load_dump
from models.quantize import quantize
from models.stream import StreamUnit, list_stream_configs, load_stream_config, stream_config_from_dict, unpad
from tb.build import REPO


@pytest.mark.parametrize("name", list_stream_configs())
def test_shipped_configs_load_and_are_guarded(name):
    cfg = load_stream_config(name)
    assert cfg.guarded, f"{name}: the sum's guard bits/range do not meet the bound"
    assert StreamUnit(cfg).ln.size == cfg.ln_exponents << cfg.ln_mant_bits


@pytest.mark.parametrize("change, named", [
    ({"p": 3}, "'p'"), ({"n_max": 4100}, "'n_max'"), ({"variant": "sparse"}, "'variant'"),
    ({"variant": "topk"}, "'k'"), ({"variant": "topk", "k": 1}, "'k'"), ({"variant": "topk", "k": 4096}, "'k'"),
    ({"k": 8}, "'k'"), ({"k": "8"}, "'k'"),
    ({"sum_exp_range": 4.0}, "'sum_exp_range'"), ({"exp_depth": 500}, "'exp_depth'"),
    ({"bogus": 1}, "bogus"),
])
def test_bad_config_is_rejected_naming_the_field(change, named):
    data = tomllib.loads((REPO / "configs/stream/attn_p8_n4096_full.toml").read_text())
    with pytest.raises(ConfigError, match=named):
        stream_config_from_dict({**data, **change}, source="t.toml")


def test_bad_rows_are_rejected():
    u = StreamUnit(load_stream_config("attn_p4_n64_full"))
    with pytest.raises(ValueError, match="row lengths"):
        u.rows(np.zeros((1, 65), np.int64), [65])
    with pytest.raises(ValueError, match="signed range"):
        u.rows(np.full((1, 4), 4096, np.int64), [4])
    with pytest.raises(ValueError, match="not a prefix"):
        unpad(np.zeros((1, 4), np.int64), np.array([[1, 0, 1, 0]], bool))


def _random_rows(u, rng, m, lanes, length=None):
    x = rng.normal(0, 3, (m, lanes)) * rng.choice([0.3, 1.0, 3.0], (m, 1))
    codes = quantize(u.cfg, x)[0]
    length = rng.integers(1, lanes + 1, m) if length is None else np.full(m, length)
    return u.rows(codes, length, rng.random((m, lanes)) > 0.1)


def test_decision_equals_the_parallel_model_on_the_same_numerics():
    """Same formats and table as imagenet_n1000_decision: the stream unit must give the parallel
    unit's outputs and argmax lane for lane (two independent implementations of eq. 18)."""
    u = StreamUnit(load_stream_config("imagenet_p16_n1024_decision"))
    par = load_config("imagenet_n1000_decision")
    rows = _random_rows(u, np.random.default_rng(3), 300, 1000, length=1000)
    got, ref = u.run(rows), run_model(par, rows.codes, rows.live)
    assert np.array_equal(got.y, ref.y) and np.array_equal(got.argmax, ref.argmax)


def test_full_equals_the_parallel_model_with_the_same_sum_table():
    """With the parallel unit's (attn_n64_full) sum table (unguarded unless that configuration
    has guard bits), the stream sum is the parallel sum: outputs equal lane for lane."""
    par = load_config("attn_n64_full")
    cfg = dataclasses.replace(load_stream_config("attn_p4_n64_full"),
                              sum_guard_bits=getattr(par, "sum_guard_bits", 0),
                              sum_exp_range=getattr(par, "sum_exp_range", 0.0))
    u = StreamUnit(cfg)
    rows = _random_rows(u, np.random.default_rng(4), 400, 64, length=64)
    got, ref = u.run(rows), run_model(par, rows.codes, rows.live)
    assert np.array_equal(got.y, ref.y) and np.array_equal(got.argmax, ref.argmax)


def test_error_eps_is_the_documented_figure():
    """StreamConfig.error_eps, the bound's eps that the checks below use, is docs/stream.md
    section 3's figure: 1.78% at FW = 6, M = 8, s = 0, OF = 15; 6.8% at FW = 5, M = 8, s = 1,
    OF = 10."""
    assert load_stream_config("attn_p8_n4096_full").error_eps == pytest.approx(0.0178, abs=5e-5)
    assert load_stream_config("imagenet_p16_n1024_full").error_eps == pytest.approx(0.0676, abs=5e-5)


def _bound_violations(u, rows) -> np.ndarray:
    """Per row: lanes outside the bound of docs/stream.md section 3 against the unit's ideal
    (float softmax, or eq. 30 for top-K) of the quantised row: |y - p| <= eps*p + 2^-(OF+1)
    (eps: StreamConfig.error_eps), or y = 0 where p <= exp(-R)*(1+eps) (beyond the output table)."""
    c, eps = u.cfg, u.cfg.error_eps
    y, p = u.run(rows).y / c.one, u.ideal(rows)
    ok = (np.abs(y - p) <= eps * p + 2.0 ** -(c.out_frac_bits + 1)) | ((y == 0) & (p <= math.exp(-c.exp_range) * (1 + eps)))
    return (~ok & rows.live).sum(axis=1)


def _peaky_long_rows(u, rng, m, n):
    """One clear peak and n-1 values far below it: the sum's worst case (S near 1, n tiny terms)."""
    c = u.cfg
    codes = np.full((m, n), 0, np.int64)
    codes[:, :] = rng.integers(int(-12 * 2 ** c.in_frac_bits), int(-8.5 * 2 ** c.in_frac_bits), (m, n))
    codes[np.arange(m), rng.integers(0, n, m)] = 0
    return u.rows(codes, np.full(m, n))


def test_guarded_sum_meets_the_bound_at_every_length():
    u = StreamUnit(load_stream_config("attn_p8_n4096_full"))
    rng = np.random.default_rng(5)
    for n in (1, 7, 64, 1000, 4096):
        for rows in (_random_rows(u, rng, 40, n, length=n), _peaky_long_rows(u, rng, 20, n)):
            assert _bound_violations(u, rows).sum() == 0, f"length {n}"
    rows = _random_rows(u, rng, 200, 4096)                 # random lengths 1..4096
    assert _bound_violations(u, rows).sum() == 0


def test_without_guards_the_error_grows_with_the_row_length():
    """The check above can fail: the same rows through an unguarded sum break the bound once
    rows are long (thousands of dropped/rounded tail terms), and not when they are short."""
    cfg = load_stream_config("attn_p8_n4096_full")
    bare = StreamUnit(dataclasses.replace(cfg, sum_guard_bits=0, sum_exp_range=0.0))
    rng = np.random.default_rng(6)
    assert _bound_violations(bare, _peaky_long_rows(bare, rng, 20, 16)).sum() == 0
    assert _bound_violations(bare, _peaky_long_rows(bare, rng, 20, 4096)).sum() > 0


def test_real_attention_rows_meet_the_bound_at_their_lengths():
    u = StreamUnit(load_stream_config("attn_p8_n4096_full"))
    d = load_dump(REPO / "data" / "minilm_attention_scores.npz")
    codes, length = unpad(quantize(u.cfg, d.logits, d.mask)[0], d.mask)
    rows = u.rows(codes, length)
    assert _bound_violations(u, rows).sum() == 0
    c = u.cfg
    y, p = u.run(rows).y / c.one, u.ideal(rows)
    mse = ((y - p) ** 2 * rows.live).sum(axis=1) / rows.live.sum(axis=1)
    assert mse.max() <= c.mse_vs_ideal_vector_max and mse.mean() <= c.mse_vs_ideal_mean_max


IMAGENET_DUMP = REPO / "data" / "imagenet_lite0_logits.npz"      # tracked: a missing file fails, not skips


def test_real_imagenet_rows_meet_the_bound_and_the_guards_matter():
    """1000-class rows: the guarded unit meets the bound on every lane; the unguarded sum (the
    same unit without guard bits and range) breaks it on many lanes."""
    cfg = load_stream_config("imagenet_p16_n1024_full")
    d = load_dump(IMAGENET_DUMP)
    guarded, bare = StreamUnit(cfg), StreamUnit(dataclasses.replace(cfg, sum_guard_bits=0, sum_exp_range=0.0))
    codes, length = unpad(quantize(cfg, d.logits, d.mask)[0], d.mask)
    rows = guarded.rows(codes, length)
    assert _bound_violations(guarded, rows).sum() == 0
    assert _bound_violations(bare, rows).sum() > 100


# ---- top-K (eq. 30 with K < N) ---------------------------------------------------------------

def test_topk_equals_the_parallel_model_on_the_same_numerics():
    """imagenet_p16_n1024_top5 has imagenet_n1000_top5's numerics exactly (sum table included):
    on 1000-lane rows, masks included (a third of the rows with fewer than K = 5 live lanes),
    the stream unit's top-K sum, ln and outputs are the parallel unit's, lane for lane."""
    u = StreamUnit(load_stream_config("imagenet_p16_n1024_top5"))
    par = load_config("imagenet_n1000_top5")
    rng = np.random.default_rng(8)
    rows = _random_rows(u, rng, 300, 1000, length=1000)
    sparse = rng.random((300, 1000)) < 0.002
    mask = np.where(np.arange(300)[:, None] % 3 == 0, sparse, rows.mask)
    rows = u.rows(rows.codes, rows.length, mask)
    assert (rows.live.sum(axis=1) < u.cfg.k).sum() > 50
    got, ref = u.run(rows), run_model(par, rows.codes, rows.live)
    assert np.array_equal(got.s, ref.s) and np.array_equal(got.l, ref.l)
    assert np.array_equal(got.y, ref.y) and np.array_equal(got.argmax, ref.argmax)


def test_topk_rows_shorter_than_k_are_the_parallel_units_masked_rows():
    """attn_p4_n64_top8 without its sum table is attn_n64_top8's numerics: a stream row of any
    length 1..64 (many shorter than K = 8, some with masked lanes) gives the parallel unit's
    outputs for the same row padded to 64 lanes with the padding masked."""
    par = load_config("attn_n64_top8")
    cfg = dataclasses.replace(load_stream_config("attn_p4_n64_top8"), sum_guard_bits=par.sum_guard_bits,
                              sum_exp_range=par.sum_exp_range)
    u = StreamUnit(cfg)
    rng = np.random.default_rng(9)
    rows = _random_rows(u, rng, 600, 64)
    rows = u.rows(rows.codes, np.where(np.arange(600) % 2 == 0, rng.integers(1, 9, 600), rows.length), rows.mask)
    assert (rows.length < cfg.k).sum() > 200
    got, ref = u.run(rows), run_model(par, rows.codes, rows.live)
    assert np.array_equal(got.y, ref.y) and np.array_equal(got.argmax, ref.argmax)
    assert np.array_equal(got.s, ref.s)


def test_topk_is_not_the_full_sum():
    """The top-K contract differs from K = N on rows with more than K significant lanes (so the
    equalities above are not K = N in disguise), and equals it on rows of at most K lanes."""
    u = StreamUnit(load_stream_config("attn_p4_n64_top8"))
    full = StreamUnit(dataclasses.replace(u.cfg, variant="full", k=0))
    rng = np.random.default_rng(10)
    long, short = _random_rows(u, rng, 100, 64, length=64), _random_rows(u, rng, 100, 8)
    assert (u.run(long).s < full.run(long).s).sum() > 50
    assert np.array_equal(u.run(short).y, full.run(short).y)


def test_topk_meets_the_bound_at_every_length():
    """eq. 30 with K = 8 against its float ideal (the K largest exp terms normalise) on rows of
    1..4096 values: the same per-lane bound as K = N (the guarded sum of K terms)."""
    u = StreamUnit(load_stream_config("attn_p8_n4096_top8"))
    rng = np.random.default_rng(11)
    for n in (1, 7, 64, 1000, 4096):
        for rows in (_random_rows(u, rng, 40, n, length=n), _peaky_long_rows(u, rng, 20, n)):
            assert _bound_violations(u, rows).sum() == 0, f"length {n}"
    assert _bound_violations(u, _random_rows(u, rng, 200, 4096)).sum() == 0


def test_topk_real_imagenet_rows_equal_the_parallel_unit():
    """The 2,040 ImageNet rows: stream top-5 and parallel top-5 identical, lane for lane."""
    u = StreamUnit(load_stream_config("imagenet_p16_n1024_top5"))
    par = load_config("imagenet_n1000_top5")
    d = load_dump(IMAGENET_DUMP)
    codes = quantize(u.cfg, d.logits, d.mask)[0]
    rows = u.rows(*unpad(codes, d.mask))
    got, ref = u.run(rows), run_model(par, quantize(par, d.logits, d.mask)[0], d.mask)
    assert np.array_equal(got.y, ref.y) and np.array_equal(got.argmax, ref.argmax)
    assert _bound_violations(u, rows).sum() == 0
