"""Streaming unit figures for docs/stream.md: area (Yosys generic cells, the flow of
scripts/synth_area.py), cycles per row beside the parallel unit, and simulation speed.

    .venv/bin/python -m bench.bench_stream area --config attn_p4_n64_full [--keep-rowbuf] [--set field=value ...]
    .venv/bin/python -m bench.bench_stream speed --config attn_p4_n64_full --sim icarus [--parallel attn_n64_full]
    .venv/bin/python -m bench.bench_stream rescale --config attn_p8_n4096_full
    .venv/bin/python -m bench.bench_stream accuracy --config attn_p4_n64_full --parallel attn_n64_full

area: the unit alone (sm_stream_unit), every parameter from StreamUnit.rtl_parameters();
--keep-rowbuf leaves the row buffer as one memory cell (an SRAM macro: its bits are reported,
not costed) and maps everything else, the exp/sum/ln ROMs included, to gates. --set changes
fields of the configuration (validated as a file would be), e.g. the K = N unit of a top-K
configuration's formats: --set variant=full k=0 sum_guard_bits=12 sum_exp_range=32.
rescale: the extra block an online running max would add (rtl/stream/sm_stream_rescale.v).
speed: the MiniLM rows (or --dump) at their real lengths through tb.stream (rows/s, cycles/row);
with --parallel, the same rows through the parallel unit's environment in the same run.
Writes results/stream/<name>/area.json or speed_<sim>.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import tomllib

from models.stream import StreamConfig, StreamUnit, load_stream_config, stream_config_from_dict
from scripts.synth_common import REPO, run, yosys_cmd, yosys_env
from tb.build import verilog_value
from tb.stream.build import RESCALE_PARAMS, RESCALE_TOP, UNIT_TOP, prepare, unit_sources

RESULTS = REPO / "results" / "stream"


RESCALE = REPO / "rtl" / "stream" / f"{RESCALE_TOP}.v"


def yosys_script(unit: StreamUnit, table_dir: Path, out_dir: Path, keep_rowbuf: bool,
                 top: str = UNIT_TOP) -> str:
    params = unit.rtl_parameters(table_dir)
    if top != UNIT_TOP:
        params = {k: params[k] for k in RESCALE_PARAMS}
    params = " ".join(f"-set {k} {verilog_value(v)}" for k, v in params.items())
    srcs = " ".join(str(p) for p in (unit_sources() if top == UNIT_TOP else [RESCALE]))
    if keep_rowbuf:
        # synth's own steps, with every memory but the row buffer mapped to gates
        body = [f"synth -flatten -nordff -top {top} -run :fine", "opt -fast -full",
                "memory_map t:$mem_v2 n:*rowbuf* %d", "opt -full", "techmap", "opt -fast",
                "abc", "opt -fast"]
    else:
        body = [f"synth -flatten -nordff -top {top}"]
    return "\n".join([f"read_verilog -defer {srcs}", f"chparam {params} $abstract\\{top}",
                      f"hierarchy -check -top {top}", *body, "delete t:$scopeinfo",
                      "dfflegalize -cell $_DFF_P_ x", "opt_clean",
                      f"tee -q -o {out_dir / 'stat.json'} stat -json",
                      f"tee -q -o {out_dir / 'stat_cmos.json'} stat -json -tech cmos", ""])


def configured(name: str, changes: list[str] | None = None) -> StreamConfig:
    """A configuration by name, with `field=value` changes (TOML values) validated as a file
    would be; the changed unit is named <name>+<field>=<value>... so its results stand apart."""
    cfg = load_stream_config(name)
    if not changes:
        return cfg
    data = {f: getattr(cfg, f) for f in StreamConfig.__dataclass_fields__ if f not in ("name", "source")}
    for ch in changes:
        field, sep, value = ch.partition("=")
        if not sep or field not in data:
            raise SystemExit(f"--set {ch!r}: expected field=value with a field of StreamConfig")
        try:
            data[field] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:          # a bare word: a string (variant=full)
            data[field] = value
    return stream_config_from_dict(data, source=f"{name} with --set", name=name + "+" + "+".join(changes))


def area(name: str, keep_rowbuf: bool, top: str = UNIT_TOP, changes: list[str] | None = None) -> dict:
    unit = StreamUnit(configured(name, changes))
    name = unit.cfg.name
    tag = "synth-rescale" if top != UNIT_TOP else "synth-keep" if keep_rowbuf else "synth"
    out_dir = REPO / "build" / "stream" / name / tag
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = unit.write_tables(out_dir / "tables")
    script = out_dir / "synth.ys"
    script.write_text(yosys_script(unit, tables["exp"].parent, out_dir, keep_rowbuf, top))
    res, sec = run([*yosys_cmd(), "-q", "-l", str(out_dir / "yosys.log"), "-s", str(script)], env=yosys_env())
    if res.returncode != 0:
        raise RuntimeError(f"yosys failed; see {out_dir / 'yosys.log'}:\n{res.stderr[-2000:]}")
    st = next(iter(json.loads((out_dir / "stat.json").read_text())["modules"].values()))
    cm = next(iter(json.loads((out_dir / "stat_cmos.json").read_text())["modules"].values()))
    by = st["num_cells_by_type"]
    c = unit.cfg
    out = {"config": name, "top": top, "cells": int(st["num_cells"]), "flops": sum(int(v) for k, v in by.items() if "DFF" in k),
           "transistors": str(cm.get("estimated_num_transistors")), "seconds": round(sec, 1),
           "flow": script.read_text().splitlines()[2:-3]}
    if top == UNIT_TOP:
        out["row_buffer_bits"] = c.beats_max * c.p * (c.width + 2)
        out["row_buffer"] = "memory cell (not costed)" if keep_rowbuf else "flip-flops"
    dest = RESULTS / name
    dest.mkdir(parents=True, exist_ok=True)
    fname = "area_rescale.json" if top != UNIT_TOP else "area_keep_rowbuf.json" if keep_rowbuf else "area.json"
    (dest / fname).write_text(json.dumps(out, indent=2) + "\n")
    return out


def parallel_speed(parallel: str, sim: str, dump: Path | None = None) -> dict:
    """The parallel unit's own environment (tb.run, pyuvm on cocotb) replaying the same rows
    (default MiniLM, padded to 64 lanes), built and written under build/stream/parallel-ref/."""
    from tb.run import run as run_parallel
    from tb.stream.run import DEFAULT_DUMP
    root = REPO / "build" / "stream" / "parallel-ref"
    t0 = time.perf_counter()
    s = run_parallel(parallel, sim, seed=1, tests=["smx_replay"], dumps=[str(dump or DEFAULT_DUMP)],
                     results_root=root / "results", build_root=root / "build", log=lambda *a: None)
    t = s["tests"]["smx_replay"]
    return {"config": parallel, "sim": sim, "rows": t["vectors"], "passed": t["status"] == "passed",
            "test_wall_s": t["wall_s"], "rows_per_s": t["vectors_per_s"],
            "total_wall_s_with_build": round(time.perf_counter() - t0, 1)}


def speed(name: str, sim: str, dump: Path | None = None) -> dict:
    from tb.stream.run import DEFAULT_DUMP, real_rows, run_block
    unit = StreamUnit(load_stream_config(name))
    build = prepare(unit, sim)
    dump = dump or DEFAULT_DUMP
    block = real_rows(unit, dump, None)
    t0 = time.perf_counter()
    res = run_block(build, block, np.ones(1, bool), None)
    wall = time.perf_counter() - t0
    n = block.rows.length
    out = {"config": name, "sim": sim, "dump": dump.name, "rows": int(n.size), "values": int(n.sum()), "passed": res["passed"],
           "sim_wall_s": round(res["wall_s"], 2), "total_wall_s": round(wall, 2),
           "rows_per_s": round(n.size / wall, 1), "cycles": res["cycles"],
           "cycles_per_row_mean": round(res["cycles"] / n.size, 2),
           "model_cycles_per_row_mean": float(np.mean([unit.cycles_per_row(int(k)) for k in n]))}
    dest = RESULTS / name
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"speed_{sim}_{dump.stem}.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def _errors(y: np.ndarray, ref: np.ndarray, live: np.ndarray) -> dict:
    """MSE per row over its live lanes (mean and max over the rows) and the largest |error|."""
    mse = ((y - ref) ** 2 * live).sum(axis=1) / live.sum(axis=1)
    return {"mse_mean": float(mse.mean()), "mse_max": float(mse.max()), "max_abs": float(np.abs(y - ref)[live].max())}


def _float_argmax(d, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The argmax of the original floats, and the rows whose float top two quantise to one code:
    ties the unit cannot resolve (it reports the lowest index among equal codes)."""
    top2 = np.argsort(-np.where(d.mask, d.logits, -np.inf), axis=1)[:, :2]
    r = np.arange(len(codes))
    return top2[:, 0], codes[r, top2[:, 0]] == codes[r, top2[:, 1]]


def accuracy(name: str, parallel: str, dump: Path | None = None) -> dict:
    """The same real rows (default: MiniLM) through the parallel unit's model (padded, masked) and the stream
    unit's (at their real lengths): error against float softmax of the quantised rows and of
    the original floats. Both models are bit-exact to their RTL (their own test benches)."""
    from models.config import load_config
    from models.datapath import run_model
    from models.dumps import load_dump
    from models.quantize import quantize
    from models.reference import softmax
    from models.stream import unpad
    from tb.stream.run import DEFAULT_DUMP
    unit, par = StreamUnit(load_stream_config(name)), load_config(parallel)
    dump = dump or DEFAULT_DUMP
    d = load_dump(dump)
    codes, _ = quantize(unit.cfg, d.logits, d.mask)
    pcodes, _ = quantize(par, d.logits, d.mask)
    rows = unit.rows(*unpad(codes, d.mask))
    live = rows.live
    sres, pres = unit.run(rows), run_model(par, pcodes, d.mask)
    outs = {"stream:" + name: sres.y / unit.cfg.one, "parallel:" + parallel: pres.y / par.one}
    argmaxes = {"stream:" + name: sres.argmax, "parallel:" + parallel: pres.argmax}
    refs = {"softmax_quantised": softmax(codes * 2.0 ** -unit.cfg.in_frac_bits, live),
            "softmax_float": softmax(d.logits, d.mask)}
    if unit.cfg.variant == "topk":          # eq. 30 itself (the K largest terms normalise): the unit's own error
        refs["eq30_topk_quantised"] = unit.ideal(rows)
    top1, tie = _float_argmax(d, codes)
    res = {"dump": dump.name, "rows": int(live.shape[0]), "lengths": [int(rows.length.min()), int(rows.length.max())],
           "float_top2_tied_by_quantisation": int(tie.sum())}
    quantised_top1 = np.where(live, codes, unit.cfg.code_min - 1).argmax(axis=1)
    for k, y in outs.items():
        for rk, ref in refs.items():
            res[f"{k} vs {rk}"] = _errors(y, ref, live)
        agree = argmaxes[k] == top1
        res[f"{k} argmax"] = {"agrees_with_float": int(agree.sum()),
                              "disagreements_not_quantisation_ties": int((~agree & ~tie).sum()),
                              "agrees_with_quantised": int((argmaxes[k] == quantised_top1).sum())}
    res["identical_outputs"] = bool(np.array_equal(outs["stream:" + name], outs["parallel:" + parallel]))
    (RESULTS / name).mkdir(parents=True, exist_ok=True)
    (RESULTS / name / f"accuracy_vs_{parallel}_{dump.stem}.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("area", "rescale", "speed", "accuracy"))
    ap.add_argument("--parallel", default="", help="accuracy (required) / speed (optional): the parallel "
                                                 "configuration to compare with, e.g. attn_n64_full")
    ap.add_argument("--config", required=True)
    ap.add_argument("--sim", default="icarus", choices=("icarus", "verilator"))
    ap.add_argument("--keep-rowbuf", action="store_true")
    ap.add_argument("--set", nargs="+", default=None, metavar="FIELD=VALUE", help="area: change fields")
    ap.add_argument("--dump", type=Path, default=None, help="accuracy, speed: real rows (default: the MiniLM dump)")
    a = ap.parse_args(argv)
    if a.set and a.what != "area":
        ap.error(f"--set changes the unit that `area` synthesises; {a.what} takes the configuration as it is")
    if a.what == "speed":
        out = {"stream": speed(a.config, a.sim, a.dump)}
        if a.parallel:
            out["parallel"] = parallel_speed(a.parallel, a.sim, a.dump)
            out["stream_over_parallel_rows_per_s"] = round(out["stream"]["rows_per_s"] / out["parallel"]["rows_per_s"], 2)
    elif a.what == "accuracy":
        if not a.parallel:
            ap.error("accuracy needs --parallel <configuration>")
        out = accuracy(a.config, a.parallel, a.dump)
    else:
        out = area(a.config, a.keep_rowbuf, UNIT_TOP if a.what == "area" else RESCALE_TOP, a.set)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
