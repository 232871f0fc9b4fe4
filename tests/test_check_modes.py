"""CHECK=harness (outputs compared in the harness, only differences logged) and CHECK=monitors
(every handshake logged and compared by the scoreboard) are two implementations of check 1; on
the same seed they must see the same run. Faults are in tests/test_sim_mutants.py: each must
fail the harness's checker and be named by the monitors' rerun (the diagnosis)."""
from __future__ import annotations

import pytest

from tb.run import run

PLAN = {"smx_random": {"vectors": 2048}, "smx_backpressure": {"vectors": 512},
        "smx_reset": {"vectors": 256, "resets": 3}, "smx_corners": {"repeats": 1}}
SAME = ("vectors", "mismatches", "argmax_agreement_quantized", "argmax_agreement_float", "mse_mean", "mse_max",
        "coverage_percent", "coverage_holes")


@pytest.mark.parametrize("sim", [pytest.param(s, marks=pytest.mark.xdist_group(f"checks-{s}"))
                                 for s in ("icarus", "verilator")])
def test_both_checkers_see_the_same_run(sim, tmp_path):
    runs = {c: run("paper_n10_top4", sim, seed=11, tests=list(PLAN), profile="quick", plan_override=PLAN,
                   results_root=tmp_path / c, log=lambda *a: None, check=c) for c in ("harness", "monitors")}
    h, m = runs["harness"], runs["monitors"]
    assert h["passed"] and m["passed"], (h["tests"], m["tests"])
    assert h["check"] == "harness" and m["check"] == "monitors"
    assert "diagnosis" not in h
    for key in SAME:
        assert h[key] == m[key], f"{key}: harness {h[key]} vs monitors {m[key]}"
    for t in PLAN:
        assert h["tests"][t]["vectors"] == m["tests"][t]["vectors"] > 0, t
    # the reset test drops vectors in flight: both checkers account for the same ones
    assert h["vectors"] > 2048
    # CHECK=harness logged no handshake: its output log holds only reset markers and drops
    out_log = (tmp_path / "harness" / "paper_n10_top4" / sim / "work" / "out.log").read_text().splitlines()
    assert out_log and {ln[0] for ln in out_log} <= {"R", "D"}, sorted({ln[0] for ln in out_log})
    assert "CHECK=harness" not in h["rerun"] and "CHECK=monitors" in m["rerun"]
