"""The environment's checks can fail: each test wraps the real softmax_unit in one fault of
tb/hdl/smx_mutant.v and requires the run to fail with the scoreboard error that the fault
must cause (Icarus: 4-state, so the X faults are visible; small vector counts)."""
from __future__ import annotations

import pytest

from tb.run import run

CONFIG = "paper_n10_decision"
SMALL = {"smx_smoke": {"vectors": 256}, "smx_random": {"vectors": 1024},
         "smx_backpressure": {"vectors": 512}, "smx_reset": {"vectors": 128, "resets": 2}}

# mutant number: (name, tests to run, error kinds that must all be reported)
MUTANTS = {
    1: ("lane_lsb", ["smx_random"], {"data_mismatch"}),
    2: ("argmax_high", ["smx_corners"], {"argmax_mismatch", "argmax_vs_softmax_quantized"}),
    3: ("drop", ["smx_random"], {"data_mismatch", "missing_output"}),
    4: ("duplicate", ["smx_random"], {"data_mismatch", "unexpected_output"}),
    5: ("x_data", ["smx_smoke", "smx_random"], {"x_on_output"}),
    6: ("stale", ["smx_reset"], {"output_before_input"}),
    7: ("mask_ignored", ["smx_random"], {"data_mismatch"}),
    8: ("x_valid", ["smx_smoke"], {"control_x"}),
    9: ("lost_input", ["smx_backpressure"], {"missing_output", "data_mismatch"}),
}


@pytest.mark.parametrize("mutant", [pytest.param(k, id=v[0], marks=pytest.mark.xdist_group(f"mutant{k}"))
                                    for k, v in MUTANTS.items()])
def test_mutant_is_caught(mutant, tmp_path):
    name, tests, expected = MUTANTS[mutant]
    s = run(CONFIG, "icarus", seed=7, tests=tests, profile="quick", results_root=tmp_path,
            mutant=mutant, plan_override=SMALL, log=lambda *a: None)
    assert not s["passed"], f"mutant {name} was not caught: {s['tests']}"
    missing = expected - set(s["errors"])
    assert not missing, f"mutant {name}: expected error kinds {sorted(missing)} not reported; got {s['errors']}"
    # a failure names the seed and the command that reruns it
    assert "SEED=7" in s["rerun"]
