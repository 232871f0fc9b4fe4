"""The functional coverage model (tb/coverage.py): block-at-a-time hits equal cocotb-coverage's own
sampling, the computed bins (reachable ln entries, the divider's reachable combinations) equal an
exhaustive enumeration on small units, the counts are exact, the testplan names exactly the
points each variant has, and the regression-level merge adds the hits of real runs."""
from __future__ import annotations

import itertools
import re
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import yaml
from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db

from models.config import config_from_dict, load_config
from models.datapath import ln_address, run_model
from tb import testplan
from tb.regression_report import merged_coverage
from tb.coverage import (ROUNDING, BlockCoverCross, BlockCoverPoint, CoverageModel, LaneSums, divider_classes,
                         divider_sum_bins, divider_witness_vectors, main, mask_population_bins, merge,
                         reachable_divider_pairs, reachable_ln_entries, read_export)

_roots = itertools.count()


def _root(tag: str) -> str:
    """A fresh coverage_db root per model: the library's database is process-wide."""
    return f"t{next(_roots)}_{tag}"


# ---- the block path is the library's own counting ----------------------------------------------------

def test_block_point_equals_library_sampling():
    rng = np.random.default_rng(0)
    bins = list(range(12))
    samples = rng.integers(0, 10, size=3000)          # bins 10 and 11 stay holes
    lib_root, blk_root = _root("lib"), _root("blk")

    @CoverPoint(f"{lib_root}.p", xf=lambda v: v, bins=bins)
    def sample(v):
        pass
    for v in samples.tolist():
        sample(v)

    blk = BlockCoverPoint(f"{blk_root}.p", bins, "vectors")
    for chunk in np.array_split(samples, 7):
        u, c = np.unique(chunk, return_counts=True)
        blk.add(dict(zip(u.tolist(), c.tolist())))

    lib = coverage_db[f"{lib_root}.p"]
    assert dict(blk.detailed_coverage) == dict(lib.detailed_coverage)
    assert (blk.size, blk.coverage, blk.cover_percentage) == (lib.size, lib.coverage, lib.cover_percentage)
    assert coverage_db[blk_root].coverage == coverage_db[lib_root].coverage == 10


def test_block_cross_equals_library_sampling():
    rng = np.random.default_rng(1)
    xs, ys = ["a", "b", "c"], [0, 1]
    pairs = [(xs[i], ys[j]) for i, j in zip(rng.integers(0, 3, 500), rng.integers(0, 2, 500))
             if (xs[i], ys[j]) != ("c", 1)]
    lib_root, blk_root = _root("lib"), _root("blk")

    @CoverPoint(f"{lib_root}.x", xf=lambda x, y: x, bins=xs)
    @CoverPoint(f"{lib_root}.y", xf=lambda x, y: y, bins=ys)
    @CoverCross(f"{lib_root}.xy", items=[f"{lib_root}.x", f"{lib_root}.y"], ign_bins=[("a", 0)])
    def sample(x, y):
        pass
    for x, y in pairs:
        if (x, y) != ("a", 0):
            sample(x, y)

    BlockCoverPoint(f"{blk_root}.x", xs, "vectors")
    BlockCoverPoint(f"{blk_root}.y", ys, "vectors")
    blk = BlockCoverCross(f"{blk_root}.xy", [f"{blk_root}.x", f"{blk_root}.y"], "vectors", ign_bins=[("a", 0)])
    counts: dict = {}
    for p in pairs:
        if p != ("a", 0):
            counts[p] = counts.get(p, 0) + 1
    blk.add(counts)

    lib = coverage_db[f"{lib_root}.xy"]
    assert dict(blk.detailed_coverage) == dict(lib.detailed_coverage)
    assert ("c", 1) in blk.detailed_coverage and blk.detailed_coverage[("c", 1)] == 0
    assert (blk.size, blk.coverage) == (lib.size, lib.coverage) == (5, 4)


def test_block_items_refuse_bad_input():
    root = _root("bad")
    p = BlockCoverPoint(f"{root}.p", ["x", "y"], "vectors")
    with pytest.raises(KeyError, match=r"bins \['z'\] are not defined"):
        p.add({"z": 1})
    with pytest.raises(ValueError, match="negative counts"):
        p.add({"x": -1})
    with pytest.raises(ValueError, match="already defined"):
        BlockCoverPoint(f"{root}.p", ["x"], "vectors")
    with pytest.raises(ValueError, match="breaks the XML merge"):
        BlockCoverPoint(f"{root}.bins", ["x"], "vectors")


# ---- computed bins against exhaustive enumeration ----------------------------------------------------

def test_mask_population_bins_partition_0_to_n():
    for name in ("paper_n10_decision", "paper_n10_top4", "paper_n10_full", "attn_n64_top8"):
        cfg = load_config(name)
        bins = mask_population_bins(cfg)
        covered = [c for lo, hi in bins for c in range(lo, hi + 1)]
        assert covered == list(range(cfg.n + 1))


def _tiny(n: int, k: int, normalise: str, exp_range: float, exp_depth: int, in_int_bits: int = 3):
    """A 4-bit-input unit small enough to enumerate: ONE = 16."""
    return config_from_dict(dict(n=n, k=k, in_int_bits=in_int_bits, in_frac_bits=4 - in_int_bits, out_frac_bits=4,
                                 exp_range=exp_range, exp_depth=exp_depth, ln_mant_bits=2, normalise=normalise,
                                 mse_vs_ideal_vector_max=1.0, mse_vs_ideal_mean_max=1.0), name="tiny")


def _every_input(cfg):
    """Every code vector under every mask of a tiny unit, through the model."""
    codes = np.array(list(itertools.product(range(cfg.code_min, cfg.code_max + 1), repeat=cfg.n)))
    masks = np.array(list(itertools.product([False, True], repeat=cfg.n)))[1:]     # a live lane at least
    c = np.repeat(codes, len(masks), axis=0)
    m = np.tile(masks, (len(codes), 1))
    return c, m, run_model(cfg, c, m)


# differences beyond the table (a live lane can hold 0); a table over every difference whose
# last entries are 0; a table over every difference with no 0 entry (no live lane holds 0)
@pytest.mark.parametrize("exp_range,exp_depth,in_int_bits", [(4.0, 8, 3), (8.0, 16, 3), (2.0, 16, 1), (8.0, 8, 3)])
def test_divider_pairs_are_exactly_the_reachable_ones(exp_range, exp_depth, in_int_bits):
    cfg = _tiny(4, 4, "divide", exp_range, exp_depth, in_int_bits)
    codes, mask, res = _every_input(cfg)
    s_bin, rounding = divider_classes(cfg, res.e, res.s[:, None])
    labels = [b[2] for b in divider_sum_bins(cfg)]
    seen = {(labels[i], ROUNDING[r]) for i, r in zip(np.broadcast_to(s_bin, mask.shape)[mask], rounding[mask])}
    assert seen == reachable_divider_pairs(cfg)


@pytest.mark.parametrize("config", ["paper_n10_conventional", "tiny", "tiny_step2"])
def test_divider_witness_vectors_reach_every_pair(config):
    # tiny_step2: two differences per exp-table entry (entry 0 is read by d = 1)
    tiny = {"tiny": (4.0, 8), "tiny_step2": (8.0, 8)}
    cfg = _tiny(4, 4, "divide", *tiny[config]) if config in tiny else load_config(config)
    codes, mask = divider_witness_vectors(cfg)
    m = CoverageModel(cfg, root=_root("wit"))
    m.sample_block(codes, mask, run_model(cfg, codes, mask))
    cross = m.points["div.sum_x_rounding"]
    assert cross.coverage == cross.size == len(reachable_divider_pairs(cfg)) == len(codes)


@pytest.mark.parametrize("config", ["paper_n10_full", "attn_n64_top8"])
def test_lane_sum_fringes_equal_the_exact_bitsets(config):
    # the fast path keeps only the fringes once the middle fills (it must start here, and agree)
    cfg = load_config(config)
    fast, exact = LaneSums(cfg, cfg.n - 1), LaneSums(cfg, cfg.n - 1, fringes=False)
    assert len(fast.exact) < len(exact.exact)
    for j in range(cfg.n):
        assert np.array_equal(fast.sums(j), exact.sums(j)), j
    for j, x in [(cfg.n - 1, 5), (cfg.n - 1, cfg.one * (cfg.n - 1) - 7), (cfg.n - 2, cfg.one + 3)]:
        assert fast.has(j, x) == exact.has(j, x)
        if fast.has(j, x):
            assert sum(fast.split(j, x)) == x and len(fast.split(j, x)) == j


@pytest.mark.parametrize("k", [2, 4])
def test_ln_entries_are_exactly_the_reachable_ones(k):
    cfg = _tiny(4, k, "log", 4.0, 8)
    codes, mask, res = _every_input(cfg)
    assert set(ln_address(cfg, res.s).tolist()) == set(reachable_ln_entries(cfg))


def test_divider_classes_against_exact_fractions():
    # the quotient e * ONE / S as a float is exact enough to tell a half from its neighbours here
    cfg = load_config("paper_n10_conventional")
    e = np.arange(0, cfg.one + 1)[None, :]
    s = np.arange(cfg.one, cfg.n * cfg.one + 1, 97)[:, None]
    s_bin, rounding = divider_classes(cfg, e, s)
    frac = np.modf(e * cfg.one / s)[0]
    want = np.select([frac == 0, frac < 0.5, frac == 0.5], [0, 1, 2], 3)
    assert np.array_equal(rounding, want)
    lo = np.array([b[0] for b in divider_sum_bins(cfg)])
    hi = np.array([b[1] for b in divider_sum_bins(cfg)])
    assert np.all((lo[s_bin] <= s) & (s <= hi[s_bin]))
    assert [b[2] for b in divider_sum_bins(cfg)] == ["1", "(1,2)", "[2,4)", "[4,8)", "[8,10)", "10"]


# ---- counts are exact ------------------------------------------------------------------------------------

def test_hits_are_exact_counts():
    cfg = load_config("paper_n10_conventional")
    rng = np.random.default_rng(7)
    codes = rng.integers(cfg.code_min, cfg.code_max + 1, size=(300, cfg.n)) // rng.integers(1, 9, size=(300, 1))
    mask = rng.random(codes.shape) < 0.8
    res = run_model(cfg, codes, mask)
    m = CoverageModel(cfg, root=_root("exact"))
    m.sample_block(codes[:100], mask[:100], run_model(cfg, codes[:100], mask[:100]))
    m.sample_block(codes[100:], mask[100:], run_model(cfg, codes[100:], mask[100:]))
    hits = {rel: dict(p.detailed_coverage) for rel, p in m.points.items()}

    want_lane, want_live, want_round = {}, {}, dict.fromkeys(ROUNDING, 0)
    for c, mk, e, s in zip(codes.tolist(), mask.tolist(), res.e.tolist(), res.s.tolist()):
        live = [i for i in range(cfg.n) if mk[i]]
        nlive = len(live)
        want_live[nlive] = want_live.get(nlive, 0) + 1
        if not live:
            continue
        top = max(c[i] for i in live)
        lane = min(i for i in live if c[i] == top)
        want_lane[lane] = want_lane.get(lane, 0) + 1
        for i in live:
            q, r = divmod(e[i] * cfg.one, s)
            want_round["exact" if r == 0 else "down" if 2 * r < s else "half_up" if 2 * r == s else "up"] += 1
    assert {b: h for b, h in hits["max_lane"].items() if h} == want_lane
    assert sum(hits["mask.live_lanes"].values()) == len(codes)
    assert hits["mask.live_lanes"]["0"] == want_live.get(0, 0)
    assert hits["mask.live_lanes"]["10"] == want_live.get(10, 0)
    assert hits["div.rounding"] == {r: c for r, c in want_round.items() if r in hits["div.rounding"]}
    assert sum(hits["div.sum_x_rounding"].values()) == sum(want_round.values()) == mask[mask.any(axis=1)].sum()
    assert sum(hits["exp.region"].values()) == sum(hits["output.values"].values()) == mask.sum()
    assert sum(hits["div.sum"].values()) == sum(want_lane.values())


# ---- the testplan and the model agree, per variant ---------------------------------------------------------

@pytest.mark.parametrize("config", ["paper_n10_decision", "paper_n10_top4", "paper_n10_full", "paper_n10_conventional"])
def test_testplan_names_exactly_the_variants_points(config):
    cfg = load_config(config)
    root = _root("plan")
    m = CoverageModel(cfg, root=root)
    have = {p.name.replace(f"{root}_info.", "smx_info.").replace(f"{root}.", "smx.") for p in m.points.values()}
    planned = {c for f in testplan.FEATURES if cfg.variant in f.variants for c in f.coverpoints}
    assert planned == have, \
        f"{cfg.variant}: in the plan only {sorted(planned - have)}, in the model only {sorted(have - planned)}"
    rows = testplan.map_results({t: "passed" for t in testplan.TESTS}, {}, {}, variant=cfg.variant)
    na = {r["feature"] for r in rows if r["status"] == "n/a"}
    assert na == {f.id for f in testplan.FEATURES if cfg.variant not in f.variants}
    with pytest.raises(ValueError, match="unknown variant"):
        testplan.map_results({}, {}, {}, variant="nonesuch")


# ---- regression-level merge of real runs -------------------------------------------------------------------

def _hits(path) -> dict[str, int]:
    return {el.attrib["abs_name"]: int(el.attrib["hits"])
            for el in ElementTree.parse(path).getroot().iter() if "hits" in el.attrib}


def test_merge_adds_the_hits_of_two_runs(tmp_path):
    # one run per simulator (the Verilator build is the one tests/test_sim.py uses)
    from tb.run import run
    sums = [run("paper_n10_decision", sim, seed=seed, tests=["smx_smoke", "smx_reset"], profile="quick",
                results_root=tmp_path, log=lambda *a: None) for sim, seed in (("icarus", 1), ("verilator", 2))]
    assert all(s["passed"] for s in sums), [s["tests"] for s in sums]
    files = [Path(s["log"]).parent / "coverage.xml" for s in sums]
    out = tmp_path / "merged.xml"
    assert main(["merge", str(out), *map(str, files)]) == 0
    a, b, merged = _hits(files[0]), _hits(files[1]), _hits(out)
    assert set(merged) == set(a) == set(b)
    assert all(merged[k] == a[k] + b[k] for k in merged)
    assert a != b and sum(merged.values()) > max(sum(a.values()), sum(b.values()))
    # the merged goal percentage is the share of goal bins hit at least once
    goal = [h for k, h in merged.items() if k.startswith("top.smx.")]
    assert read_export(out)["percent"] == pytest.approx(100 * sum(h > 0 for h in goal) / len(goal), abs=0.01)
    assert sum(map(len, read_export(out)["holes"].values())) == sum(h == 0 for h in goal)
    # the YAML export merges the same way
    ymls = [f.with_suffix(".yml") for f in files]
    merge(tmp_path / "merged.yml", ymls)
    ya, yb, ym = (yaml.safe_load(p.read_text()) for p in (*ymls, tmp_path / "merged.yml"))
    for name, item in ym.items():
        for bin_, h in item.get("bins:_hits", {}).items():
            assert h == ya[name]["bins:_hits"][bin_] + yb[name]["bins:_hits"][bin_], (name, bin_)
    assert ym["smx"]["coverage"] >= max(ya["smx"]["coverage"], yb["smx"]["coverage"])
    # a file of other bins (another configuration) is refused, not merged out of line
    other = tmp_path / "other.xml"
    other.write_text(re.sub(r'bin="9"', 'bin="99"', files[1].read_text(), count=1))
    with pytest.raises(ValueError, match="different configurations"):
        merge(tmp_path / "bad.xml", [files[0], other])
    with pytest.raises(ValueError, match="must all be XML or all YAML"):
        merge(tmp_path / "bad.yml", files)
    # the regression summary merges the passing runs of a configuration the same way
    rows = merged_coverage(sums)
    assert [(r["config"], r["runs"]) for r in rows] == [("paper_n10_decision", ["icarus", "verilator"])]
    assert rows[0]["percent"] == read_export(out)["percent"] and rows[0]["holes"] == read_export(out)["holes"]
    assert _hits(rows[0]["file"]) == merged
