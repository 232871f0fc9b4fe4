"""Pure-Python tests of the bit-accurate model (no simulator).

Expected values in the hand-worked examples are derived from the equations in
docs/numerics.md with the arithmetic written next to them, not read from the model.
"""
import math

import numpy as np
import pytest

from models.config import ConfigError, config_from_dict, list_configs, load_config
from models.datapath import run_model, to_float
from models.quantize import quantize
from models.reference import argmax_agreement, first_argmax, ideal, softmax, vector_metrics
from models.tables import build_tables, write_tables

ALL = list_configs()


def codes_of(cfg, values):
    """Exact codes for values that are multiples of the input LSB."""
    q = np.asarray(values, np.float64) * 2 ** cfg.in_frac_bits
    assert np.all(q == np.round(q))
    return q.astype(np.int64)[None, :]


# ---------------------------------------------------------------- a scalar re-statement of section 3
def scalar_unit(cfg, q, live):
    """docs/numerics.md section 3, one vector, plain Python integers and loops."""
    exp_t = build_tables(cfg).exp
    ln_t = build_tables(cfg).ln
    s_shift = cfg.exp_step_log2

    def lookup(d):
        if d == 0:
            return cfg.one
        return int(exp_t[d >> s_shift]) if (d >> s_shift) < cfg.exp_depth else 0

    lanes = [i for i in range(cfg.n) if live[i]]
    if not lanes:
        return [0] * cfg.n, 0
    arg = lanes[0]
    for i in lanes[1:]:
        if q[i] > q[arg]:
            arg = i
    zmax = q[arg]
    e = [lookup(zmax - q[i]) if live[i] else 0 for i in range(cfg.n)]
    if cfg.k == 1:
        return e, arg
    s = sum(sorted(e, reverse=True)[:cfg.k])
    if cfg.normalise == "divide":
        return [(e[i] * cfg.one + s // 2) // s if live[i] else 0 for i in range(cfg.n)], arg
    p = s.bit_length() - 1
    mt = (s >> (p - cfg.ln_mant_bits)) & ((1 << cfg.ln_mant_bits) - 1)
    L = int(ln_t[(p - cfg.out_frac_bits) * (1 << cfg.ln_mant_bits) + mt])
    return [lookup(zmax - q[i] + L) if live[i] else 0 for i in range(cfg.n)], arg


@pytest.mark.parametrize("name", ALL)
def test_vectorised_model_equals_scalar_restatement(name):
    cfg = load_config(name)
    rng = np.random.default_rng(1234)
    m = 300 if cfg.n < 1000 else 20
    q = rng.integers(cfg.code_min, cfg.code_max + 1, (m, cfg.n))
    q[: m // 3] = rng.integers(-40, 40, (m // 3, cfg.n))            # close values, many ties
    q[m // 3: m // 2] = rng.integers(0, 3, (m // 2 - m // 3, cfg.n))  # heavy ties
    live = rng.random((m, cfg.n)) < 0.8
    live[0] = False
    live[1] = True
    r = run_model(cfg, q, live)
    for row in range(m):
        y, arg = scalar_unit(cfg, [int(v) for v in q[row]], live[row])
        assert list(r.y[row]) == y, f"row {row}"
        assert r.argmax[row] == arg, f"row {row}"


# ---------------------------------------------------------------- hand-worked examples
def test_decision_hand_worked():
    cfg = load_config("paper_n10_decision")       # Q(6,5), OF = 10, one table entry per LSB
    z = [1.0, 0.5, 1.0, -1.0, 0.0, 15.96875, -16.0, 2.0, 1.5, 0.0]
    r = run_model(cfg, codes_of(cfg, z))
    # max is 15.96875 (lane 5); differences in LSBs of 1/32: lane 7 -> 13.96875*32 = 447 > 255
    # -> beyond the 8.0 range -> 0. Every other lane is further away -> 0.
    assert r.argmax[0] == 5
    assert list(r.y[0]) == [0, 0, 0, 0, 0, 1024, 0, 0, 0, 0]

    z = [1.0, 0.5, 1.0, -1.0, 0.0, -7.96875, -8.0, 0.96875, 1.5, 0.0]
    r = run_model(cfg, codes_of(cfg, z))
    # max 1.5 (lane 8) -> 1024. Lane 0: d = 0.5 -> exp(-0.5)*1024 = 621.07 -> 621.
    # lane 1: d = 1.0 -> 376.71 -> 377; lane 3: d = 2.5 -> 84.06 -> 84; lane 4: d = 1.5 -> 228.49 -> 228
    # lane 5: d = 9.46875 (303 LSB >= 256) -> 0; lane 7: d = 0.53125 -> exp(-0.53125)*1024 = 601.95 -> 602
    assert r.argmax[0] == 8
    assert list(r.y[0]) == [621, 377, 621, 84, 228, 0, 0, 602, 1024, 228]


def test_decision_one_lsb_below_max_stays_below_one():
    # OF = 10, FW = 10: exp(-2^-10) * 2^10 = 1023.0005 -> 1023; with OF = 12 it would round to
    # 4096 = 1.0 without the clamp to ONE - 1.
    cfg = config_from_dict(dict(n=4, k=1, in_int_bits=3, in_frac_bits=10, out_frac_bits=12,
                                exp_range=4.0, exp_depth=4096, mse_vs_ideal_vector_max=1,
                                mse_vs_ideal_mean_max=1), name="clamp")
    r = run_model(cfg, np.array([[5, 6, 6, -3]]))
    # lane 1 and 2 tie for the max: both 1.0, argmax = 1 (lowest index); lane 0 is 1 LSB below:
    # exp(-1/1024) * 4096 = 4092.0 -> 4092 (not clamped); lane 3: d = 9 -> 4060.1 -> 4060
    assert r.argmax[0] == 1
    assert list(r.y[0]) == [4092, 4096, 4096, 4060]
    cfg2 = config_from_dict(dict(n=2, k=1, in_int_bits=2, in_frac_bits=12, out_frac_bits=8,
                                 exp_range=2.0, exp_depth=8192, mse_vs_ideal_vector_max=1,
                                 mse_vs_ideal_mean_max=1), name="clamp2")
    # exp(-2^-12) * 256 = 255.94 -> rounds to 256 = 1.0 -> clamped to 255
    assert list(run_model(cfg2, np.array([[0, 1]])).y[0]) == [255, 256]


def test_topk_hand_worked():
    cfg = load_config("paper_n10_top4")           # K = 4, M = 7
    z = [2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0]
    r = run_model(cfg, codes_of(cfg, z))
    # e: d = 0 -> 1024; d = 1 -> 376.71 -> 377; d = 2 -> 138.58 -> 139; d = 3 -> 50.98 -> 51
    # S = 1024 + 377 + 139 + 51 = 1591; leading one p = 10 -> ex = 0;
    # mt = (1591 >> 3) & 127 = 198 & 127 = 70; L = round(ln(1 + 70.5/128) * 32) = round(14.041) = 14
    assert r.s[0] == 1591 and r.l[0] == 14
    # y0 = exp_lookup(14) = round(exp(-14/32) * 1024) = round(661.15) = 661
    # y1 = exp_lookup(32 + 14 = 46) = round(exp(-46/32) * 1024) = round(243.21) = 243
    # y9: d = 9*32 + 14 = 302 >= 256 -> 0
    assert r.y[0, 0] == 661 and r.y[0, 1] == 243 and r.y[0, 9] == 0
    # eq. 30 in exact arithmetic gives 1/(1 + e^-1 + e^-2 + e^-3) = 0.6439 for lane 0
    assert abs(r.y[0, 0] / 1024 - 1 / (1 + math.exp(-1) + math.exp(-2) + math.exp(-3))) < 0.02


def test_full_hand_worked_two_equal_lanes():
    cfg = load_config("paper_n10_full")
    mask = np.zeros((1, 10), bool)
    mask[0, [3, 7]] = True
    r = run_model(cfg, codes_of(cfg, [0, 0, 0, 1.5, 0, 0, 0, 1.5, 0, 0]), mask)
    # two live lanes, equal: S = 2048 -> p = 11, ex = 1, mt = 0; L = round(ln(2 * (1 + 0.5/128)) * 32)
    # = round(22.305) = 22; y = exp_lookup(22) = round(exp(-22/32) * 1024) = round(515.0...) -> 515
    assert r.l[0] == round(math.log(2 * (1 + 0.5 / 128)) * 32) == 22
    assert list(r.y[0]) == [0, 0, 0, 515, 0, 0, 0, 515, 0, 0]
    assert r.argmax[0] == 3


def test_conventional_divide_hand_worked():
    cfg = load_config("paper_n10_conventional")
    z = [2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0]
    r = run_model(cfg, codes_of(cfg, z))
    # e: 1024, 377, 139, 51, round(exp(-4)*1024 = 18.76) = 19, round(6.90) = 7, round(2.54) = 3,
    # round(0.93) = 1, round(0.34) = 0, 0 -> S = 1024+377+139+51+19+7+3+1 = 1621
    assert r.s[0] == 1621
    # y0 = floor((1024*1024 + 810) / 1621) = floor(1049386 / 1621) = 647; y1 = floor((377*1024 + 810)/1621) = 238
    assert r.y[0, 0] == 647 and r.y[0, 1] == 238 and r.y[0, 9] == 0
    # exact softmax of lane 0: 1/sum(exp(-j)) = 0.6321 -> 647.3/1024 (the LSB-level agreement of a divider)
    assert abs(r.y[0, 0] / 1024 - 1 / sum(math.exp(-j) for j in range(10))) < 1 / 1024


def test_single_live_lane_is_one_in_every_variant():
    for name in ALL:
        cfg = load_config(name)
        mask = np.zeros((cfg.n, cfg.n), bool)
        mask[np.arange(cfg.n), np.arange(cfg.n)] = True
        q = np.random.default_rng(0).integers(cfg.code_min, cfg.code_max + 1, (cfg.n, cfg.n))
        r = run_model(cfg, q, mask)
        assert (r.argmax == np.arange(cfg.n)).all()
        # K > 1: S = ONE -> L = round(ln(1 + 0.5/2^M) * 2^FW), 0 for every shipped config
        assert (r.y[mask] == cfg.one).all() and (r.y[~mask] == 0).all(), name


# ---------------------------------------------------------------- properties
def random_batches(cfg, seeds, m=2000):
    for seed in seeds:
        rng = np.random.default_rng(seed)
        kind = seed % 3
        if kind == 0:
            x = rng.normal(0, 2.0 ** (cfg.in_int_bits - 3), (m, cfg.n))
        elif kind == 1:
            x = rng.uniform(-1, 1, (m, cfg.n))
        else:
            x = rng.normal(0, 2, (m, cfg.n))
            x[np.arange(m), rng.integers(0, cfg.n, m)] += rng.uniform(2, 12, m)
        mask = rng.random((m, cfg.n)) < rng.uniform(0.3, 1.0)
        yield seed, x, mask


@pytest.mark.parametrize("name", [n for n in ALL if load_config(n).k == 1])
def test_theorem1_decision_argmax_equals_softmax_argmax(name):
    cfg = load_config(name)
    for seed, x, mask in random_batches(cfg, range(30), m=2000 if cfg.n < 1000 else 100):
        q, _ = quantize(cfg, x, mask)
        r = run_model(cfg, q, mask)
        rows = mask.any(axis=1)
        sm = softmax(q * 2.0 ** -cfg.in_frac_bits, mask)
        assert (r.argmax[rows] == first_argmax(sm, mask)[rows]).all(), f"seed {seed}"
        assert (r.y[rows, r.argmax[rows]] == cfg.one).all(), f"seed {seed}: max lane not exactly 1.0"
        # argmax read off the values: lowest index among the largest outputs
        assert (first_argmax(r.y, mask)[rows] == r.argmax[rows]).all(), f"seed {seed}"
        assert (r.y[~mask] == 0).all()


@pytest.mark.parametrize("name", ALL)
def test_mse_vs_ideal_within_config_bounds(name):
    cfg = load_config(name)
    worst, means = 0.0, []
    for _, x, mask in random_batches(cfg, range(12), m=2000 if cfg.n < 1000 else 100):
        q, _ = quantize(cfg, x, mask)
        r = run_model(cfg, q, mask)
        met = vector_metrics(to_float(cfg, r.y), ideal(cfg, q * 2.0 ** -cfg.in_frac_bits, mask), mask)
        worst = max(worst, met.mse.max())
        means.append(met.mse.mean())
    assert worst <= cfg.mse_vs_ideal_vector_max
    assert max(means) <= cfg.mse_vs_ideal_mean_max


# Stated bounds of the log-domain normalisation (docs/numerics.md): L is rounded to an input LSB
# (error <= 2^-(FW+1)) and the ln table's mantissa bins add <= 2^-(M+1); a table bin of 2^s
# input LSBs puts a difference up to (2^s - 1)/2 LSBs from its midpoint, in the sum's terms and
# in the output's look-up; exp of that error scales every output, and each output adds half an
# output LSB.
def normalisation_bound(cfg):
    bins = (2 ** cfg.exp_step_log2 - 1) * 2.0 ** -cfg.in_frac_bits
    return math.expm1(2.0 ** -(cfg.in_frac_bits + 1) + 2.0 ** -(cfg.ln_mant_bits + 1) + 2.0 ** -(cfg.in_frac_bits + 1)
                      + bins)


@pytest.mark.parametrize("name", [n for n in ALL if load_config(n).variant == "full"])
def test_full_softmax_within_stated_bound(name):
    cfg = load_config(name)
    for seed, x, mask in random_batches(cfg, range(20)):
        q, _ = quantize(cfg, x, mask)
        r = run_model(cfg, q, mask)
        sm = softmax(q * 2.0 ** -cfg.in_frac_bits, mask)
        err = np.abs(to_float(cfg, r.y) - sm)
        # relative to each output, plus half an LSB of rounding, plus the exp table's range cut
        bound = sm * normalisation_bound(cfg) + 2.0 ** -(cfg.out_frac_bits + 1) + math.exp(-cfg.exp_range)
        assert (err <= bound).all(), f"seed {seed}: worst excess {np.max(err - bound):.3g}"


@pytest.mark.parametrize("name", [n for n in ALL if load_config(n).k > 1])
def test_topk_outputs_sum_to_one_within_bound(name):
    cfg = load_config(name)
    for seed, x, mask in random_batches(cfg, range(20)):
        q, _ = quantize(cfg, x, mask)
        r = run_model(cfg, q, mask)
        rows = mask.any(axis=1)
        y = to_float(cfg, r.y)
        top = -np.sort(-y, axis=1)[:, :cfg.k].sum(axis=1)      # the K largest outputs (eq. 30)
        # per-term bound as above, plus the exp table's own rounding inside S (half an LSB per term)
        b = normalisation_bound(cfg) + cfg.k * 2.0 ** -(cfg.out_frac_bits + 1) * 2 + cfg.k * math.exp(-cfg.exp_range)
        assert (np.abs(top[rows] - 1) <= b).all(), f"seed {seed}: worst {np.abs(top[rows] - 1).max():.4f} > {b:.4f}"


@pytest.mark.parametrize("name", ALL)
def test_masked_lanes_take_no_part(name):
    cfg = load_config(name)
    rng = np.random.default_rng(7)
    m = 500 if cfg.n < 1000 else 20
    q = rng.integers(cfg.code_min, cfg.code_max + 1, (m, cfg.n))
    mask = rng.random((m, cfg.n)) < 0.5
    mask[0] = False
    a = run_model(cfg, q, mask)
    q2 = np.where(mask, q, rng.integers(cfg.code_min, cfg.code_max + 1, q.shape))
    q2[:, :][~mask] = cfg.code_max                    # masked lanes hold the largest code
    b = run_model(cfg, q2, mask)
    assert (a.y == b.y).all() and (a.argmax == b.argmax).all()
    assert (a.y[~mask] == 0).all()
    assert (a.y[0] == 0).all() and a.argmax[0] == 0      # no live lane: zeros, argmax 0


def test_value_argmax_exact_matches_observation():
    for name in ALL:
        cfg = load_config(name)
        if cfg.k == 1 or not cfg.value_argmax_exact:
            continue
        # the worst case for reading the argmax off values: a lane one LSB below the max,
        # at every possible normalisation offset (the number of equal lanes sets S)
        for live_ties in range(1, min(cfg.n, 64)):
            q = np.full((1, cfg.n), cfg.code_min)
            q[0, :live_ties] = 0
            q[0, live_ties] = -1
            r = run_model(cfg, q[:, ::-1].copy())          # max lanes at the highest indices
            assert first_argmax(r.y)[0] == r.argmax[0], (name, live_ties)


def test_value_argmax_exact_false_is_real():
    # 4-bit outputs after normalising by 16 terms cannot keep neighbours apart
    cfg = config_from_dict(dict(n=16, k=16, in_int_bits=5, in_frac_bits=5, out_frac_bits=4,
                                exp_range=8.0, exp_depth=256, ln_mant_bits=4,
                                mse_vs_ideal_vector_max=1, mse_vs_ideal_mean_max=1), name="coarse")
    assert not cfg.value_argmax_exact
    q = np.zeros((1, 16), np.int64)
    q[0, :15] = -1                                        # lane 15 is the max, 1 LSB above the rest
    r = run_model(cfg, q)
    assert r.argmax[0] == 15 and first_argmax(r.y)[0] != 15


def test_argmax_agreement_counts_quantisation_ties():
    cfg = load_config("paper_n10_decision")
    x = np.zeros((2, 10))
    x[0, 3], x[0, 5] = 1.0, 1.001       # both round to 32: the float winner (5) loses the tie to 3
    x[1, 2] = 2.0
    q, _ = quantize(cfg, x)
    r = run_model(cfg, q)
    a = argmax_agreement(r.argmax, q, x)
    assert (a.vectors, a.vs_quantized, a.vs_float) == (2, 2, 1)
    assert a.float_tie_disagreements == 1 and a.float_other_disagreements == 0


# ---------------------------------------------------------------- quantisation and saturation
def test_quantisation_rounds_to_nearest_even_and_counts_saturation():
    cfg = load_config("paper_n10_decision")       # Q(6,5): codes -1024..1023, LSB 1/32
    x = np.array([[0.5 / 32, 1.5 / 32, -2.5 / 32, 100.0, -100.0, 31.96875, -32.0, 32.0, 0.2, -0.2]])
    mask = np.ones_like(x, bool)
    q, rep = quantize(cfg, x, mask)
    assert list(q[0]) == [0, 2, -2, 1023, -1024, 1023, -1024, 1023, 6, -6]
    assert (rep.saturated_high, rep.saturated_low, rep.rows_saturated) == (2, 1, 1)
    mask[0, 3] = False                              # a masked lane's saturation is not counted
    _, rep = quantize(cfg, x, mask)
    assert rep.saturated_high == 1


# ---------------------------------------------------------------- tables and files
@pytest.mark.parametrize("name", ALL)
def test_tables_monotone_below_one_and_files_round_trip(name, tmp_path):
    cfg = load_config(name)
    t = build_tables(cfg)
    assert len(t.exp) == cfg.exp_depth and (np.diff(t.exp) <= 0).all() and t.exp.max() < cfg.one
    paths = write_tables(cfg, tmp_path)
    back = [int(v, 16) for v in paths["exp"].read_text().split()]
    assert back == list(t.exp)
    if cfg.uses_ln:
        assert len(t.ln) == cfg.ln_depth and (np.diff(t.ln) >= 0).all()
        assert [int(v, 16) for v in paths["ln"].read_text().split()] == list(t.ln)
        assert int(t.ln.max()).bit_length() <= cfg.ln_width
    else:
        assert paths["ln"] is None


# ---------------------------------------------------------------- configuration errors
BASE = dict(n=10, k=1, in_int_bits=5, in_frac_bits=5, out_frac_bits=10, exp_range=8.0,
            exp_depth=256, mse_vs_ideal_vector_max=1e-6, mse_vs_ideal_mean_max=1e-6)


@pytest.mark.parametrize("change, field", [
    (dict(n=1), "n"), (dict(n=1025), "n"), (dict(n=10.5), "n"),
    (dict(k=0), "k"), (dict(k=11), "k"),
    (dict(in_int_bits=0), "in_int_bits"), (dict(in_frac_bits=-1), "in_frac_bits"),
    (dict(in_int_bits=20, in_frac_bits=20), "in_frac_bits"),
    (dict(out_frac_bits=0), "out_frac_bits"), (dict(out_frac_bits=30), "out_frac_bits"),
    (dict(exp_depth=100), "exp_depth"), (dict(exp_depth=0), "exp_depth"),
    (dict(exp_range=0.0), "exp_range"), (dict(exp_range=3.0), "exp_range"),
    (dict(exp_range=64.0, exp_depth=2048), "exp_range"),          # beyond 2^IW = 32
    (dict(exp_range=4.0, exp_depth=256), "exp_range"),            # 0.5 LSB per entry
    (dict(k=2, ln_mant_bits=0), "ln_mant_bits"), (dict(k=2, ln_mant_bits=11), "ln_mant_bits"),
    (dict(mse_vs_ideal_vector_max=0.0), "mse_vs_ideal_vector_max"),
    (dict(mse_vs_ideal_mean_max=float("nan")), "mse_vs_ideal_mean_max"),
    (dict(description=3), "description"),
    (dict(k=10, normalise="newton"), "normalise"),
    (dict(k=4, normalise="divide"), "normalise"),               # division is the K = N baseline
])
def test_invalid_configuration_names_the_field(change, field):
    with pytest.raises(ConfigError, match=f"field '{field}'"):
        config_from_dict({**BASE, **change}, name="bad")


def test_unknown_and_missing_keys_and_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown field.*'lut_bits'"):
        config_from_dict({**BASE, "lut_bits": 3}, name="bad")
    with pytest.raises(ConfigError, match="missing required field.*'exp_depth'"):
        config_from_dict({k: v for k, v in BASE.items() if k != "exp_depth"}, name="bad")
    with pytest.raises(ConfigError, match="no configuration named 'nope'"):
        load_config("nope")
    bad = tmp_path / "broken.toml"
    bad.write_text("n = [")
    with pytest.raises(ConfigError, match="broken.toml: not valid TOML"):
        load_config(bad)
    wrong = tmp_path / "x.toml"
    wrong.write_text("\n".join(f"{k} = {v!r}" for k, v in BASE.items()) + "\nn = 5000\n".replace("n = 5000", ""))
    wrong.write_text(wrong.read_text().replace("n = 10", "n = 5000"))
    with pytest.raises(ConfigError, match=r"x.toml: field 'n'"):
        load_config(wrong)


def test_shipped_configs_cover_the_required_points():
    cfgs = [load_config(n) for n in ALL]
    assert {c.variant for c in cfgs if c.n == 10} == {"decision", "topk", "full", "conventional"}
    assert any(c.n == 64 for c in cfgs) and any(c.n == 1000 for c in cfgs)


def test_model_rejects_bad_codes():
    cfg = load_config("paper_n10_decision")
    with pytest.raises(ValueError, match="shape"):
        run_model(cfg, np.zeros((2, 9), np.int64))
    with pytest.raises(ValueError, match="integers"):
        run_model(cfg, np.zeros((2, 10)))
    with pytest.raises(ValueError, match="outside"):
        run_model(cfg, np.full((1, 10), 1024))


# ---------------------------------------------------------------- guard bits (sum table)
def _guarded(n, guard=True):
    """The paper's K = N unit at N lanes; guarded: G = ceil(log2 N) guard bits and a sum table
    reaching ln N + (OF+1) ln 2, so that N rounding errors and N cut-off tails each stay below
    half an output LSB (docs/numerics.md section 5)."""
    base = load_config("paper_n10_full").to_dict()
    of = base["out_frac_bits"]
    fields = {**base, "name": f"full_n{n}", "n": n, "k": n}
    if guard:
        need = math.log(n) + (of + 1) * math.log(2)
        fields["sum_guard_bits"] = math.ceil(math.log2(n))
        fields["sum_exp_range"] = float(2 ** math.ceil(math.log2(need)))
    return config_from_dict(fields)


def _classifier_rows(cfg, m=400, seed=0):
    """ImageNet-like rows: one class far above the others, whose terms are each below half an
    output LSB but together carry a few percent of the mass."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1.5, (m, cfg.n))
    x[np.arange(m), rng.integers(0, cfg.n, m)] += rng.uniform(6, 12, m)
    q, _ = quantize(cfg, x)
    return q


def _full_error(cfg, q):
    y = to_float(cfg, run_model(cfg, q).y)
    sm = softmax(q * 2.0 ** -cfg.in_frac_bits)
    return y, sm


def guarded_bound(cfg, sm):
    """Per output: the log-domain normalisation's relative error, the sum's own error (at most
    2^-OF relative, S >= 1), half an output LSB, the exp table's range cut."""
    return sm * (normalisation_bound(cfg) + 2.0 ** -cfg.out_frac_bits) + 2.0 ** -(cfg.out_frac_bits + 1) \
        + math.exp(-cfg.exp_range)


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_guarded_full_softmax_error_does_not_grow_with_n(n):
    cfg = _guarded(n)
    assert cfg.has_sum_table and (1 << cfg.sum_frac_bits) >= n << cfg.out_frac_bits
    y, sm = _full_error(cfg, _classifier_rows(cfg))
    assert (np.abs(y - sm) <= guarded_bound(cfg, sm)).all()


def test_unguarded_full_softmax_loses_mass_at_large_n():
    # the issue this fixes: without the sum table, N = 1000 such rows break the same bound
    cfg = _guarded(1000, guard=False)
    y, sm = _full_error(cfg, _classifier_rows(cfg))
    assert (np.abs(y - sm) > guarded_bound(cfg, sm)).any()
    assert np.abs(y - sm).max() > 3 * np.abs(_full_error(_guarded(1000), _classifier_rows(cfg))[0] - sm).max()


def test_sum_table_fields_are_checked():
    base = load_config("paper_n10_full").to_dict()
    with pytest.raises(ConfigError, match="sum_exp_range"):
        config_from_dict({**base, "sum_exp_range": 4.0})           # narrower than the exp table
    with pytest.raises(ConfigError, match="power of two"):
        config_from_dict({**base, "sum_exp_range": 12.0})
    dec = load_config("paper_n10_decision").to_dict()
    with pytest.raises(ConfigError, match="log-domain units"):
        config_from_dict({**dec, "sum_guard_bits": 3})


def test_topk_pipeline_is_for_top_k_units_only():
    top = load_config("paper_n10_top4").to_dict()
    assert config_from_dict({**top, "topk_pipeline": 1}).rtl_parameters("/t")["TOPK_PIPE"] == 1
    for name in ("paper_n10_full", "paper_n10_decision", "paper_n10_conventional"):
        with pytest.raises(ConfigError, match="topk_pipeline.*top-K units only"):
            config_from_dict({**load_config(name).to_dict(), "topk_pipeline": 1})
    with pytest.raises(ConfigError, match="must be 0 or 1"):
        config_from_dict({**top, "topk_pipeline": 2})


def test_divide_pipeline_is_for_the_conventional_unit_only():
    conv = load_config("paper_n10_conventional").to_dict()
    assert config_from_dict({**conv, "divide_pipeline": 3}).rtl_parameters("/t")["DIV_PIPE"] == 3
    with pytest.raises(ConfigError, match="divide_pipeline.*conventional unit only"):
        config_from_dict({**load_config("paper_n10_full").to_dict(), "divide_pipeline": 1})
    with pytest.raises(ConfigError, match="must be in 0..out_frac_bits"):
        config_from_dict({**conv, "divide_pipeline": conv["out_frac_bits"] + 1})
