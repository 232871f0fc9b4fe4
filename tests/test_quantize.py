"""The fast quantiser (models.quantize.quantize, numpy) equals its fxpmath reference
(quantize_fxp) code for code and report for report, and both follow docs/numerics.md section 2:
round to nearest with ties to even, saturate, count what saturated."""
from types import SimpleNamespace

import numpy as np
import pytest
from fxpmath import Fxp

from models.config import config_from_dict, list_configs, load_config
from models.dumps import load_dump
from models.quantize import quantize, quantize_fxp
from tb.run import bundled_dumps

# integer inputs (FW = 0) and a 32-bit input beside the repository's configurations
_GEN = {"gen_fw0": dict(n=4, k=1, in_int_bits=6, in_frac_bits=0, out_frac_bits=8, exp_range=8.0, exp_depth=8),
        "gen_w32": dict(n=4, k=1, in_int_bits=8, in_frac_bits=24, out_frac_bits=8, exp_range=8.0,
                        exp_depth=65536)}
ALL = list_configs() + sorted(_GEN)
DUMP_VALUES = 600_000


def get_config(name):
    if name in _GEN:
        return config_from_dict({**_GEN[name], "ln_mant_bits": 1, "mse_vs_ideal_vector_max": 1.0,
                                 "mse_vs_ideal_mean_max": 1.0}, name=name)
    return load_config(name)


def assert_same(cfg, x, mask=None):
    codes, rep = quantize(cfg, x, mask)
    ref_codes, ref_rep = quantize_fxp(cfg, x, mask)
    assert codes.dtype == np.int64 and codes.shape == np.shape(x)
    bad = codes != ref_codes
    assert not bad.any(), (f"{cfg.name}: {int(bad.sum())} code(s) differ; first x = {np.asarray(x)[bad][0]!r}: "
                           f"numpy {codes[bad][0]}, fxpmath {ref_codes[bad][0]}")
    assert rep == ref_rep
    return codes, rep


def lsb(cfg):
    return 2.0 ** -cfg.in_frac_bits


@pytest.mark.parametrize("name", ALL)
def test_random_floats(name):
    cfg = get_config(name)
    rng = np.random.default_rng(5)
    top = (cfg.code_max + 1) * lsb(cfg)
    x = np.concatenate([rng.normal(0, s, (500, 8)) for s in (lsb(cfg), 1.0, top / 3, top * 3)])
    mask = rng.random(x.shape) < 0.9
    assert_same(cfg, x, mask)


@pytest.mark.parametrize("name", ALL)
def test_exact_ties_round_to_even(name):
    cfg = get_config(name)
    k = np.unique(np.linspace(cfg.code_min - 2, cfg.code_max + 2, 4096).round())   # both ends, evenly
    x = ((k + 0.5) * lsb(cfg))[None, :]                     # exactly half an LSB above k
    codes, _ = assert_same(cfg, x)
    inside = (x[0] > cfg.code_min * lsb(cfg)) & (x[0] < cfg.code_max * lsb(cfg))
    assert (codes[0][inside] % 2 == 0).all()                # ties went to the even neighbour
    assert (np.abs(x[0] / lsb(cfg) - codes[0])[inside] == 0.5).all()


@pytest.mark.parametrize("name", ALL)
def test_saturation_edges_and_huge_values(name):
    cfg = get_config(name)
    hi, lo, q = cfg.code_max, cfg.code_min, lsb(cfg)
    # hi is odd and lo even: (hi + 0.5) rounds to hi + 1 and saturates, (lo - 0.5) rounds to lo
    edges = np.array([hi * q, (hi + 0.25) * q, (hi + 0.5) * q, (hi + 1) * q,
                      lo * q, (lo - 0.25) * q, (lo - 0.5) * q, (lo - 0.75) * q])
    codes, rep = assert_same(cfg, edges[None, :])
    assert codes[0].tolist() == [hi, hi, hi, hi, lo, lo, lo, lo]
    assert (rep.saturated_high, rep.saturated_low, rep.rows_saturated) == (2, 1, 1)
    # huge values next to ordinary ones in one array (fxpmath alone would stop rounding them)
    huge = np.array([[1e300, 0.7 * q, -np.finfo(np.float64).max, -0.7 * q, 2.0 ** 64, -2.0 ** 80, 1.5 * q, 0.0]])
    codes, rep = assert_same(cfg, huge)
    assert codes[0].tolist() == [hi, 1, lo, -1, hi, lo, 2, 0]
    assert (rep.saturated_high, rep.saturated_low) == (2, 2)


def test_negative_zero_and_one_dimensional_input():
    cfg = load_config("paper_n10_decision")
    codes, rep = assert_same(cfg, np.array([-0.0, 0.0, -1e-300, 1e-300]))
    assert codes.tolist() == [0, 0, 0, 0] and rep.saturated == 0


def test_masked_lanes_are_quantised_but_not_counted():
    cfg = load_config("paper_n10_decision")
    x = np.array([[1e9, -1e9, 0.5], [2.0, 3.0, 1e9]])
    mask = np.array([[False, False, True], [True, True, True]])
    codes, rep = assert_same(cfg, x, mask)
    assert codes[0, 0] == cfg.code_max and codes[0, 1] == cfg.code_min
    assert (rep.values, rep.saturated_high, rep.saturated_low, rep.rows_saturated) == (4, 1, 0, 1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(bad):
    cfg = load_config("paper_n10_decision")
    for fn in (quantize, quantize_fxp):
        with pytest.raises(ValueError, match="NaN or Inf"):
            fn(cfg, np.array([[0.0, bad]]))


def input_formats():
    """One configuration per distinct input format Q(IW, FW) in configs/ (the quantiser reads
    nothing else)."""
    first = {}
    for name in list_configs():
        cfg = load_config(name)
        first.setdefault((cfg.in_int_bits, cfg.in_frac_bits), name)
    return sorted(first.values())


@pytest.mark.parametrize("path", bundled_dumps(), ids=lambda p: p.stem)
@pytest.mark.parametrize("name", input_formats())
def test_bundled_dumps(path, name):
    """Every bundled dump on its own lanes (padding adds masked zeros only); a dump of more than
    DUMP_VALUES values is subsampled to evenly spaced rows (fxpmath costs ~3 us per value)."""
    cfg = load_config(name)
    dump = load_dump(path)
    pick = np.unique(np.linspace(0, dump.m - 1, max(1, min(dump.m, DUMP_VALUES // dump.n))).round().astype(int))
    assert_same(cfg, dump.logits[pick], dump.mask[pick])


def test_fxpmath_still_truncates_next_to_a_huge_value():
    """Why quantize_fxp limits its input first: fxpmath 0.4.10 truncates instead of rounding an
    array that holds a value >= 2^64 (0.7 * 64 = 44.8 gives 44, not 45). If this fails, a newer
    fxpmath rounds there and the limit in quantize_fxp can go."""
    with pytest.warns(RuntimeWarning):
        val = Fxp(np.array([1e20, 0.7]), signed=True, n_word=12, n_frac=6, rounding="around",
                  overflow="saturate").val
    assert int(val[1]) == 44


def test_reads_only_the_input_format():
    """tb/byo quantises with an object holding just width, in_frac_bits, code_min, code_max."""
    fmt = SimpleNamespace(name="byo s8.3", width=8, in_frac_bits=3, code_min=-128, code_max=127)
    x = np.random.default_rng(2).normal(0, 20, (200, 6))
    codes, rep = assert_same(fmt, x)
    assert codes.min() == -128 and codes.max() == 127 and rep.saturated > 0
