"""The streaming unit's RTL (rtl/stream/) against models.stream through tb/stream: lint, the
verification run on both simulators, N_MAX rows, latency, and fault injection caught."""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

import tb.stream.build as stream_build
from models.stream import StreamUnit, list_stream_configs, load_stream_config
from tb.byo.run import run as byo_run
from tb.stream import run as stream_run
from tb.stream.build import RESCALE_TOP, lint, prepare
from tb.stream.byo import write_design
from tb.stream.sim import FAULTS, check, inject, simulate, to_beats

SMALL = "attn_p4_n64_full"
TOPK_SMALL = "attn_p4_n64_top8"          # top-K: the list read in two beats of P = 4


@pytest.mark.parametrize("tool", ["verilator", "iverilog"])
@pytest.mark.parametrize("name", list_stream_configs())
def test_lint_clean(name, tool, tmp_path):
    u = StreamUnit(load_stream_config(name))
    u.write_tables(tmp_path)
    ok, out = lint(u, tool, tmp_path)
    assert ok, f"{tool} on {name} is not clean:\n{out}"


@pytest.mark.parametrize("tool", ["verilator", "iverilog"])
def test_rescale_probe_lint_clean(tool, tmp_path):
    u = StreamUnit(load_stream_config("attn_p8_n4096_full"))
    u.write_tables(tmp_path)
    ok, out = lint(u, tool, tmp_path, top=RESCALE_TOP)
    assert ok, f"{tool} on {RESCALE_TOP} is not clean:\n{out}"


def test_inconsistent_parameters_stop_elaboration(tmp_path):
    u = StreamUnit(load_stream_config(SMALL))
    u.write_tables(tmp_path)
    bad = u.rtl_parameters(tmp_path)
    bad["SUM_W"] += 1
    u.rtl_parameters = lambda d: bad          # this instance only
    ok, out = lint(u, "iverilog", tmp_path)
    assert not ok and "SUM_W_must_be" in out, out


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("name", [SMALL, TOPK_SMALL])
def test_verification_run_passes_with_full_coverage(name, sim, tmp_path):
    out = tmp_path / "summary.json"
    rc = stream_run.main(["--config", name, "--sim", sim, "--rows", "48",
                          "--real-limit", "600" if sim == "icarus" else "0", "--out", str(out)])
    s = json.loads(out.read_text())
    assert rc == 0 and s["passed"], json.dumps(s["tests"], indent=1)[:3000]
    assert s["tests"]["reset"]["rows"] == 8 and s["tests"]["reset"]["beats_cut"] > 0    # a reset in the output pass
    assert s["tests"]["corners"]["rows_ok"] == s["tests"]["corners"]["rows"]
    holes = {k: v["missing"] for k, v in s["coverage"].items() if v["missing"]}
    assert not holes, f"coverage holes: {holes}"


@pytest.mark.parametrize("name", ["attn_p8_n4096_full", "imagenet_p16_n1024_decision"])
def test_corner_rows_up_to_n_max_are_exact(name):
    u = StreamUnit(load_stream_config(name))
    block = stream_run.corners(u, np.random.default_rng(2))
    assert block.rows.length.max() == u.cfg.n_max
    res = stream_run.run_block(prepare(u, "icarus"), block, np.random.default_rng(2).random(31) < 0.6, None)
    assert res["passed"], res


# docs/stream.md section 5 with P = 4, B = ceil(n/4): K = N 3B + 5; top-8 2B + ceil(8/4) + 5
LATENCY = {(SMALL, 1): 8, (SMALL, 5): 11, (SMALL, 63): 53, (SMALL, 64): 53,
           (TOPK_SMALL, 1): 9, (TOPK_SMALL, 5): 11, (TOPK_SMALL, 63): 39, (TOPK_SMALL, 64): 39}


@pytest.mark.parametrize("name, n", sorted(LATENCY))
def test_latency_per_row_is_as_documented(name, n):
    """The RTL's cycles from the first input beat to the last output beat are the documented
    figure, and StreamUnit.cycles_per_row (which bench_stream and the reset test use) says so too."""
    u = StreamUnit(load_stream_config(name))
    rows = u.rows(np.arange(64, dtype=np.int64)[None, :] % 17, [n])
    v, log_in, log_out, _ = simulate(prepare(u, "icarus"), rows, to_beats(u, rows), np.arange(1), np.ones(1, bool))
    assert v.passed
    assert log_out.cycles[-1] - log_in.cycles[0] + 1 == LATENCY[name, n] == u.cycles_per_row(n)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", [SMALL, TOPK_SMALL])
def test_fault_is_caught(name, fault):
    u = StreamUnit(load_stream_config(name))
    rng = np.random.default_rng(7)
    block = stream_run.random_rows(u, rng, 12)
    build = prepare(u, "icarus")
    clean, *_ = simulate(build, block.rows, block.beats, block.expected, np.ones(1, bool))
    assert clean.passed, clean.mismatches
    bad_beats, row = inject(block.beats, fault, rng)
    v, *_ = simulate(build, block.rows, bad_beats, block.expected, np.ones(1, bool))
    assert not v.passed, f"{fault} on row {row} went unnoticed"
    assert v.kinds, v


@pytest.mark.parametrize("name, p", [(SMALL, 1), (SMALL, 8), (SMALL, 16), (TOPK_SMALL, 1), (TOPK_SMALL, 16)])
def test_every_lane_count_is_exact(name, p, tmp_path):
    """P = 1, 8, 16 (P = 4 is tested above): lint, corners and random rows, exact. Top-K with
    P = 1 reads its list in K beats; with P = 16 > K in one beat, half of it empty entries."""
    cfg = dataclasses.replace(load_stream_config(name), p=p, name=f"{name}_p{p}_test")
    u = StreamUnit(cfg)
    u.write_tables(tmp_path)
    for tool in ("verilator", "iverilog"):
        ok, out = lint(u, tool, tmp_path)
        assert ok, f"{tool}, P = {p}:\n{out}"
    build = prepare(u, "icarus", root=tmp_path)
    rng = np.random.default_rng(p)
    for block in (stream_run.corners(u, rng), stream_run.random_rows(u, rng, 24)):
        res = stream_run.run_block(build, block, rng.random(29) < 0.6, None)
        assert res["passed"], (block.name, res)


def test_topk_rtl_is_not_the_full_sum():
    """The top-K RTL checked against the K = N model of the same formats fails on random rows
    (so the top-K list is what makes it pass), and against its own model passes."""
    u = StreamUnit(load_stream_config(TOPK_SMALL))
    full = StreamUnit(dataclasses.replace(u.cfg, variant="full", k=0))
    block = stream_run.random_rows(u, np.random.default_rng(12), 24)
    ok, _, log_out, _ = simulate(prepare(u, "icarus"), block.rows, block.beats, block.expected, np.ones(1, bool))
    assert ok.passed, ok.mismatches
    v = check(full, block.rows, block.expected, log_out)
    assert not v.passed and v.kinds.get("data", 0) > 0, v.kinds


def test_topk_parameter_checks_stop_elaboration(tmp_path):
    u = StreamUnit(load_stream_config(TOPK_SMALL))
    u.write_tables(tmp_path)
    good = u.rtl_parameters(tmp_path)
    for change, named in (({"TOPK": 64}, "TOPK_must_be"), ({"FULL": 0}, "TOPK_must_be"),
                          ({"SUM_W": good["SUM_W"] + 1}, "SUM_W_must_be_SUM_FRAC_plus_clog2_TOPK")):
        bad = {**good, **change}
        u.rtl_parameters = lambda d, bad=bad: bad          # this instance only
        ok, out = lint(u, "iverilog", tmp_path)
        assert not ok and named in out, (change, out)


def test_byo_axis_path_passes_and_catches_a_wrong_model(tmp_path):
    """The stream unit through tb/byo (cocotbext-axi AXI4-Stream, its own scoreboard; rows of
    N_MAX values): exact against models.stream; the same run with a model one LSB off on one
    lane fails with mismatches."""
    design = write_design(SMALL, vectors=40)
    s = byo_run(design, "icarus", 1, None, None, "exact", 40, False, results_root=tmp_path / "results")
    assert s["passed"], json.dumps(s, indent=1, default=str)[:3000]
    assert sum(t["checked"] for t in s["tests"].values()) >= 70
    bad = tmp_path / "byo"
    shutil.copytree(design.parent, bad)
    (bad / "model.py").write_text((design.parent / "model.py").read_text() + (
        "_good = run\n\n\ndef run(codes, mask):\n    y, am = _good(codes, mask)\n"
        "    y = y.copy()\n    y[:, 5] += 1\n    return y, am\n"))
    s = byo_run(bad / "design.toml", "icarus", 1, ["byo_random"], None, "exact", 20, False,
                results_root=tmp_path / "results")
    assert not s["passed"] and s["tests"]["byo_random"]["errors"].get("mismatch", 0) > 0, \
        json.dumps(s["tests"], indent=1, default=str)[:2000]


def test_byo_refuses_a_topk_unit():
    with pytest.raises(ValueError, match="top-K"):
        write_design(TOPK_SMALL)


@pytest.mark.regression_only
@pytest.mark.parametrize("p", [1, 4, 8, 16])
def test_topk_every_k_is_exact(p, tmp_path):
    """make regression: top-K for K = 2, 3, 5, 8, 13, 16, 17, 63 at N_MAX = 64 (powers of two
    and not, K below, at and above P, K = N_MAX - 1): corners and random rows exact on Icarus."""
    base = load_stream_config(TOPK_SMALL)
    for k in (2, 3, 5, 8, 13, 16, 17, 63):
        u = StreamUnit(dataclasses.replace(base, p=p, k=k, name=f"{TOPK_SMALL}_p{p}_k{k}_test"))
        build = prepare(u, "icarus", root=tmp_path, log=lambda *a: None)
        rng = np.random.default_rng(100 * p + k)
        for block in (stream_run.corners(u, rng), stream_run.random_rows(u, rng, 40)):
            res = stream_run.run_block(build, block, rng.random(13) < 0.6, None)
            assert res["passed"], (k, block.name, res["kinds"], res["mismatches"][:2])


# planted faults in the top-K list (rtl/stream/sm_stream_unit.v edited in a copy): each must be
# caught by the corner and random rows of a top-5 unit (K not a power of two: the tree sorts);
# "none", the copy unedited, must pass the same rows (so a failure is the fault's, not the copy's)
TOPK_MUTANTS = {
    "none": None,
    "list_not_cleared_between_rows": ("if (!rst_n || out_done) list <=", "if (!rst_n) list <="),
    "list_not_sorted": ("localparam integer SORT   = (TOPK == KP) ? 0 : 1;", "localparam integer SORT   = 0;"),
    "masked_lanes_enter_the_list": ("cand[j*EW +: EW] = in_live[j] ?", "cand[j*EW +: EW] = s_keep[j] ?"),
}


@pytest.mark.parametrize("mutant", sorted(TOPK_MUTANTS))
def test_topk_planted_fault_is_caught(mutant, tmp_path, monkeypatch):
    text = (stream_build.STREAM_RTL / "sm_stream_unit.v").read_text()
    if TOPK_MUTANTS[mutant]:
        old, new = TOPK_MUTANTS[mutant]
        assert text.count(old) == 1, f"the line {mutant} edits is gone from the RTL: update the mutant"
        text = text.replace(old, new)
    f = tmp_path / "sm_stream_unit.v"
    f.write_text(text)
    monkeypatch.setattr(stream_build, "unit_sources",
                        lambda: [f] + [stream_build.REPO / "rtl" / x for x in stream_build.SHARED_RTL])
    u = StreamUnit(dataclasses.replace(load_stream_config(TOPK_SMALL), k=5, name=f"mutant_{mutant}"))
    build = prepare(u, "icarus", root=tmp_path, log=lambda *a: None)
    rng = np.random.default_rng(1)
    results = [stream_run.run_block(build, block, np.ones(1, bool), None)
               for block in (stream_run.corners(u, rng), stream_run.random_rows(u, rng, 48))]
    if mutant == "none":
        assert all(r["passed"] for r in results), [r["kinds"] for r in results]
    else:
        assert sum(r["kinds"].get("data", 0) for r in results) > 0, f"{mutant} went unnoticed"
