"""Cell-library area and timing (scripts/timing.py): the four N = 10 units through Yosys mapped to
the OSU 0.18 um liberty and OpenSTA. Needs the Debian packages of `make timing-deps`.

All tests share one worker (xdist group) so the four units are synthesised once per run
(netlists cached in build/timing/cache/ across runs)."""
from __future__ import annotations

import functools
import json
import re
import shutil
import uuid
from pathlib import Path

import pytest

from models.config import config_from_dict, from_fields, load_config
from models.stream import StreamConfig, StreamUnit
from scripts import timing
from scripts.synth_common import ToolError
from test_rtl_params import BASE      # the paper's N = 10 formats

UNITS = ("paper_n10_decision", "paper_n10_top4", "paper_n10_full", "paper_n10_conventional")
pytestmark = pytest.mark.xdist_group("timing")


@pytest.fixture(scope="module")
def timed() -> dict[str, dict]:
    return {c: timing.time_unit(c) for c in UNITS}


def _liberty_areas() -> dict[str, float]:
    """Cell areas read straight from the liberty file (not through Yosys)."""
    text = timing.liberty_file().read_text()
    # the first 'area' inside each cell group, before any nested group (pins come after it)
    cells = re.findall(r"\bcell\s*\(\s*\"?(\w+)\"?\s*\)\s*\{[^{}]*?\barea\s*:\s*([\d.]+)", text)
    assert len(cells) > 20, "liberty parse found too few cells"
    return {name: float(a) for name, a in cells}


def _declared(netlist: str) -> dict[str, tuple[int, int]]:
    """{net name: (msb, lsb)} of every vector or scalar declared in the netlist."""
    out = {}
    for msb, lsb, name in re.findall(r"^\s*(?:wire|reg|input|output)\s+(?:\[(\d+):(\d+)\]\s+)?(\\\S+|\w+)\s*;",
                                     netlist, re.M):
        out[name.lstrip("\\")] = (int(msb or 0), int(lsb or 0))
    return out


@pytest.mark.parametrize("unit", UNITS)
def test_area_matches_cells_and_liberty(timed, unit):
    r = timed[unit]
    lib = _liberty_areas()
    assert r["area_um2"] > 0
    assert r["cells"] == sum(r["cells_by_type"].values())
    # the cell counts are those of the netlist OpenSTA timed
    kinds = re.findall(r"^\s*(\w+)\s+\S+\s*\($", open(r["netlist"]).read(), re.M)
    assert {c: kinds.count(c) for c in set(kinds) if c in lib} == r["cells_by_type"]
    assert r["area_um2"] == pytest.approx(sum(n * lib[c] for c, n in r["cells_by_type"].items()), rel=1e-9)
    assert r["flops"] == sum(n for c, n in r["cells_by_type"].items() if c.startswith("DFF"))
    assert r["cells"] > 5 * r["flops"]        # ten lanes of table logic, a max tree, subtractors


@pytest.mark.parametrize("unit", UNITS)
def test_critical_path_endpoints_exist(timed, unit):
    r = timed[unit]
    text = open(r["netlist"]).read()
    ports = {n.lstrip("\\") for n in re.findall(r"^\s*(?:input|output)\s+(?:\[\d+:\d+\]\s+)?(\S+)\s*;", text, re.M)}
    flops = timing.netlist_flops(Path(r["netlist"]))
    for point in ("start", "end"):
        inst = r["critical_path"][f"{point}_instance"]
        assert inst in flops or re.sub(r"\[\d+\]$", "", inst) in ports, f"{point} point {inst} not in {r['netlist']}"
    # every pipeline stage of rtl/softmax_unit.v has its registers and a worst path
    expected = {"S0", "S1", "S2", "valid"} | ({"S3", "S4"} if load_config(unit).k > 1 else set())
    assert expected <= set(r["stages"])
    assert all(r["stages"][s]["flops"] > 0 for s in expected)
    limit = r["critical_path"]["stage"]
    assert r["stages"][limit]["period_needed_ns"] == max(s["period_needed_ns"] for s in r["stages"].values())


def test_area_ordering(timed):
    a = {u: timed[u]["area_um2"] for u in UNITS}
    assert a["paper_n10_decision"] < a["paper_n10_top4"] < a["paper_n10_conventional"]
    assert a["paper_n10_decision"] < a["paper_n10_full"] < a["paper_n10_conventional"]


@pytest.mark.parametrize("unit", UNITS)
def test_tightest_clock(timed, unit):
    """Fresh STA runs: the chosen period is met, one 20 % shorter is not."""
    r = timed[unit]
    p = r["min_period_ns"]
    assert timing.sta_slack(r, p) >= 0
    assert timing.sta_slack(r, 0.8 * p) < 0
    assert r["fmax_mhz"] == pytest.approx(1000 / p, abs=0.01)


def test_missing_sta_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match=r"install the Debian package opensta"):
        timing.sta_bin()


def test_missing_liberty_named(monkeypatch, tmp_path):
    monkeypatch.setattr(timing, "LIBERTY", tmp_path / "osu018_stdcells.lib")
    with pytest.raises(ToolError, match=r"osu018_stdcells.lib not found: install the Debian package "
                                        r"qflow-tech-osu018"):
        timing.time_unit("paper_n10_decision")


def test_too_large_refused_up_front(monkeypatch, capsys):
    def no_synthesis(*a, **k):
        raise AssertionError("synthesis started for a configuration that should be refused")
    monkeypatch.setattr(timing, "synthesise", no_synthesis)
    assert timing.main(["--config", "paper_n10_decision", "--config", "imagenet_n1000_decision"]) == 1
    err = capsys.readouterr().err
    assert "imagenet_n1000_decision" in err and "too large" in err and "--allow-large" in err
    est = re.search(r"about ([\d,]+) generic cells", err)
    assert est and int(est.group(1).replace(",", "")) > timing.MAX_EST_CELLS


def test_stage_of_register_names():
    assert timing.stage_of("\\g_norm.g_log.d3 [4]", "S4") == "S3"
    assert timing.stage_of("q0[7]", "S2") == "S0"
    assert timing.stage_of("out_data[3]", "S4") == "S4"
    assert timing.stage_of("out_valid", "S2") == "valid"
    # registers inside a stage (generate loop g_st[k]): sub-stage k of the stage their name ends in
    assert timing.stage_of("genblk17.g_norm.g_divide.u_div.g_long.g_st[2].g_reg.dq4[7]", "S4") == "S4.2"
    assert timing.stage_of("g_max_pipe.u_max.g_part[1].g_reg.g_st[1].mv1[3]", "S2") == "S1.1"
    assert timing.stage_of("g_max_pipe.g_st[0].qp1[12]", "S2") == "S1.0"
    with pytest.raises(timing.TimingError, match="'_00912_' is not a stage register"):
        timing.stage_of("_00912_", "S2")


def test_every_flop_attributed_or_named_error():
    """A flip-flop is given the stage its output's register names agree on; aliases that are not
    registers are ignored; no register name, or two stages, stops the flow naming the flop."""
    of = functools.partial(timing.stage_of, last_stage="S4")
    assert timing.attribute("ff_3", ["e2[5]", "g_norm.es2[5]", "u_sum.x[5]"], of) == ("S2", "e2[5]")
    assert timing.attribute("ff_4", ["out_data[1]", "y4[1]"], of) == ("S4", "y4[1]")
    with pytest.raises(timing.TimingError, match=r"flip-flop ff_7 .* none of them is a register"):
        timing.attribute("ff_7", ["delta[3]"], of)
    with pytest.raises(timing.TimingError, match=r"flip-flop ff_8 .*disagree: a3\[0\] -> S3, ad4\[0\] -> S4"):
        timing.attribute("ff_8", ["a3[0]", "ad4[0]"], of)
    with pytest.raises(timing.TimingError, match="flip-flop ff_9 .*none"):
        timing.attribute("ff_9", [], of)
    assert timing.stream_group("g_topk.list[17]") == "top-K list"
    with pytest.raises(timing.TimingError, match="'g_x.newreg' is not a register of rtl/stream/sm_stream_unit.v"):
        timing.stream_group("g_x.newreg")


def test_report_area_um2_ratios(tmp_path):
    """The paper check reads results/timing/<config>.json and gives um^2 ratios beside the proxy."""
    from scripts import report_area
    um2 = {"paper_n10_decision": 100.0, "paper_n10_top4": 250.0, "paper_n10_full": 200.0,
           "paper_n10_conventional": 400.0}
    (tmp_path / "timing").mkdir()
    for name, a in um2.items():
        (tmp_path / "timing" / f"{name}.json").write_text(
            json.dumps({"area_um2": a, "min_period_ns": 5.0, "fmax_mhz": 200.0}))
    c = report_area.area_check(tmp_path)
    assert c["um2_ratio"]["conventional"] == {"decision": 0.25, "topk": 0.625, "full": 0.5}
    assert c["um2_ratio"]["full"]["topk"] == 1.25
    md = report_area.markdown(c)
    assert "| decision | paper_n10_decision | 100 | 5.00 | 200 | 0.25 | 0.50 |" in md
    (tmp_path / "timing" / "paper_n10_top4.json").write_text(json.dumps({"area_um2": -1}))
    with pytest.raises(report_area.AreaError, match="paper_n10_top4.json: field 'area_um2' must be a positive"):
        report_area.area_check(tmp_path)


def test_stage_registers_of_decision_unit(timed):
    """Flip-flops grouped by stage match the register bits of docs/rtl.md (K = 1): S0 input data
    + mask, S1 differences + mask + argmax, S2 outputs + argmax, one valid bit per stage."""
    cfg = load_config("paper_n10_decision")
    n, w, ow, a = cfg.n, cfg.width, cfg.out_width, cfg.argmax_width
    got = {s: v["flops"] for s, v in timed["paper_n10_decision"]["stages"].items() if v["flops"]}
    assert got == {"S0": n * w + n, "S1": n * w + n + a, "S2": n * ow + a, "valid": 3}


def test_pipelined_divider_and_max_tree_timed():
    """Registers inside the dividers and the max tree (divide_pipeline, max_pipeline) are
    attributed to their sub-stages (S4.0, S1.0), every flip-flop has a stage, and the reported
    period is met (and 0.8x of it is not) in fresh STA runs. A small unit (N = 5) keeps it cheap."""
    cfg = config_from_dict({**BASE, "n": 5, "k": 5, "normalise": "divide", "divide_pipeline": 1,
                            "max_pipeline": 1}, source="<pipelined>", name="timing_n5_pipelined")
    r = timing.time_unit(cfg)
    assert {"S0", "S1.0", "S1", "S2", "S3", "S4.0", "S4", "valid"} <= set(r["stages"])
    assert all(r["stages"][g]["flops"] > 0 for g in ("S1.0", "S4.0"))
    assert sum(s["flops"] for s in r["stages"].values()) == r["flops"] == r["cells_by_type"]["DFFPOSX1"]
    assert "g_st[0]" in r["stages"]["S4.0"]["end"] and "g_st[0]" in r["stages"]["S1.0"]["end"]
    p = r["min_period_ns"]
    assert timing.sta_slack(r, p) >= 0
    assert timing.sta_slack(r, 0.8 * p) < 0


def test_netlist_built_from_the_tables_it_is_keyed_by(monkeypatch):
    """Another process may rewrite a configuration's table files (models.tables writes them in
    place) while Yosys runs: the netlist must still be built from the bytes its cache key was
    made of. Simulated by emptying the table files just before Yosys starts; the netlist must be
    the same as an undisturbed one (an empty exp table would leave constant outputs)."""
    cfg = config_from_dict({**BASE, "n": 2, "k": 1}, source="<race>", name="timing_n2_race")
    results = []
    real_run = timing.run
    for race in (False, True):
        cache = timing.REPO / "build" / "timing" / f"test_cache_{uuid.uuid4().hex[:8]}"
        monkeypatch.setattr(timing, "CACHE_DIR", cache)

        def racing_run(cmd, *a, **k):
            if race and "-s" in cmd:           # the Yosys run: another process rewrites the tables
                for v in timing.load_unit(cfg).prepare().params.values():
                    if isinstance(v, str):
                        Path(v).write_text("")
            return real_run(cmd, *a, **k)
        monkeypatch.setattr(timing, "run", racing_run)
        try:
            r = timing.time_unit(cfg)
            results.append((r["area_um2"], r["cells_by_type"], r["stages"]["S2"]["period_needed_ns"]))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    assert results[0] == results[1]


def test_streaming_unit_timed():
    """The streaming unit through the same flow (a small K = N one: P = 4, rows of 8): every
    flip-flop in one of its register groups (the row buffer as N_MAX {keep, live, value} words),
    the reported period met and 0.8x of it not, rows per second from its cycles per row."""
    cfg = from_fields(StreamConfig, dict(variant="full", p=4, n_max=8, in_int_bits=4, in_frac_bits=2,
                                         out_frac_bits=6, exp_range=8.0, exp_depth=32, ln_mant_bits=4,
                                         mse_vs_ideal_vector_max=1.0, mse_vs_ideal_mean_max=1.0),
                      source="<stream>", name="timing_stream_p4_n8")
    r = timing.time_unit(cfg)
    assert r["family"] == "stream" and r["n"] == 8 and r["p"] == 4
    assert set(r["stages"]) - {"outputs"} <= set(timing.STREAM_GROUPS)
    assert r["stages"]["row buffer"]["flops"] == cfg.n_max * (cfg.width + 2)
    assert sum(s["flops"] for s in r["stages"].values()) == r["flops"] == r["cells_by_type"]["DFFPOSX1"]
    assert r["cycles_per_row"] == StreamUnit(cfg).cycles_per_row(cfg.n_max) > cfg.n_max // cfg.p
    assert r["rows_per_s_at_fmax"] == round(r["fmax_mhz"] * 1e6 / r["cycles_per_row"])
    p = r["min_period_ns"]
    assert timing.sta_slack(r, p) >= 0
    assert timing.sta_slack(r, 0.8 * p) < 0
