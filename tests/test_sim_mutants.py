"""The environment's checks can fail: each test plants one fault and requires the run to fail
with the scoreboard errors that the fault must cause (Icarus: 4-state, so the X faults are
visible; small vector counts).

Two kinds of fault:
- port faults: tb/hdl/smx_mutant.v wraps the real softmax_unit and breaks its port behaviour
  (lost and duplicated vectors, X, stale outputs, ...), on the decision unit (K = 1), a top-K
  unit (K = 4: top-K merge and ln table behind the ports) and the divider unit;
- RTL faults: one exact edit of a copy of rtl/ (run through SMX_RTL) inside the blocks only K > 1
  and divider units have: the top-K merge, the ln table's leading-one detector, the divider's
  rounding. `make mutants` (scripts/mutants.py) does the same with Yosys-made mutants at scale.
"""
from __future__ import annotations

import shutil

import pytest

from tb.build import RTL_DIR
from tb.run import run

SMALL = {"smx_smoke": {"vectors": 256}, "smx_random": {"vectors": 1024},
         "smx_backpressure": {"vectors": 512}, "smx_reset": {"vectors": 128, "resets": 2},
         "smx_corners": {"repeats": 1}}

DECISION, TOPK, DIVIDE = "paper_n10_decision", "paper_n10_top4", "paper_n10_conventional"

# The shim's fault periods (tb/hdl/smx_mutant.v): every 97th output dropped or duplicated, every
# 89th input lost. With the resynchronising scoreboard each is reported once, as what it is.
PERIOD_OUT, PERIOD_IN = 97, 89
DROPS = SMALL["smx_random"]["vectors"] // PERIOD_OUT
LOST = SMALL["smx_backpressure"]["vectors"] // PERIOD_IN

# (configuration, mutant number of tb/hdl/smx_mutant.v):
#     (name, tests to run, error kinds that must all be reported, exact counts of some of them)
PORT_FAULTS = {
    (DECISION, 1): ("lane_lsb", ["smx_random"], {"data_mismatch"}, {}),
    (DECISION, 2): ("argmax_high", ["smx_corners"], {"argmax_mismatch", "argmax_vs_softmax_quantized"}, {}),
    (DECISION, 3): ("drop", ["smx_random"], {"missing_output"}, {"missing_output": DROPS}),
    (DECISION, 4): ("duplicate", ["smx_random"], {"duplicated_output"}, {"duplicated_output": DROPS}),
    (DECISION, 5): ("x_data", ["smx_smoke", "smx_random"], {"x_on_output"}, {}),
    (DECISION, 6): ("stale", ["smx_reset"], {"unexpected_output"}, {}),
    (DECISION, 7): ("mask_ignored", ["smx_random"], {"data_mismatch"}, {}),
    (DECISION, 8): ("x_valid", ["smx_smoke"], {"control_x"}, {}),
    (DECISION, 9): ("lost_input", ["smx_backpressure"], {"missing_output"}, {"missing_output": LOST}),
    (TOPK, 1): ("lane_lsb", ["smx_random"], {"data_mismatch"}, {}),
    (TOPK, 3): ("drop", ["smx_random"], {"missing_output"}, {"missing_output": DROPS}),
    (TOPK, 5): ("x_data", ["smx_smoke"], {"x_on_output"}, {}),
    (TOPK, 7): ("mask_ignored", ["smx_random"], {"data_mismatch"}, {}),
    (DIVIDE, 1): ("lane_lsb", ["smx_random"], {"data_mismatch"}, {}),
    (DIVIDE, 3): ("drop", ["smx_random"], {"missing_output"}, {"missing_output": DROPS}),
    (DIVIDE, 9): ("lost_input", ["smx_backpressure"], {"missing_output"}, {"missing_output": LOST}),
}


def _assert_caught(s: dict, name: str, expected: set[str], counts: dict[str, int] | None = None) -> None:
    """The verdict comes from the harness's checker (CHECK=harness); the failing tests are then
    rerun with CHECK=monitors and the scoreboard's aligner names the fault (s["diagnosis"]): both
    checkers must fail, and the diagnosis must say what the fault is."""
    assert not s["passed"], f"fault {name} was not caught: {s['tests']}"
    assert s["check"] == "harness" and s["errors"], f"fault {name}: the harness's checker reported nothing"
    diag = s.get("diagnosis")
    assert diag and diag["check"] == "monitors", f"fault {name}: no CHECK=monitors diagnosis: {s.keys()}"
    assert not diag["passed"], f"fault {name}: the CHECK=monitors rerun passed: {diag}"
    errors = diag["errors"]
    missing = expected - set(errors)
    assert not missing, f"fault {name}: expected error kinds {sorted(missing)} not reported; got {errors}"
    for kind, n in (counts or {}).items():
        assert errors[kind] == n, f"fault {name}: {n} {kind} expected (one per fault), got {errors}"
    if counts:      # a lost or repeated vector is not also reported as wrong data
        assert "data_mismatch" not in errors, f"fault {name}: the scoreboard did not resynchronise: {errors}"


@pytest.mark.parametrize("config, mutant", [
    pytest.param(c, m, id=f"{c}-{v[0]}", marks=pytest.mark.xdist_group(f"mutant-{c}-{m}"))
    for (c, m), v in PORT_FAULTS.items()])
def test_port_fault_is_caught(config, mutant, tmp_path):
    name, tests, expected, counts = PORT_FAULTS[(config, mutant)]
    s = run(config, "icarus", seed=7, tests=tests, profile="quick", results_root=tmp_path,
            mutant=mutant, plan_override=SMALL, log=lambda *a: None)
    _assert_caught(s, f"{config}/{name}", expected, counts)
    # a failure names the seed and the command that reruns it
    assert "SEED=7" in s["rerun"]


# name: (configuration, RTL file, text replaced (exactly once), replacement, tests, error kinds)
RTL_FAULTS = {
    # the top-K merge keeps the lower subtree's list and ignores the upper one (lanes 8, 9)
    "topk_merge_ignores_upper": (TOPK, "sm_topk_tree.v", "(u >= v) ? u : v", "u",
                                 ["smx_random"], {"data_mismatch"}),
    # the leading-one detector never looks at the top exponent of the sum (S >= 4 ONE: ties)
    "ln_top_exponent_missed": (TOPK, "sm_ln_lookup.v", "for (b = 1; b < E; b = b + 1)",
                               "for (b = 1; b < E - 1; b = b + 1)", ["smx_corners"], {"data_mismatch"}),
    # the divider truncates instead of rounding to nearest
    "divide_truncates": (DIVIDE, "sm_div_lanes.v", "+ {{(NUM_W - SUM_W + 1){1'b0}}, s[SUM_W-1:1]}",
                         "+ {NUM_W{1'b0}}", ["smx_random"], {"data_mismatch"}),
}


def planted_rtl(folder, file: str, old: str, new: str) -> str:
    """A copy of rtl/*.v with one edit; the SMX_RTL value that selects it."""
    folder.mkdir()
    for p in sorted(RTL_DIR.glob("*.v")):
        shutil.copy(p, folder / p.name)
    target = folder / file
    text = target.read_text()
    assert text.count(old) == 1, f"{file}: the planted fault expects {old!r} exactly once (the RTL changed?)"
    target.write_text(text.replace(old, new))
    return ":".join(str(p) for p in sorted(folder.glob("*.v")))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(f"rtlfault-{n}"))
                                  for n in RTL_FAULTS])
def test_rtl_fault_is_caught(name, tmp_path, monkeypatch):
    config, file, old, new, tests, expected = RTL_FAULTS[name]
    monkeypatch.setenv("SMX_RTL", planted_rtl(tmp_path / "rtl", file, old, new))
    s = run(config, "icarus", seed=7, tests=tests, profile="quick", results_root=tmp_path / "results",
            build_root=tmp_path / "build", plan_override=SMALL, log=lambda *a: None)
    _assert_caught(s, name, expected)
    # the rerun command reproduces the run on the planted RTL, not on the bundled one
    assert "SMX_RTL=" in s["rerun"], s["rerun"]


def test_a_dut_that_stops_taking_inputs_is_reported_with_what_it_took(tmp_path, monkeypatch):
    """in_ready falls for good after 300 cycles while the unit goes on taking what in_valid
    holds: the block cannot finish (a protocol timeout, not a hang; nor a drain that never ends
    while the unit streams outputs), those outputs have no accepted input (unexpected), and the
    vectors accepted before are judged: the verdict says how far the run got."""
    stuck = ("    reg [15:0] smx_age = 0;\n"
             "    always @(posedge clk) smx_age <= (smx_age == 16'hffff) ? smx_age : smx_age + 16'd1;\n"
             "    assign in_ready  = en && (smx_age < 16'd300);")
    monkeypatch.setenv("SMX_RTL", planted_rtl(tmp_path / "rtl", "softmax_unit.v", "    assign in_ready  = en;", stuck))
    s = run(DECISION, "icarus", seed=7, tests=["smx_random"], profile="quick", results_root=tmp_path / "results",
            build_root=tmp_path / "build", plan_override=SMALL, log=lambda *a: None)
    _assert_caught(s, "in_ready_stuck", {"protocol_timeout", "unexpected_output"})
    assert {"protocol_timeout", "unexpected_output"} <= set(s["errors"]), s["errors"]
    assert 0 < s["vectors"] < SMALL["smx_random"]["vectors"], s["vectors"]
