"""Run settings handed from the launcher (tb/run.py) to the cocotb process through environment
variables. One place reads them; everything else asks this module."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from models.config import SoftmaxConfig, load_config


@dataclass(frozen=True)
class Settings:
    config: str                # name or path, as given
    sim: str
    results: Path              # results/<config>/<sim>/
    dumps: tuple[Path, ...]    # dumps to replay (empty: none fit / none bundled)
    plan: dict = field(default_factory=dict)   # per-test knobs: {"smx_random": {"vectors": ..}, ..}
    rerun: str = ""            # the command that reruns this configuration (test name appended)
    seed: int = 0              # the run's seed (make sim SEED=): with a test's sequence names it
                               # determines all of that test's stimulus
    model: str = "numpy"       # the scoreboard's reference: "numpy" (models.datapath) or "fxp"
                               # (models.fxp_reference, the equation-by-equation fxpmath model)
    check: str = "harness"     # where outputs are compared (tb/protocol.py CHECKS): in the harness,
                               # or by the scoreboard on everything the monitors recorded

    @property
    def cfg(self) -> SoftmaxConfig:
        return _cfg(self.config)

    def knobs(self, test: str) -> dict:
        if test not in self.plan:
            raise KeyError(f"no run plan for test '{test}' (SMX_PLAN has {sorted(self.plan)})")
        return self.plan[test]

    def rerun_command(self, test: str, seed: int) -> str:
        return f"{self.rerun} SEED={seed} TEST={test}"


@lru_cache(maxsize=8)
def _cfg(name: str) -> SoftmaxConfig:
    return load_config(name)


def from_env() -> Settings:
    def need(key: str) -> str:
        v = os.environ.get(key)
        if not v:
            raise RuntimeError(f"environment variable {key} is not set: launch the simulation "
                               f"through tb/run.py (make sim / pytest tests/test_sim.py)")
        return v
    dumps = tuple(Path(p) for p in os.environ.get("SMX_DUMPS", "").split(os.pathsep) if p)
    return Settings(config=need("SMX_CONFIG"), sim=need("SMX_SIM"), results=Path(need("SMX_RESULTS")),
                    dumps=dumps, plan=json.loads(need("SMX_PLAN")), rerun=os.environ.get("SMX_RERUN", ""),
                    seed=int(need("SMX_SEED")), model=os.environ.get("SMX_MODEL", "numpy"),
                    check=os.environ.get("SMX_CHECK", "harness"))
