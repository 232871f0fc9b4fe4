"""Run the streaming unit's verification: python -m tb.stream.run --config <name|toml> --sim icarus|verilator

Tests (each a block of rows through the stand-alone harness, every output bit checked against
models.stream): corners (lengths 1, N_MAX, every residue mod P, all-masked, ties), random rows
with masks, idle gaps and output backpressure, resets inside a row, and the real MiniLM
attention rows at their real lengths (--dump another .npz). Functional coverage of row lengths
and beat positions is collected with cocotb-coverage. Writes results/stream/<name>/<sim>/summary.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cocotb_coverage.coverage import CoverPoint, coverage_db

from models.dumps import load_dump
from models.quantize import quantize
from models.stream import Rows, StreamUnit, load_stream_config, unpad
from tb.build import REPO
from tb.stream.build import StreamBuild, prepare
from tb.stream.sim import Beats, simulate, to_beats

DEFAULT_DUMP = REPO / "data" / "minilm_attention_scores.npz"
RESULTS = REPO / "results" / "stream"


# ---- coverage -------------------------------------------------------------------------------------

def _length_bin(n: int, n_max: int) -> str:
    if n == 1:
        return "1"
    if n == n_max:
        return "n_max"
    return f"2^{(n - 1).bit_length() - 1}.."       # (2^k, 2^(k+1)]: 2..2, 3..4, 5..8, ...


class Coverage:
    """Coverpoints of one configuration (names prefixed by the config, so runs do not mix)."""
    _made = 0

    def __init__(self, unit: StreamUnit):
        c = unit.cfg
        lbins = ["1", "n_max"] + sorted({_length_bin(n, c.n_max) for n in range(2, c.n_max)})
        Coverage._made += 1                     # coverage_db is global: one prefix per instance
        pre = f"stream.{c.name}.{Coverage._made}"
        self.names = [f"{pre}.length", f"{pre}.residue", f"{pre}.stall_at", f"{pre}.gap_at",
                      f"{pre}.reset_at", f"{pre}.masked"]
        self.length = CoverPoint(self.names[0], xf=lambda n: _length_bin(n, c.n_max), bins=lbins)(lambda n: None)
        self.residue = CoverPoint(self.names[1], xf=lambda n: n % c.p, bins=list(range(c.p)))(lambda n: None)
        pos = ["first", "middle", "last"]
        self.stall_at = CoverPoint(self.names[2], bins=pos)(lambda w: None)
        self.gap_at = CoverPoint(self.names[3], bins=pos)(lambda w: None)
        self.reset_at = CoverPoint(self.names[4], bins=pos + ["after_last"])(lambda w: None)
        self.masked = CoverPoint(self.names[5], bins=["none", "some", "all"])(lambda w: None)
        # top-K: rows with fewer live lanes than K (the list partly empty), exactly K, more
        self.topk = None
        if c.variant == "topk":
            self.names.append(f"{pre}.live_vs_k")
            self.topk = CoverPoint(self.names[6], xf=lambda n: "fewer" if n < c.k else "exactly" if n == c.k else "more",
                                   bins=["fewer", "exactly", "more"])(lambda n: None)

    def report(self) -> dict:
        out = {}
        for n in self.names:
            cp = coverage_db[n]
            out[n.rsplit(".", 1)[1]] = {"coverage": cp.coverage, "size": cp.size,
                                        "missing": [str(b) for b, h in cp.detailed_coverage.items() if not h]}
        return out


def _positions(beat_in_row: np.ndarray, nb: np.ndarray) -> list[str]:
    return ["first" if b == 0 else "last" if b == n - 1 else "middle" for b, n in zip(beat_in_row, nb)]


def sample(cov: Coverage, unit: StreamUnit, rows: Rows, beats: Beats, checked: np.ndarray, out) -> None:
    """Coverage from what was driven and seen: lengths, masks, input gaps and output stalls at
    beat positions (a stall = an output beat shown while m_ready is low)."""
    for r in checked:
        n = int(rows.length[r])
        cov.length(n)
        cov.residue(n)
        live = rows.live[r, :n]
        cov.masked("all" if not live.any() else "none" if live.all() else "some")
        if cov.topk is not None:
            cov.topk(int(live.sum()))
    nb = np.bincount(beats.row, minlength=rows.length.size)[beats.row]
    first = np.r_[True, beats.row[1:] != beats.row[:-1]]
    bir = np.arange(beats.row.size) - np.maximum.accumulate(np.where(first, np.arange(beats.row.size), 0))
    for w in np.array(_positions(bir, nb))[beats.gap > 0]:
        cov.gap_at(str(w))
    if out.cycles.size > 1:
        ends = np.flatnonzero(out.last)
        row_of = np.searchsorted(ends, np.arange(out.cycles.size))
        start = np.r_[0, ends + 1][row_of]
        obir = np.arange(out.cycles.size) - start
        onb = (np.r_[ends, out.cycles.size - 1][row_of] - start) + 1
        waiting = np.searchsorted(out.cycles, out.stalls)       # the beat each stall holds
        waiting = waiting[waiting < out.cycles.size]
        for w in np.array(_positions(obir, onb))[np.unique(waiting)]:
            cov.stall_at(str(w))


# ---- stimulus -------------------------------------------------------------------------------------

@dataclass
class Block:
    name: str
    rows: Rows
    beats: Beats
    expected: np.ndarray      # indices of the rows that must come out, in order
    notes: tuple[str, ...] = ()


def random_codes(unit: StreamUnit, rng: np.random.Generator, m: int, lanes: int, scale: float = 3.0) -> np.ndarray:
    x = rng.normal(0.0, scale, (m, lanes)) * rng.choice([0.3, 1.0, 3.0], (m, 1))
    return quantize(unit.cfg, x)[0]


def corners(unit: StreamUnit, rng: np.random.Generator) -> Block:
    c = unit.cfg
    lengths = [1, 2, c.n_max, c.n_max - 1] + [min(c.n_max, c.p * k + r) for k in (1, 3) for r in range(1, c.p + 1)]
    m = len(lengths) + 3
    codes = random_codes(unit, rng, m, c.n_max)
    mask = np.ones(codes.shape, bool)
    length = np.array(lengths + [c.p + 1, 2 * c.p, 5], np.int64)
    mask[-3, :] = False                                   # all-masked row
    codes[-2, :] = 7                                      # all equal: the lowest index wins
    codes[-1, :5] = [c.code_min, c.code_max, c.code_max, c.code_min, 0]   # extremes, a tie at the top
    rows = unit.rows(codes, length, mask)
    return Block("corners", rows, to_beats(unit, rows), np.arange(m))


def random_rows(unit: StreamUnit, rng: np.random.Generator, m: int) -> Block:
    c = unit.cfg
    length = np.minimum(c.n_max, np.exp(rng.uniform(0, np.log(c.n_max + 1), m)).astype(np.int64) + 1)
    lanes = int(length.max())
    codes = random_codes(unit, rng, m, lanes)
    mask = (rng.random((m, lanes)) > 0.3) | (rng.random((m, 1)) > 0.2)    # 20% of rows masked
    rows = unit.rows(codes, length, mask)
    beats = to_beats(unit, rows)
    beats.gap[:] = np.where(rng.random(beats.gap.size) < 0.15, rng.integers(1, 4, beats.gap.size), 0)
    return Block("random", rows, beats, np.arange(m))


def reset_rows(unit: StreamUnit, rng: np.random.Generator, m: int) -> Block:
    """Pairs of rows: the first is cut by a reset, after its first, a middle or its last-but-one
    beat (input pass), or after its last beat and an idle gap shorter than its passes (sum or
    output pass); it may leave a partial output, never a whole row. The second must be exact."""
    from tb.stream.sim import take
    c = unit.cfg
    length = rng.integers(4 * c.p + 1, min(c.n_max, 8 * c.p) + 1, 2 * m)     # 5..8 beats
    codes = random_codes(unit, rng, 2 * m, int(length.max()))
    rows = unit.rows(codes, length)
    beats = to_beats(unit, rows)
    keep_idx, resets, gaps = [], [], []
    for r in range(0, 2 * m, 2):
        idx = np.flatnonzero(beats.row == r)
        b = len(idx)
        cut = [1, b // 2, b - 1, b][(r // 2) % 4]            # beats sent before the reset
        keep_idx += list(idx[:cut])
        resets.append(len(keep_idx))
        # after the last beat: no gap (the reset falls in the sum pass, or at the start of the
        # output pass for the decision unit), or one that ends 4 cycles before the last output
        left = unit.cycles_per_row(int(length[r])) - b
        gaps.append(0 if cut < b else [0, min(255, left - 4)][(r // 8) % 2])
        keep_idx += list(np.flatnonzero(beats.row == r + 1))
    out = take(beats, np.array(keep_idx))
    out.reset[resets] = True
    out.gap[resets] = gaps
    return Block("reset", rows, out, np.arange(1, 2 * m, 2))


def real_rows(unit: StreamUnit, path: Path, limit: int | None) -> Block:
    d = load_dump(path)
    codes, report = quantize(unit.cfg, d.logits, d.mask)
    codes, length = unpad(codes, d.mask)
    if limit:
        codes, length = codes[:limit], length[:limit]
    if length.max() > unit.cfg.n_max:
        raise ValueError(f"{path}: rows of up to {length.max()} values exceed N_MAX = {unit.cfg.n_max}")
    rows = unit.rows(codes, length)
    notes = (f"quantisation: {report.summary()}", *d.notes)
    return Block(f"real:{path.name}", rows, to_beats(unit, rows), np.arange(length.size), notes)


# ---- running ---------------------------------------------------------------------------------------

def chunks(block: Block, depth: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split a block's beats at row boundaries into runs of at most `depth` beats."""
    ends = np.flatnonzero(np.r_[block.beats.row[1:] != block.beats.row[:-1], True]) + 1
    out, start = [], 0
    while start < ends[-1]:
        fit = ends[ends - start <= depth]
        stop = int(fit[-1]) if fit.size and fit[-1] > start else int(ends[ends > start][0])
        rows_in = np.unique(block.beats.row[start:stop])
        out.append((np.arange(start, stop), block.expected[np.isin(block.expected, rows_in)]))
        start = stop
    return out


def _reset_position(unit: StreamUnit, rows: Rows, beats: Beats, i: int) -> str:
    """Where the reset before beat i falls in the row before it: after its first, a middle or
    its last-but-one beat (input pass), or after its last beat (sum or output pass)."""
    prev = beats.row[i - 1]
    if beats.last[i - 1]:
        return "after_last"
    sent = int((beats.row[:i] == prev).sum())
    full = int(-(-rows.length[prev] // unit.cfg.p))
    return "first" if sent == 1 else "last" if sent == full - 1 else "middle"


def run_block(build: StreamBuild, block: Block, ready: np.ndarray, cov: Coverage | None) -> dict:
    from tb.stream.sim import take
    unit = build.unit
    res = {"rows": 0, "rows_ok": 0, "beats": 0, "beats_cut": 0, "cycles": 0, "wall_s": 0.0, "kinds": {}, "mismatches": []}
    for idx, expected in chunks(block, build.stim_depth):
        beats = take(block.beats, idx)
        v, _, log_out, wall = simulate(build, block.rows, beats, expected, ready)
        if cov is not None:
            sample(cov, unit, block.rows, beats, expected, log_out)
            for i in np.flatnonzero(beats.reset):
                cov.reset_at(_reset_position(unit, block.rows, beats, int(i)))
        res["rows"] += v.rows_expected
        res["rows_ok"] += v.rows_ok
        res["beats"] += int(beats.row.size)
        res["cycles"] += int(log_out.cycles[-1]) if log_out.cycles.size else 0
        res["wall_s"] += wall
        res["beats_cut"] += v.beats_cut
        for k, n in v.kinds.items():
            res["kinds"][k] = res["kinds"].get(k, 0) + n
        res["mismatches"] += v.mismatches[: max(0, 10 - len(res["mismatches"]))]
    res["passed"] = not res["kinds"] and res["rows_ok"] == res["rows"]
    return res


def accuracy(unit: StreamUnit, rows: Rows) -> dict:
    """The unit's error against its ideal function (the model: the RTL matched it bit for bit)."""
    y = unit.run(rows).y / unit.cfg.one
    ref = unit.ideal(rows)
    live = rows.live
    se = np.where(live, (y - ref) ** 2, 0.0)
    mse = se.sum(axis=1) / np.maximum(live.sum(axis=1), 1)
    c = unit.cfg
    return {"rows": int(mse.size), "mse_vector_max": float(mse.max()), "mse_mean": float(mse.mean()),
            "max_abs_err": float(np.sqrt(se.max())),
            "within_bounds": bool(mse.max() <= c.mse_vs_ideal_vector_max and mse.mean() <= c.mse_vs_ideal_mean_max)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.stream.run", description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--sim", default="icarus", choices=("icarus", "verilator"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dump", type=Path, default=DEFAULT_DUMP, help="real rows (.npz, padded with a prefix mask)")
    ap.add_argument("--rows", type=int, default=64, help="random rows")
    ap.add_argument("--real-limit", type=int, default=0, help="replay only the first N real rows (0: all)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    try:
        unit = StreamUnit(load_stream_config(a.config))
    except ValueError as e:          # ConfigError included: one message naming the problem
        ap.error(str(e))
    rng = np.random.default_rng(a.seed)
    build = prepare(unit, a.sim)
    cov = Coverage(unit)
    backpressure = rng.random(97) < 0.7
    blocks = [(corners(unit, rng), backpressure), (random_rows(unit, rng, a.rows), backpressure),
              (reset_rows(unit, rng, 8), np.ones(1, bool))]
    if a.dump:
        blocks.append((real_rows(unit, a.dump, a.real_limit or None), np.ones(1, bool)))
    t0 = time.perf_counter()
    tests = {}
    for block, ready in blocks:
        tests[block.name] = run_block(build, block, ready, cov)
        tests[block.name]["accuracy"] = accuracy(unit, block.rows)
        tests[block.name]["notes"] = list(block.notes)
        print(f"{block.name}: {tests[block.name]['rows_ok']}/{tests[block.name]['rows']} rows exact, "
              f"{tests[block.name]['wall_s']:.2f} s simulated", file=sys.stderr)
    summary = {"config": unit.cfg.name, "sim": a.sim, "seed": a.seed, "tests": tests,
               "coverage": cov.report(), "wall_s": time.perf_counter() - t0,
               "passed": all(t["passed"] and t["accuracy"]["within_bounds"] for t in tests.values())}
    out = a.out or RESULTS / unit.cfg.name / a.sim / "summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{'PASS' if summary['passed'] else 'FAIL'}: {out}", file=sys.stderr)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
