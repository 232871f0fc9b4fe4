#!/usr/bin/env python3
"""Lint and compile softmax_unit for configurations: `verilator --lint-only -Wall` and
`iverilog -g2005 -Wall` (elaboration included). Any warning counts as a failure.

    scripts/synth_lint.py --all
    scripts/synth_lint.py --config paper_n10_top4 [--config path/to/point.toml ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


from models.config import ConfigError, list_configs
from scripts.synth_common import Prepared, ToolError, iverilog_compile, prepare, verilator_lint

CHECKS = {"verilator": verilator_lint, "iverilog": iverilog_compile}


def check(prep: Prepared, tool: str) -> tuple[bool, str, float]:
    """(clean, tool output, seconds). Clean means exit status 0 and no diagnostic printed.

    Verilator prints a statistics banner ('- V e r i l a t i o n   R e p o r t', '- Verilator:')
    on success; those lines are not diagnostics.
    """
    res, seconds = CHECKS[tool](prep)
    out = (res.stdout + res.stderr).strip()
    diag = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("- V")]
    return res.returncode == 0 and not diag, "\n".join(diag), seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", action="append", default=[],
                    help="configuration name or path to a .toml; repeatable")
    ap.add_argument("--all", action="store_true", help="every configuration in configs/")
    ap.add_argument("--tool", choices=sorted(CHECKS), action="append",
                    help="run only this tool (repeatable; default both)")
    args = ap.parse_args(argv)
    configs = list(args.config) + (list_configs() if args.all else [])
    if not configs:
        ap.error("give --config NAME|PATH (repeatable) or --all")
    tools = args.tool or sorted(CHECKS)
    failed = 0
    for c in configs:
        try:
            prep = prepare(c)
            for tool in tools:
                ok, diag, secs = check(prep, tool)
                print(f"{'ok  ' if ok else 'FAIL'} {tool:<9} {prep.cfg.name:<28} {secs:6.2f} s", flush=True)
                if not ok:
                    failed += 1
                    print(diag, flush=True)
        except (ConfigError, ToolError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    print(f"lint: {failed} failed" if failed else "lint: all clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
