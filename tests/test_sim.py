"""Simulation regression: every configuration on Icarus and Verilator, all cocotb tests of a
configuration in one simulator run (tb/run.py). `make test` uses the quick vector counts,
`make regression` the full ones (--smx-profile full) and adds Verilator code coverage
(tests/test_sim_codecov.py, collected with --smx-profile full only).

Each (configuration, simulator) is one xdist group, so one worker builds and runs it; the
builds are reused across pytest runs (build/<config>/<sim>/, keyed by a hash of the sources).
"""
from __future__ import annotations

import pytest

from tb.run import configs_by_cost, format_summary, run

SIMS = ("verilator", "icarus")
# the most expensive first, so that the two workers finish together
CONFIGS = configs_by_cost()


def _params(sims=SIMS):
    return [pytest.param(c, s, id=f"{c}-{s}", marks=pytest.mark.xdist_group(f"{c}-{s}"))
            for c in CONFIGS for s in sims]


def _failure_text(s: dict) -> str:
    lines = [format_summary(s)]
    for t, r in s["tests"].items():
        if r["status"] != "passed":
            lines.append(f"{t}: {r['status']}; rerun: {r.get('rerun')}")
    return "\n".join(lines)


@pytest.mark.parametrize("config,sim", _params())
def test_sim(config, sim, smx_profile, smx_seed):
    s = run(config, sim, seed=smx_seed, profile=smx_profile, log=lambda *a: None)
    assert s["vectors"] > 0, _failure_text(s)
    assert s["passed"], _failure_text(s)
    # the replay test ran on every configuration that a bundled dump fits
    assert s["dumps"], _failure_text(s)
