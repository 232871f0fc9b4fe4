"""Simulation regression: every configuration on Icarus and Verilator, all cocotb tests of a
configuration in one simulator run (tb/run.py). `make test` uses the quick vector counts,
`make regression` the full ones (--smx-profile full) and adds Verilator code coverage
(tests/test_sim_codecov.py, collected with --smx-profile full only).

Each (configuration, simulator) is one xdist group, so one worker builds and runs it; the
builds are reused across pytest runs (build/<config>/<sim>/, keyed by a hash of the sources).

Normalising units at N >= 1000 (a thousand lanes through two or three look-ups and a 1000-term
sum) take minutes per run even with the quick counts (imagenet_n1000_full: 885 s on Icarus), so
they are marked `regression_only`: `make regression` runs them, `make test` does not collect them
(tests/conftest.py). The model tests cover them in both.
"""
from __future__ import annotations

import pytest

from models.config import load_config
from tb.run import configs_by_cost, format_summary, results_root_default, run

SIMS = ("verilator", "icarus")
# the most expensive first, so that the two workers finish together
CONFIGS = configs_by_cost()


def regression_only(config: str) -> bool:
    cfg = load_config(config)
    return cfg.n >= 1000 and cfg.k > 1


def _params(sims=SIMS):
    return [pytest.param(c, s, id=f"{c}-{s}", marks=[pytest.mark.xdist_group(f"{c}-{s}")]
                         + ([pytest.mark.regression_only] if regression_only(c) else []))
            for c in CONFIGS for s in sims]


def _failure_text(s: dict) -> str:
    lines = [format_summary(s)]
    for t, r in s["tests"].items():
        if r["status"] != "passed":
            lines.append(f"{t}: {r['status']}; rerun: {r.get('rerun')}")
    return "\n".join(lines)


@pytest.mark.parametrize("config,sim", _params())
def test_sim(config, sim, smx_profile, smx_seed, request):
    # several seeds (the nightly profile): one results folder per seed
    root = results_root_default() / f"seed{smx_seed}" if request.config.getoption("--smx-seeds") > 1 else None
    s = run(config, sim, seed=smx_seed, profile=smx_profile, results_root=root, log=lambda *a: None)
    assert s["vectors"] > 0, _failure_text(s)
    assert s["passed"], _failure_text(s)
    # the replay test ran on every configuration that a bundled dump fits
    assert s["dumps"], _failure_text(s)
