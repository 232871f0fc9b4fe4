"""The fxpmath reference (models/fxp_reference.py) is bit-equal to the numpy model
(models/datapath.py) on every configuration: random blocks, directed corners, every bundled dump,
and every input of the smallest generated units (exhaustive).

The two are independent statements of docs/numerics.md section 3 sharing only the table values;
the intermediates (max, e, top-K sum, L) are compared too, so a failure names the step.
"""
import itertools

import numpy as np
import pytest

from models.config import config_from_dict, list_configs, load_config
from models.datapath import run_model
from models.dumps import load_dump, pad_to
from models.fxp_reference import Fmt, describe, raw, run_reference, trace
from models.quantize import quantize
from models.tables import build_tables, exp_lookup
from tb.run import bundled_dumps

# Small units beside configs/: the edges of the parameter space (field meanings: docs/numerics.md)
_GEN = {
    "gen_n2_decision": dict(n=2, k=1, in_int_bits=3, in_frac_bits=3, out_frac_bits=6, exp_range=8.0,
                            exp_depth=32, ln_mant_bits=3),                     # table step 2 LSBs
    "gen_n2_full": dict(n=2, k=2, in_int_bits=3, in_frac_bits=2, out_frac_bits=6, exp_range=4.0,
                        exp_depth=16, ln_mant_bits=3),
    "gen_n3_top2": dict(n=3, k=2, in_int_bits=3, in_frac_bits=2, out_frac_bits=8, exp_range=8.0,
                        exp_depth=32, ln_mant_bits=2),
    "gen_n4_fw0": dict(n=4, k=4, in_int_bits=6, in_frac_bits=0, out_frac_bits=8, exp_range=8.0,
                       exp_depth=8, ln_mant_bits=4),                           # integer inputs
    "gen_n11_top5": dict(n=11, k=5, in_int_bits=4, in_frac_bits=4, out_frac_bits=9, exp_range=8.0,
                         exp_depth=64, ln_mant_bits=5),                        # table step 2 LSBs
    "gen_n6_m1": dict(n=6, k=6, in_int_bits=4, in_frac_bits=4, out_frac_bits=8, exp_range=16.0,
                      exp_depth=128, ln_mant_bits=1),
    "gen_n5_divide": dict(n=5, k=5, in_int_bits=4, in_frac_bits=3, out_frac_bits=8, exp_range=8.0,
                          exp_depth=64, normalise="divide"),
    "gen_n16_divide_of24": dict(n=16, k=16, in_int_bits=5, in_frac_bits=7, out_frac_bits=24,
                                exp_range=16.0, exp_depth=2048, normalise="divide"),  # widest words
    "gen_n12_top6_guard": dict(n=12, k=6, in_int_bits=5, in_frac_bits=4, out_frac_bits=9, exp_range=8.0,
                               exp_depth=64, ln_mant_bits=5, sum_guard_bits=3, sum_exp_range=16.0),  # sum table
    "gen_n9_full_guard": dict(n=9, k=9, in_int_bits=5, in_frac_bits=3, out_frac_bits=8, exp_range=8.0,
                              exp_depth=64, ln_mant_bits=4, sum_guard_bits=4),  # guard bits, same range
}
ALL = list_configs() + sorted(_GEN)
RANDOM_LOGITS = 200_000         # lanes of random stimulus per configuration
EXHAUSTIVE_MAX = 70_000         # enumerate every input when there are at most this many vectors
DUMP_LOGITS = 1_000_000          # lanes of a dump per configuration; bigger dumps are subsampled


def get_config(name):
    if name in _GEN:
        return config_from_dict({**_GEN[name], "mse_vs_ideal_vector_max": 1.0,
                                 "mse_vs_ideal_mean_max": 1.0}, name=name)
    return load_config(name)


def assert_equal(cfg, codes, mask, what):
    """Outputs, argmax and every intermediate the model exposes, with the first differing row."""
    r = run_model(cfg, codes, mask)
    t = trace(cfg, codes, mask)
    pairs = [("y", raw(t.y), r.y), ("argmax", t.argmax, r.argmax), ("zmax", raw(t.zmax), r.zmax),
             ("e", raw(t.e), r.e)]
    if cfg.k > 1:
        pairs.append(("top-k sum", raw(t.s), r.s))
    if t.l is not None:
        pairs.append(("L", raw(t.l), r.l))
    for name, ref, model in pairs:
        bad = ref != model
        if bad.any():
            row = int(np.flatnonzero(bad.reshape(len(codes), -1).any(axis=1))[0])
            raise AssertionError(f"{cfg.name} {what}: {name} differs in {int(bad.sum())} place(s); "
                                 f"first row {row}: codes {codes[row].tolist()}, mask "
                                 f"{mask[row].astype(int).tolist()}: fxp {ref[row]}, model {model[row]}")


# ---- stimulus ----------------------------------------------------------------------------------

def random_block(rng, cfg, m):
    """Codes over the whole range, or in a narrow window (many ties; clipped at the ends of the
    range); masks all live, random, or empty."""
    codes = rng.integers(cfg.code_min, cfg.code_max + 1, (m, cfg.n))
    narrow = rng.integers(0, 3, m) == 0
    window = rng.integers(1, 4 << cfg.exp_step_log2, (m, 1))
    centre = rng.integers(cfg.code_min, cfg.code_max + 1, (m, 1))
    near = (centre + rng.integers(0, window.max() + 1, (m, cfg.n)) % window).clip(cfg.code_min, cfg.code_max)
    codes = np.where(narrow[:, None], near, codes)
    mask = rng.random((m, cfg.n)) < rng.uniform(0, 1.2, (m, 1))
    return codes, mask


def bin_edge_differences(cfg):
    """Every exp-table bin edge: differences j*2^s - 1, j*2^s, j*2^s + 1 for j = 0..D (D: the
    first difference beyond the table), within 0..2^W - 1."""
    j = np.arange(cfg.exp_depth + 1)[:, None] << cfg.exp_step_log2
    d = np.unique((j + np.array([-1, 0, 1])).ravel())
    return d[(d >= 0) & (d <= cfg.code_max - cfg.code_min)]


def vectors_with_differences(cfg, d):
    """Lane 0 at the top code, the other lanes at the given differences below it (N - 1 per
    vector; the last vector is filled with differences of 0)."""
    per = cfg.n - 1
    d = np.concatenate([d, np.zeros(-len(d) % per, np.int64)]).reshape(-1, per)
    return np.concatenate([np.full((len(d), 1), cfg.code_max), cfg.code_max - d], axis=1)


def kth_ties(rng, cfg, reps=32):
    """The K-th and (K+1)-th largest inputs equal (1 < K < N), lanes in random order."""
    rows = []
    for _ in range(reps):
        desc = cfg.code_max - np.cumsum(rng.integers(1, 3 << cfg.exp_step_log2, cfg.n))
        desc[cfg.k] = desc[cfg.k - 1]
        rows.append(rng.permutation(desc.clip(cfg.code_min, cfg.code_max)))
    return np.array(rows)


def ln_entry_vectors(cfg, max_lanes=100_000):
    """Top-K sums aimed at the middle of every ln-table entry (at most max_lanes / N of them,
    evenly spread): the max lane (e = ONE) and K - 1 lanes, each taking the largest table value
    within an equal share of what is left of the target; the other lanes masked."""
    span = cfg.code_max - cfg.code_min
    d = np.unique(np.r_[0, np.maximum(1, np.arange(cfg.exp_depth + 1) << cfg.exp_step_log2)])
    d = d[d <= span]
    e = exp_lookup(cfg, build_tables(cfg).exp, d)
    order = np.argsort(e, kind="stable")
    m = cfg.ln_mant_bits
    entry = np.arange(cfg.ln_depth)
    target = ((1 << m) + (entry & ((1 << m) - 1)) + 0.5) * 2.0 ** ((entry >> m) + cfg.out_frac_bits - m)
    target = target[target <= cfg.k * cfg.one]
    target = target[np.unique(np.linspace(0, len(target) - 1, max(1, max_lanes // cfg.n)).round().astype(int))]
    rest = target - cfg.one
    lanes = []
    for left in range(cfg.k - 1, 0, -1):
        pick = order[np.maximum(np.searchsorted(e[order], rest / left, side="right") - 1, 0)]
        lanes.append(d[pick])
        rest = rest - e[pick]
    codes = np.full((len(target), cfg.n), cfg.code_min)
    codes[:, 0] = cfg.code_max
    codes[:, 1:cfg.k] = cfg.code_max - np.array(lanes).T.reshape(len(target), cfg.k - 1)
    mask = np.arange(cfg.n) < cfg.k
    return codes, np.broadcast_to(mask, codes.shape)


def divide_ties(cfg, rows=64):
    """Divider rounding ties: S = 2 * ONE exactly (the max lane and three lanes whose e sum to
    ONE), so a lane with an odd e is exactly e / 2 = an odd number of half output LSBs. Searched
    over the first 600 exp-table entries; other lanes are masked."""
    d = np.arange(1, min(cfg.exp_depth, 600)) << cfg.exp_step_log2
    d = d[d <= cfg.code_max - cfg.code_min]
    e = exp_lookup(cfg, build_tables(cfg).exp, d)
    rest = cfg.one - e[:, None] - e[None, :]                     # the third lane's e
    i, j = np.nonzero(np.triu(np.isin(rest, e)))
    k = np.array([np.flatnonzero(e == r)[0] for r in rest[i, j]], np.int64)
    odd = (e[i] % 2 == 1) | (e[j] % 2 == 1) | (e[k] % 2 == 1)
    i, j, k = i[odd][:rows], j[odd][:rows], k[odd][:rows]
    codes = np.full((len(i), cfg.n), cfg.code_min)
    codes[:, :4] = np.stack([np.full(len(i), cfg.code_max), *(cfg.code_max - d[x] for x in (i, j, k))], 1)
    mask = np.zeros(codes.shape, bool)
    mask[:, :4] = True
    return codes, mask


def corners(rng, cfg):
    """(name, codes, mask) of every directed corner."""
    n, lo, hi = cfg.n, cfg.code_min, cfg.code_max
    live = lambda c: np.ones(np.shape(c), bool)                              # noqa: E731
    some = np.unique(np.linspace(0, n - 1, 64).round().astype(np.int64))     # every lane up to 64
    room = min(64, (hi - lo) // 4)                                           # headroom for the max
    levels = np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi])
    equal = np.repeat(levels[:, None], n, axis=1)
    one_lane = rng.integers(lo, hi + 1, (len(some), n))
    max_each = rng.integers(lo, hi - room, (n, n))
    max_each[np.arange(n), np.arange(n)] = np.minimum(max_each.max(axis=1) + rng.integers(1, 9, n), hi)
    saturated = np.where(rng.random((16, n)) < 0.5, lo, hi)
    saturated[0], saturated[1] = hi, lo
    ties = rng.integers(lo, hi - room, (64, n))
    for r, t in enumerate(np.resize(np.unique(np.geomspace(2, n, 16).round().astype(int)), 64)):
        ties[r, rng.choice(n, t, replace=False)] = ties[r].max() + 1
    masked_max = np.full((len(some), n), lo)
    masked_max[np.arange(len(some)), some] = hi
    out = [("all equal", equal, live(equal)), ("one live lane", one_lane, np.eye(n, dtype=bool)[some]),
           ("max in every lane", max_each, live(max_each)), ("saturated codes", saturated, live(saturated)),
           ("ties for the max", ties, live(ties)), ("all masked", one_lane, ~live(one_lane)),
           ("masked max", masked_max, ~np.eye(n, dtype=bool)[some])]
    edges = vectors_with_differences(cfg, bin_edge_differences(cfg))
    out.append(("exp-table bin edges", edges, live(edges)))
    if 1 < cfg.k < n:
        c = kth_ties(rng, cfg)
        out.append(("K-th/K+1-th tie", c, live(c)))
    if cfg.uses_ln:
        out.append(("every ln-table entry", *ln_entry_vectors(cfg)))
    if cfg.normalise == "divide":
        out.append(("divider rounding ties", *divide_ties(cfg)))
    return out


def enumerable(name):
    cfg = get_config(name)
    return (cfg.code_max - cfg.code_min + 1) ** cfg.n <= EXHAUSTIVE_MAX


def exhaustive(cfg):
    """Every input vector of a small unit, all lanes live."""
    codes = np.array(list(itertools.product(range(cfg.code_min, cfg.code_max + 1), repeat=cfg.n)))
    return codes, np.ones(codes.shape, bool)


# ---- tests -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_random_blocks(name):
    cfg = get_config(name)
    rng = np.random.default_rng([9, cfg.n, cfg.k])
    codes, mask = random_block(rng, cfg, max(40, RANDOM_LOGITS // cfg.n))
    assert_equal(cfg, codes, mask, "random block")


@pytest.mark.parametrize("name", ALL)
def test_corners(name):
    cfg = get_config(name)
    rng = np.random.default_rng([10, cfg.n, cfg.k])
    for what, codes, mask in corners(rng, cfg):
        assert len(codes), f"{name}: corner '{what}' is empty"
        assert_equal(cfg, codes, mask, what)


@pytest.mark.parametrize("name", [n for n in ALL if enumerable(n)])
def test_every_input_of_small_units(name):
    cfg = get_config(name)
    codes, mask = exhaustive(cfg)
    assert_equal(cfg, codes, mask, "exhaustive, all live")
    if cfg.n == 2:      # and each lane alone
        for keep in ([True, False], [False, True]):
            assert_equal(cfg, codes, np.broadcast_to(keep, codes.shape), f"exhaustive, live {keep}")


def test_small_units_are_enumerated():
    """The exhaustive test above is not empty (the generated units stay small enough)."""
    assert {n for n in ALL if enumerable(n)} >= {"gen_n2_decision", "gen_n2_full", "gen_n3_top2"}


@pytest.mark.parametrize("name", [n for n in ALL if get_config(n).normalise == "divide"])
def test_divider_tie_corner_holds_ties(name):
    """The divider corner really reaches exact rounding ties: e * ONE / S = an odd number of
    half LSBs for at least one lane of every vector (e, S from the table values)."""
    cfg = get_config(name)
    codes, mask = divide_ties(cfg)
    assert len(codes) > 0, f"{name}: no divider rounding tie found"
    e = np.where(mask, exp_lookup(cfg, build_tables(cfg).exp, codes.max(axis=1, keepdims=True) - codes), 0)
    s = e.sum(axis=1, keepdims=True)
    assert (s == 2 * cfg.one).all()
    assert ((2 * e * cfg.one) % (2 * s) == s).any(axis=1).all()


def dump_cases():
    """Every bundled dump on every configuration it fits (N >= its lanes)."""
    for path in bundled_dumps():
        lanes = load_dump(path).n
        for name in list_configs():
            if load_config(name).n >= lanes:
                yield pytest.param(path, name, id=f"{path.stem}-{name}")


@pytest.mark.parametrize(("path", "name"), list(dump_cases()))
def test_bundled_dumps(path, name):
    cfg = load_config(name)
    dump = pad_to(load_dump(path, n_lanes=cfg.n), cfg.n)
    rows = min(dump.m, DUMP_LOGITS // cfg.n)                  # deterministic subsample, evenly spaced
    pick = np.linspace(0, dump.m - 1, rows).round().astype(np.int64)
    codes, _ = quantize(cfg, dump.logits[pick], dump.mask[pick])
    assert_equal(cfg, codes, dump.mask[pick], f"{path.name} ({rows} of {dump.m} rows)")


# ---- the reference's own guards ------------------------------------------------------------------

def test_a_format_too_narrow_raises():
    with pytest.raises(OverflowError, match="does not fit"):
        Fmt("x", False, 4, 0)(np.array([3.0, 16.0]))
    with pytest.raises(OverflowError, match="does not fit"):
        Fmt("x", True, 4, 1)(np.array([-4.5]))
    with pytest.raises(ArithmeticError, match="not on the grid"):
        Fmt("x", False, 8, 2)(np.array([0.25, 0.125]))
    assert raw(Fmt("x", False, 8, 2, rounding="floor", exact=False)(np.array([0.25, 0.375]))).tolist() == [1, 1]
    assert raw(Fmt("x", False, 8, 1, rounding="nearest_posinf", exact=False)(np.array([0.25, 0.75]))).tolist() == [1, 2]


def test_an_empty_block_gives_empty_outputs():
    cfg = load_config("paper_n10_top4")
    y, argmax = run_reference(cfg, np.zeros((0, 10), np.int64))
    assert y.shape == (0, 10) and argmax.shape == (0,)


def test_bad_input_raises_one_clear_error():
    cfg = load_config("paper_n10_top4")
    with pytest.raises(ValueError, match=r"shape \[M, 10\]"):
        run_reference(cfg, np.zeros((2, 9), np.int64))
    with pytest.raises(ValueError, match="integers"):
        run_reference(cfg, np.zeros((2, 10)))
    with pytest.raises(ValueError, match="outside"):
        run_reference(cfg, np.full((1, 10), cfg.code_max + 1))
    with pytest.raises(ValueError, match="mask shape"):
        run_reference(cfg, np.zeros((2, 10), np.int64), np.ones((2, 9), bool))


def test_describe_names_the_formats_of_each_variant():
    text = {name: describe(get_config(name)) for name in ALL}
    assert "ln_addr" in text["paper_n10_top4"] and "quotient" not in text["paper_n10_top4"]
    assert "quotient" in text["paper_n10_conventional"] and "ln_addr" not in text["paper_n10_conventional"]
    assert "sum" not in text["paper_n10_decision"]
    assert "signed 11 bits, 5 fraction bits" in text["paper_n10_decision"]      # Q(6,5) input
