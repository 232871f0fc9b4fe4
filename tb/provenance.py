"""What produced a run: content hashes of every source, the configuration and the tables, the
tool versions, the seed and the command. Written into summary.json, and compared by the reports
and the regression before they quote a run (`matches`)."""
from __future__ import annotations

import platform
import shlex
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from models.config import SoftmaxConfig
from models.dumps import dump_sha256 as sha256      # one file hash for dumps, sources and tables

from .simulators import simulator

PACKAGES = ("cocotb", "pyuvm", "numpy", "cocotb-coverage", "fxpmath")


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def collect(cfg: SoftmaxConfig, sim: str, seed: int, sources: list[Path], table_dir: Path,
            dumps: list[Path], rerun: str) -> dict:
    cfg_path = Path(cfg.source)
    return {
        "rtl": {str(p): sha256(p) for p in sources},
        "config": {"path": str(cfg_path), "sha256": sha256(cfg_path) if cfg_path.is_file() else None,
                   "fields": cfg.to_dict()},
        "tables": {p.name: sha256(p) for p in sorted(Path(table_dir).iterdir()) if p.is_file()},
        "dumps": {str(p): sha256(p) for p in dumps},
        "tools": {"simulator": simulator(sim).version, "python": platform.python_version(),
                  **{p: _pkg(p) for p in PACKAGES}},
        "seed": seed,
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "rerun": rerun,
    }


def current_rtl(sources: list[Path]) -> dict[str, str]:
    return {str(p): sha256(p) for p in sources}


def mismatch(prov: dict | None, sources: list[Path], cfg: SoftmaxConfig) -> str | None:
    """Why a recorded run does not describe the current RTL and configuration (None if it does)."""
    if not prov:
        return "the run recorded no provenance"
    if prov.get("rtl") != current_rtl(sources):
        return "it simulated other RTL sources (content differs)"
    cfg_path = Path(cfg.source)
    if cfg_path.is_file() and prov.get("config", {}).get("sha256") != sha256(cfg_path):
        return "it used another configuration file (content differs)"
    return None
