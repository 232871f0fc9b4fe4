"""Stimulus, simulation and scoreboard of the streaming unit (tb/stream/hdl/stream_harness.v).

One call of `simulate` replays a block of rows: the rows become beats of P lanes (vectorised),
one simulator run drives them with idle gaps, resets and an output ready pattern, and the
recorded output beats are compared row by row with models.stream (every bit, keep, last and
the argmax). Faults (a lost beat, a duplicated beat, a wrong last) corrupt the driven beats
only: the scoreboard still expects the intended rows, so each fault must show as a mismatch.
"""
from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.stream import Rows, StreamUnit
from tb.codec import bits_lsb_first, bits_to_hex_rows, decode_hex_field
from tb.stream.build import RDY_DEPTH, StreamBuild

FAULTS = ("lost_beat", "duplicated_beat", "wrong_last")


@dataclass
class Beats:
    """The driven beats of a block, in order."""
    codes: np.ndarray      # int64 [B, P]
    mask: np.ndarray       # bool [B, P]
    keep: np.ndarray       # bool [B, P]
    last: np.ndarray       # bool [B]
    row: np.ndarray        # int64 [B]: the row each beat belongs to
    gap: np.ndarray        # int64 [B]: idle cycles before the beat
    reset: np.ndarray      # bool [B]: reset pulsed before the beat


def to_beats(unit: StreamUnit, rows: Rows) -> Beats:
    """Rows -> beats of P lanes, the tail beat's unused lanes with keep = 0 (vectorised)."""
    p = unit.cfg.p
    nb = -(-rows.length // p)
    row = np.repeat(np.arange(rows.length.size), nb)
    first = np.cumsum(nb) - nb
    beat_in_row = np.arange(row.size) - first[row]
    lane = beat_in_row[:, None] * p + np.arange(p)[None, :]
    width = -(-rows.codes.shape[1] // p) * p
    codes = np.zeros((rows.codes.shape[0], width), np.int64)
    codes[:, :rows.codes.shape[1]] = rows.codes
    mask = np.zeros(codes.shape, bool)
    mask[:, :rows.mask.shape[1]] = rows.mask
    keep = lane < rows.length[row][:, None]
    return Beats(codes=np.where(keep, codes[row[:, None], lane], 0), mask=mask[row[:, None], lane] & keep,
                 keep=keep, last=beat_in_row == nb[row] - 1, row=row,
                 gap=np.zeros(row.size, np.int64), reset=np.zeros(row.size, bool))


def take(beats: Beats, index: np.ndarray) -> Beats:
    """The beats at `index` (used to drop, repeat or reorder beats)."""
    return Beats(**{k: getattr(beats, k)[index] for k in Beats.__dataclass_fields__})


def inject(beats: Beats, fault: str, rng: np.random.Generator) -> tuple[Beats, int]:
    """Corrupt one beat of a row with more than one beat; returns the beats and the row hit."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
    multi = np.flatnonzero(~beats.last & (np.r_[beats.row[1:], -1] == beats.row))
    if multi.size == 0:
        raise ValueError("fault injection needs a row of at least two beats")
    i = int(rng.choice(multi))
    idx = np.arange(beats.row.size)
    if fault == "lost_beat":
        return take(beats, np.delete(idx, i)), int(beats.row[i])
    if fault == "duplicated_beat":
        return take(beats, np.insert(idx, i, i)), int(beats.row[i])
    out = take(beats, idx)                         # wrong last: a middle beat marked last
    out.last[i] = True
    return out, int(beats.row[i])


def encode(unit: StreamUnit, beats: Beats) -> bytes:
    """$readmemh text, one word per beat: {rst, gap[7:0], last, keep, mask, data}."""
    c = unit.cfg
    if beats.gap.size and (beats.gap.min() < 0 or beats.gap.max() > 255):
        raise ValueError("idle gaps must be in 0..255 cycles")
    unsigned = beats.codes & ((1 << c.width) - 1)
    bits = np.concatenate([bits_lsb_first(unsigned, c.width), beats.mask.astype(np.uint8),
                           beats.keep.astype(np.uint8), beats.last[:, None].astype(np.uint8),
                           bits_lsb_first(beats.gap[:, None], 8), beats.reset[:, None].astype(np.uint8)],
                          axis=1)
    rows = bits_to_hex_rows(bits)
    return np.concatenate([rows, np.full((rows.shape[0], 1), ord("\n"), np.uint8)], axis=1).tobytes()


# ---- running the simulator ----------------------------------------------------------------------

@dataclass
class Log:
    cycles: np.ndarray     # int64 [H]
    last: np.ndarray       # bool [H]
    keep: np.ndarray       # bool [H, P]
    field3: np.ndarray     # int64 [H]: mask bits (input) or argmax (output)
    data: np.ndarray       # int64 [H, P]
    unknown: np.ndarray    # bool [H, P]: X/Z in a lane
    resets: list[int]      # cycles of the resets
    timeout: bool
    stalls: np.ndarray     # int64: cycles at which an output beat waited for m_ready
    epoch: np.ndarray      # int64 [H]: resets logged before each handshake


def _parse(path: Path, p: int, width: int, signed: bool, field3_lanes: bool) -> Log:
    lines = path.read_text().splitlines()
    hs = [ln.split() for ln in lines if ln[:1] in "IO"]
    epoch = np.cumsum([ln[:1] == "R" for ln in lines])[[ln[:1] in "IO" for ln in lines]] if lines else np.zeros(0)
    resets = [int(ln.split()[1], 16) for ln in lines if ln[:1] == "R"]
    timeout = any(ln[:1] == "T" for ln in lines)
    stalls = np.array([int(ln.split()[1], 16) for ln in lines if ln[:1] == "S"], np.int64)
    if not hs:
        z = np.zeros((0, p), np.int64)
        return Log(np.zeros(0, np.int64), np.zeros(0, bool), z.astype(bool), np.zeros(0, np.int64), z,
                   z.astype(bool), resets, timeout, stalls, np.zeros(0, np.int64))
    cols = list(zip(*hs))

    def hexcol(col, lanes, w, sgn=False):
        chars = np.frombuffer("".join(col).encode(), np.uint8).reshape(len(col), -1)
        return decode_hex_field(chars, lanes, w, sgn)

    cyc = np.array([int(x, 16) for x in cols[1]], np.int64)
    last, ulast = hexcol(cols[2], 1, 1)
    keep, ukeep = hexcol(cols[3], p, 1)
    f3, uf3 = hexcol(cols[4], 1, len(cols[4][0]) * 4)
    data, udata = hexcol(cols[5], p, width, signed)
    unknown = udata | ukeep | ulast | uf3
    return Log(cyc, last[:, 0].astype(bool), keep.astype(bool), f3[:, 0], data, unknown, resets, timeout,
               stalls, np.asarray(epoch, np.int64))


def run(build: StreamBuild, beats: Beats, ready: np.ndarray, workdir: Path,
        max_cycles: int | None = None) -> tuple[Log, Log, float]:
    """One simulator run; returns the input log, the output log and the wall seconds."""
    c = build.unit.cfg
    if beats.row.size > build.stim_depth:
        raise ValueError(f"{beats.row.size} beats exceed the harness's {build.stim_depth} per run")
    ready = np.asarray(ready, bool)
    if not 1 <= ready.size <= RDY_DEPTH:
        raise ValueError(f"ready pattern of {ready.size} bits (1..{RDY_DEPTH})")
    workdir.mkdir(parents=True, exist_ok=True)
    stim, rdy = workdir / "stim.hex", workdir / "ready.bin"
    stim.write_bytes(encode(build.unit, beats))
    rdy.write_text("".join("1\n" if r else "0\n" for r in ready))
    # idle long enough for the longest row's sum and output passes to start producing
    idle = 3 * c.beats_max + 64 + int((~ready).sum())
    max_cycles = max_cycles or 8 * (beats.row.size + 3 * c.beats_max + 64) * max(1, ready.size // max(1, ready.sum()))
    args = [f"+stim={stim}", f"+nbeats={beats.row.size}", f"+rdy={rdy}", f"+rdylen={ready.size}",
            f"+in_log={workdir / 'in.log'}", f"+out_log={workdir / 'out.log'}", f"+idle={idle}",
            f"+max_cycles={max_cycles}"]
    cmd = (["vvp", "-n", str(build.exe)] if build.sim == "icarus" else [str(build.exe)]) + args
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    wall = time.perf_counter() - t0
    if res.returncode != 0 or "ERROR" in res.stdout:
        raise RuntimeError(f"simulation failed ({res.returncode}):\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
    log_in = _parse(workdir / "in.log", c.p, c.width, True, True)
    log_out = _parse(workdir / "out.log", c.p, c.out_width, False, False)
    return log_in, log_out, wall


# ---- scoreboard -----------------------------------------------------------------------------------

@dataclass
class Verdict:
    rows_expected: int = 0
    rows_seen: int = 0
    rows_ok: int = 0
    beats_seen: int = 0
    beats_cut: int = 0         # output beats of rows a reset cut short (not checked)
    mismatches: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)

    def fail(self, kind: str, text: str) -> None:
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if len(self.mismatches) < 20:
            self.mismatches.append(text)

    @property
    def passed(self) -> bool:
        return not self.kinds and self.rows_ok == self.rows_expected


def drop_cut_rows(out: Log) -> tuple[Log, int]:
    """Remove the output beats of a row that a reset cut short: in every epoch that a reset
    ends, the beats after its last m_last. Returns the log without them and their number."""
    keep = np.ones(out.cycles.size, bool)
    for e in range(len(out.resets)):
        idx = np.flatnonzero(out.epoch == e)
        ends = idx[out.last[idx]]
        keep[idx[idx > ends[-1]] if ends.size else idx] = False
    kept = Log(out.cycles[keep], out.last[keep], out.keep[keep], out.field3[keep], out.data[keep],
               out.unknown[keep], out.resets, out.timeout, out.stalls, out.epoch[keep])
    return kept, int((~keep).sum())


def check(unit: StreamUnit, rows: Rows, expected_rows: np.ndarray, out: Log) -> Verdict:
    """Compare the output beats, grouped into rows by m_last, with the model's rows
    `expected_rows` (indices into rows, in the order they must come out). Rows cut short by a
    reset must not be in expected_rows; their partial output is dropped, counted, not checked."""
    out, cut = drop_cut_rows(out)
    c, v = unit.cfg, Verdict(rows_expected=int(expected_rows.size), beats_seen=int(out.cycles.size),
                             beats_cut=cut)
    # the model on the expected rows only (a block may be one chunk of a larger batch)
    model = unit.run(Rows(rows.codes[expected_rows], rows.mask[expected_rows], rows.length[expected_rows]))
    if out.timeout:
        v.fail("hang", "the simulation hit max_cycles: the unit stopped making progress")
    ends = np.flatnonzero(out.last)
    starts = np.r_[0, ends[:-1] + 1] if ends.size else np.zeros(0, np.int64)
    if ends.size < out.cycles.size and (not ends.size or ends[-1] < out.cycles.size - 1):
        v.fail("unfinished_row", f"{out.cycles.size - (ends[-1] + 1 if ends.size else 0)} output beats "
                                 f"after the last m_last")
    v.rows_seen = int(ends.size)
    if ends.size != expected_rows.size:
        v.fail("row_count", f"{ends.size} rows came out, {expected_rows.size} expected")
    for k, (s, e) in enumerate(zip(starts, ends)):
        if k >= expected_rows.size:
            break
        r = int(expected_rows[k])
        n = int(rows.length[r])
        nb = -(-n // c.p)
        if e - s + 1 != nb:
            v.fail("row_length", f"row {r}: {e - s + 1} output beats, {nb} expected (length {n})")
            continue
        lanes = np.arange(nb * c.p)
        keep = lanes < n
        y = np.zeros(nb * c.p, np.int64)
        y[:n] = model.y[k, :n]
        got_keep = out.keep[s:e + 1].reshape(-1)
        got = out.data[s:e + 1].reshape(-1)
        unk = out.unknown[s:e + 1].reshape(-1)
        if unk[keep].any() or out.unknown[e].any():
            v.fail("x_value", f"row {r}: X/Z on {int(unk.sum())} lanes")
        elif not np.array_equal(got_keep, keep):
            v.fail("keep", f"row {r}: m_keep differs on lanes {np.flatnonzero(got_keep != keep)[:8].tolist()}")
        elif not np.array_equal(got[keep], y[keep]):
            bad = np.flatnonzero(got[keep] != y[keep])
            v.fail("data", f"row {r} (length {n}): {bad.size} lanes differ, first lane {bad[0]}: "
                           f"got {got[bad[0]]}, model {y[bad[0]]}")
        elif int(out.field3[e]) != int(model.argmax[k]):
            v.fail("argmax", f"row {r}: argmax {int(out.field3[e])}, model {int(model.argmax[k])}")
        else:
            v.rows_ok += 1
    return v


def simulate(build: StreamBuild, rows: Rows, beats: Beats, expected_rows: np.ndarray,
             ready: np.ndarray, workdir: Path | None = None) -> tuple[Verdict, Log, Log, float]:
    """Drive `beats`, check the outputs against the model's `expected_rows` of `rows`."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="stream-") as tmp:
            return simulate(build, rows, beats, expected_rows, ready, Path(tmp))
    log_in, log_out, wall = run(build, beats, ready, workdir)
    verdict = check(build.unit, rows, np.asarray(expected_rows, np.int64), log_out)
    # the input recorder must show every driven beat accepted, in order
    if log_in.cycles.size != beats.row.size or not np.array_equal(log_in.data, beats.codes):
        verdict.fail("input_log", f"{log_in.cycles.size} input beats accepted, {beats.row.size} driven")
    return verdict, log_in, log_out, wall
