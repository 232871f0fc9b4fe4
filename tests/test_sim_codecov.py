"""RTL code coverage (Verilator --coverage-line --coverage-toggle, annotated by
verilator_coverage) of every configuration. Regression only: tests/conftest.py collects this
module with --smx-profile full (`make regression`); `make sim COVERAGE=1` runs it by hand."""
from __future__ import annotations

import pytest

from tb.run import configs_by_cost, format_summary, run

CONFIGS = configs_by_cost()


@pytest.mark.parametrize("config", [pytest.param(c, marks=pytest.mark.xdist_group(f"{c}-verilator-cov"))
                                    for c in CONFIGS])
def test_code_coverage(config, smx_seed):
    # seed + 1: a second randomisation of the uninitialised state on Verilator (docs/verification.md)
    s = run(config, "verilator", seed=smx_seed + 1, profile="quick", coverage=True, log=lambda *a: None)
    assert s["passed"], format_summary(s)
    cc = s["code_coverage"]
    assert cc.get("points", 0) > 0, f"verilator_coverage gave no total: {cc}"
