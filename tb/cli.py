"""`smx`: the project's one command. Each subcommand is a module's own `main(argv)`; the make
targets are thin wrappers around these (README, "More").

    smx sim --config paper_n10_decision --sim icarus      (make sim)
    smx <subcommand> --help                               the options of each
"""
from __future__ import annotations

import importlib
import subprocess
import sys

# subcommand -> (module with main(argv), what it does)
COMMANDS = {
    "sim": ("tb.run", "one configuration on one simulator: every test, a summary (make sim)"),
    "design": ("tb.byo.run", "verify your own unit from its design file (make sim DESIGN=...)"),
    "stream": ("tb.stream.run", "the streaming unit's environment (make sim-stream)"),
    "report": ("scripts.report", "accuracy reports per dump x configuration (make report)"),
    "area-report": ("scripts.report_area", "area tables and the paper's area check (make area-check)"),
    "sweep": ("scripts.sweep", "design-space sweep: MSE, area, Pareto front (make sweep)"),
    "peer": ("scripts.peer_hls4ml", "hls4ml's softmax beside ours (make peer)"),
    "capture": ("scripts.capture_logits", "capture logits from a model (make data)"),
    "import": ("scripts.import_dump", "import a dump from another tool (make import-dump)"),
    "synth": ("scripts.synth_area", "Yosys area of a configuration (make synth)"),
    "timing": ("scripts.timing", "standard-cell area and timing (make timing)"),
    "lint": ("scripts.synth_lint", "lint every configuration (make lint)"),
    "mutants": ("scripts.mutants", "mutation score of the testbench (make mutants)"),
    "coverage-merge": ("tb.coverage", "merge functional coverage of several runs"),
    "regression-merge": ("scripts.regression_merge", "merge the results of regression shards (docs/regression.md)"),
    "dask-regression": ("scripts.dask_regression", "run the regression's shards on a Dask cluster"),
}


def _regression(argv: list[str]) -> int:
    """The regression is pytest over tests/test_sim*.py (make regression)."""
    cmd = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
           "tests/test_sim.py", "tests/test_sim_codecov.py", "tests/test_sim_shapes.py", "--smx-profile", "full", *argv]
    return subprocess.call(cmd)


def usage() -> str:
    width = max(map(len, COMMANDS)) + 2
    lines = ["usage: smx <subcommand> [options]   (smx <subcommand> --help)", "", "subcommands:"]
    lines += [f"  {name:<{width}}{what}" for name, (_, what) in COMMANDS.items()]
    lines.append(f"  {'regression':<{width}}every configuration on both simulators (pytest; make regression)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "regression":
        return _regression(rest)
    if name not in COMMANDS:
        print(f"smx: unknown subcommand '{name}'\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
