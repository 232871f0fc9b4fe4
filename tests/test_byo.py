"""Bring your own design (tb/byo, docs/byo.md): the example AXI4-Stream unit passes in both
modes, our own unit passes through the generic parallel path, faults planted in copies of the
example fail with the expected error kinds and counts, and each bad input gives its message.
Icarus throughout (small vector counts), one Verilator case."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tb.byo.design import DesignError, load_design
from tb.byo.run import run
from tb.byo.scoreboard import judge

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "axis_softmax_div"
RTL = EXAMPLE / "rtl" / "axis_softmax_div.v"
OURS = REPO / "designs" / "paper_n10_decision.toml"
VALID_ONLY = REPO / "examples" / "valid_only_decision" / "design.toml"

pytestmark = pytest.mark.xdist_group("byo")

# edits of copies of the example RTL: planted faults, and one harmless variant (mask on tkeep)
_COUNTER = ("    assign m_axis_tvalid = (state == S_OUT);\n",
            "    reg [7:0] nvec = 0;\n"
            "    always @(posedge aclk) if (state == S_OUT && (m_axis_tready || drop) && lane == BEATS - 1)\n"
            "        nvec <= nvec + 1;\n"
            "    wire drop = DROP_COND;\n"
            "    assign m_axis_tvalid = (state == S_OUT) && !drop;\n")
_ADVANCE = ("            S_OUT: if (m_axis_tready) begin\n", "            S_OUT: if (m_axis_tready || drop) begin\n")
RTL_EDITS = {
    "lane_off_by_one": [("odata[(P-1-k)*OUT_W +: OUT_W] = y[lane * P + k];",
                         "odata[(P-1-k)*OUT_W +: OUT_W] = y[lane * P + k] + (lane * P + k == 2);")],
    "lost_beat": [(_COUNTER[0], _COUNTER[1].replace("DROP_COND", "(nvec == 5) && (lane == 0)")), _ADVANCE],
    "lost_vector": [(_COUNTER[0], _COUNTER[1].replace("DROP_COND", "(nvec == 5)")), _ADVANCE],
    "mask_on_tkeep": [("s_axis_tuser", "s_axis_tkeep")],
    "never_valid": [("    assign m_axis_tvalid = (state == S_OUT);\n", "    assign m_axis_tvalid = 1'b0;\n")],
}


def example_copy(tmp: Path, fault: str | None = None, edit=None) -> Path:
    """A copy of the example's design file (and RTL, with a fault planted) in tmp."""
    rtl = RTL.read_text()
    for old, new in RTL_EDITS.get(fault, []):           # (also the tkeep variant, which is no fault)
        assert old in rtl, f"fault {fault}: text to replace not found in {RTL}"
        rtl = rtl.replace(old, new)
    (tmp / "rtl").mkdir(exist_ok=True)
    (tmp / "rtl" / RTL.name).write_text(rtl)
    text = (EXAMPLE / "design.toml").read_text().replace('"model.py:run"', f'"{EXAMPLE / "model.py"}:run"')
    if edit:
        text = edit(text)
    f = tmp / "design.toml"
    f.write_text(text)
    return f


def _run(design, tmp, **kw):
    kw.setdefault("seed", 3)
    return run(design, results_root=tmp / "results", log=lambda *a: None, **kw)


# ---- passing runs ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["exact", "tolerance"])
def test_example_passes(tmp_path, mode):
    s = _run(example_copy(tmp_path), tmp_path, mode=mode, vectors=60)
    assert s["passed"], s["errors"]
    assert s["mode"] == mode
    t = s["tests"]
    assert t["byo_random"]["checked"] == 60 and t["byo_flow"]["checked"] == 30
    assert t["byo_reset"]["checked"] + t["byo_reset"]["lost_at_reset"] == t["byo_reset"]["inputs"] == 30
    # ties for the max occur in the corner vectors and are counted apart
    assert t["byo_random"]["metrics"]["argmax_agree_tied"] >= 2


def test_our_unit_through_generic_parallel_path(tmp_path):
    dump = REPO / "data" / "digits_cnn_logits.npz"
    s = _run(OURS, tmp_path, vectors=400, dump=dump)
    assert s["mode"] == "exact" and s["passed"], s["errors"]
    t = s["tests"]
    assert t["byo_random"]["checked"] == 400 and t["byo_flow"]["checked"] == 200
    # idle gaps and backpressure really slowed the flow down (byo_random: about a vector a clock)
    assert t["byo_flow"]["cycles"] / 200 > 1.5 * t["byo_random"]["cycles"] / 400
    assert t["byo_replay"]["checked"] == 360 and "0 saturated" in t["byo_replay"]["note"]


def test_valid_only_worked_example(tmp_path):
    """docs/byo.md's worked example: no ready on either side, asynchronous reset."""
    s = _run(VALID_ONLY, tmp_path, vectors=200)
    assert s["mode"] == "tolerance" and s["passed"], s["errors"]
    assert s["tests"]["byo_reset"]["lost_at_reset"] >= 1
    assert s["tests"]["byo_random"]["metrics"]["max_abs_error"] <= 2.0 ** -5     # rounds to q/2
    bad = tmp_path / "five_lanes" / "design.toml"
    bad.parent.mkdir()
    bad.write_text(VALID_ONLY.read_text().replace("lanes = 4", "lanes = 5")
                   .replace('"decision4.v"', f'"{VALID_ONLY.parent / "decision4.v"}"'))
    with pytest.raises(DesignError, match=r"port 'in_data' \(in_data\) is 20 bits wide, but the design file says "
                                          r"25 = 5 lanes x 5 bits \(signed Q\(3,2\)\)"):
        _run(bad, tmp_path, tests=["byo_random"], vectors=4)


def test_example_with_tkeep_mask(tmp_path):
    """The same unit with its mask on tkeep instead of tuser (one tkeep bit per lane)."""
    f = example_copy(tmp_path, "mask_on_tkeep", edit=lambda t: t.replace('mask = "tuser"', 'mask = "tkeep"'))
    s = _run(f, tmp_path, tests=["byo_random"], vectors=40)
    assert s["passed"], s["errors"]
    assert s["tests"]["byo_random"]["checked"] == 40


def test_example_on_verilator(tmp_path):
    s = _run(example_copy(tmp_path), tmp_path, sim="verilator", tests=["byo_random", "byo_reset"], vectors=40)
    assert s["passed"], s["errors"]


# ---- planted faults -------------------------------------------------------------------------
def test_fault_lane_off_by_one(tmp_path):
    s = _run(example_copy(tmp_path, "lane_off_by_one"), tmp_path, tests=["byo_random"], vectors=50)
    r = s["tests"]["byo_random"]
    assert not s["passed"]
    assert set(r["errors"]) == {"mismatch"} and r["errors"]["mismatch"] == 50
    assert r["mismatch_by_lane"] == ["lane 2 in 50 (most often +1 LSB, 50x)"]
    assert "input #0 (accepted at cycle" in r["details"]["mismatch"][0]


@pytest.mark.parametrize("mode", ["exact", "tolerance"])
def test_fault_lost_beat(tmp_path, mode):
    s = _run(example_copy(tmp_path, "lost_beat"), tmp_path, tests=["byo_random"], vectors=30, mode=mode)
    r = s["tests"]["byo_random"]
    assert r["errors"] == {"frame_length": 1}, r["details"]
    assert "3 beats instead of 4" in r["details"]["frame_length"][0]
    assert "input #5 " in r["details"]["frame_length"][0]
    assert r["checked"] == 29


@pytest.mark.parametrize("mode", ["exact", "tolerance"])
def test_fault_lost_vector_resynchronises(tmp_path, mode):
    s = _run(example_copy(tmp_path, "lost_vector"), tmp_path, tests=["byo_random"], vectors=30, mode=mode)
    r = s["tests"]["byo_random"]
    assert r["errors"] == {"missing_output": 1}, r["details"]
    msg = r["details"]["missing_output"][0]
    assert re.match(r"input #5 \(accepted at cycle \d+, codes \[", msg), msg
    assert "outputs resumed with input #6" in msg
    assert r["checked"] == 29


def test_never_valid_is_protocol_timeout(tmp_path):
    f = example_copy(tmp_path, "never_valid", edit=lambda t: t.replace("timeout_cycles = 1000", "timeout_cycles = 100"))
    s = _run(f, tmp_path, tests=["byo_random"], vectors=10)
    r = s["tests"]["byo_random"]
    assert r["errors"] == {"protocol_timeout": 1}, r["details"]
    assert re.search(r"m_axis_tvalid stayed low for 100 cycles from cycle \d+", r["details"]["protocol_timeout"][0])


# ---- bad input ------------------------------------------------------------------------------
def test_unknown_key_lists_known_keys(tmp_path):
    f = example_copy(tmp_path, edit=lambda t: t.replace("[clock]\n", "[clock]\nfrequency = 100\n"))
    with pytest.raises(DesignError, match=r"unknown key\(s\) 'frequency' in \[clock\]; known keys: name, period_ns"):
        load_design(f)
    f = example_copy(tmp_path, edit=lambda t: "latency = 3\n" + t)
    with pytest.raises(DesignError, match=r"'latency' in the top level; known keys: bounds, claims, clock"):
        load_design(f)


def test_missing_port_named_with_the_design_ports(tmp_path):
    f = example_copy(tmp_path, edit=lambda t: t.replace('out_argmax = "m_axis_tuser"', 'out_argmax = "m_axis_tid"'))
    with pytest.raises(DesignError) as e:
        _run(f, tmp_path, tests=["byo_random"], vectors=4)
    msg = str(e.value)
    assert "port(s) 'm_axis_tid' (out_argmax) not found in module 'axis_softmax_div'" in msg
    assert "aclk" in msg and "m_axis_tuser" in msg and "s_axis_tready" in msg


def test_width_contradicting_formats(tmp_path):
    f = example_copy(tmp_path, edit=lambda t: t.replace("[input]\nsigned = true\nint_bits = 4",
                                                          "[input]\nsigned = true\nint_bits = 5"))
    with pytest.raises(DesignError, match=r"port 's_axis_tdata' \(in_data\) is 16 bits wide, but the design "
                                          r"file says 18 = 2 lanes per beat x 9 bits"):
        _run(f, tmp_path, tests=["byo_random"], vectors=4)


# ---- the scoreboard on made-up recordings (no simulator) --------------------------------------
def _obs(codes, outs, argmax):
    m = len(codes)
    mask = np.ones_like(codes, bool)
    outs = np.asarray(outs, np.int64)
    return {"in_codes": codes, "in_mask": mask, "in_cycle": np.arange(m) * 10, "in_epoch": np.zeros(m, np.int64),
            "out_codes": outs, "out_x": np.zeros(outs.shape, bool), "out_argmax": np.asarray(argmax, np.int64),
            "out_argmax_x": np.zeros(len(outs), bool), "out_cycle": np.arange(len(outs)) * 10 + 5,
            "out_epoch": np.zeros(len(outs), np.int64), "out_beats": np.full(len(outs), 4)}


def _model_design():
    d = load_design(EXAMPLE / "design.toml")
    from tb.byo.design import load_model
    return d, load_model(d)


@pytest.mark.parametrize("order,kind", [([0, 1, 1, 2, 3], "duplicated_output"), ([0, 2, 1, 3], "reordered_output")])
def test_scoreboard_duplicates_and_reorders(order, kind):
    d, model = _model_design()
    codes = np.random.default_rng(0).integers(-128, 128, size=(4, 8))
    y, am = model(codes, np.ones_like(codes, bool))
    r = judge(d, model, _obs(codes, y[order], am[order]), [], "made_up")
    assert r["errors"] == {kind: 1}, r["details"]
    assert r["checked"] == 4


def test_scoreboard_wrong_values_do_not_flood_misalignment():
    d, model = _model_design()
    codes = np.random.default_rng(1).integers(-128, 128, size=(6, 8))
    y, am = model(codes, np.ones_like(codes, bool))
    y = y.copy()
    y[2, 0] += 1                                  # one vector wrong: one mismatch, no misalignment
    r = judge(d, model, _obs(codes, y, am), [], "made_up")
    assert r["errors"]["mismatch"] == 1, r["details"]
    assert set(r["errors"]) <= {"mismatch", "sum_error", "max_abs_error", "mse_vector"}, r["details"]
    assert r["checked"] == 6


def test_scoreboard_x_output_takes_its_input_and_is_counted():
    d, model = _model_design()
    codes = np.random.default_rng(2).integers(-128, 128, size=(5, 8))
    y, am = model(codes, np.ones_like(codes, bool))
    o = _obs(codes, y, am)
    o["out_x"][1, 3] = True
    r = judge(d, model, o, [], "made_up")
    assert r["errors"] == {"output_x": 1}, r["details"]
    assert "X/Z on output lanes [3]" in r["details"]["output_x"][0] and "input #1 " in r["details"]["output_x"][0]
    assert r["checked"] == 4


@pytest.mark.parametrize("order", ["lsb_first", "msb_first"])
@pytest.mark.parametrize("per_beat", [1, 2, 4])
def test_lane_packing_round_trip(order, per_beat):
    from tb.byo.lanes import elements_to_lanes, frame_elements, from_fields, pack_words, to_fields, unpack_binstr
    codes = np.random.default_rng(per_beat).integers(-16, 16, size=(3, 4))
    words = pack_words(to_fields(codes, 5), 5, per_beat, order)
    assert len(words) == 3 * 4 // per_beat
    fields, unk = unpack_binstr([format(w, "b") for w in words], 5, per_beat, order)
    assert not unk.any()
    assert np.array_equal(from_fields(fields.reshape(3, 4), 5, True), codes)
    # the first lane of a beat sits at the LSB (lsb_first) or at the top (msb_first)
    first = (words[0] >> (5 * (per_beat - 1) if order == "msb_first" else 0)) & 31
    assert first == codes[0, 0] & 31
    elems = frame_elements(to_fields(codes[0], 5), per_beat, order)
    assert np.array_equal(elements_to_lanes(elems, per_beat, order), to_fields(codes[0], 5))
