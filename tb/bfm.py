"""Python side of the block-level BFM (tb/hdl/softmax_harness.v).

The harness does the per-cycle work; this class hands it whole blocks and collects what its
recorders logged. Nothing here wakes up per clock cycle: a block costs a file write, a few
signal writes and one wait for the harness's drv_done counter.

The recorder logs are read when the simulation is paused at a known flush point (end of a
block, a reset, a sync) and handed to the listeners (the monitors) in a fixed order: first the
input log, then the output log. With CHECK=harness (tb/protocol.py) the harness compares the
outputs itself: each block goes out with its expected outputs, and what comes back is a
CheckedObservation (how many inputs are resolved, and only the outputs that did not match).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, Timer, ValueChange, with_timeout

from models.config import SoftmaxConfig

from .build import CLOCK_PERIOD_NS
from .codec import LogRecords, decode_hex_field, encode_expected, encode_stimulus, split_log
from .protocol import CHECKS, READY_DEPTH, block_depth, in_record, mismatch_record, out_record


class BfmError(RuntimeError):
    """The DUT or harness did not respond as the protocol requires (e.g. a timeout)."""


@dataclass
class InObservation:
    """Input handshakes as recorded at the ports, in order, with reset epochs."""
    epoch: np.ndarray          # int64 [M]
    cycle: np.ndarray          # int64 [M]
    codes: np.ndarray          # int64 [M, N]
    mask: np.ndarray           # bool  [M, N]
    unknown: np.ndarray        # bool  [M, N]: X/Z seen on the lane's data or mask bit
    resets: list[int] = field(default_factory=list)   # cycles of reset markers in this read


@dataclass
class OutObservation:
    epoch: np.ndarray          # int64 [M]
    cycle: np.ndarray          # int64 [M]
    y: np.ndarray              # int64 [M, N]
    argmax: np.ndarray         # int64 [M]
    unknown: np.ndarray        # bool  [M, N]: X/Z on the lane
    argmax_unknown: np.ndarray  # bool [M]
    handshake_unknown: np.ndarray   # bool [M]: out_valid or out_ready was X/Z at that edge
    control_x: list[tuple[int, str]] = field(default_factory=list)  # (cycle, line): X/Z on in_ready/out_valid
    resets: list[int] = field(default_factory=list)


@dataclass
class CheckedObservation:
    """CHECK=harness: what the harness's checker reported since the last read. Inputs are
    numbered in acceptance order from 0 at the test's start (`seq`)."""
    accepted: int              # inputs accepted so far in this test
    resolved: int              # inputs whose output was compared, or that a reset dropped
    matched: int               # outputs equal to their expected word so far
    seq: np.ndarray            # int64 [M]: the input each mismatching output was compared with
    cycle: np.ndarray          # int64 [M]: the output's cycle
    in_cycle: np.ndarray       # int64 [M]: its input's acceptance cycle
    y: np.ndarray              # int64 [M, N]
    argmax: np.ndarray         # int64 [M]
    unknown: np.ndarray        # bool  [M, N]
    argmax_unknown: np.ndarray  # bool [M]
    handshake_unknown: np.ndarray   # bool [M]
    unexpected: np.ndarray     # bool  [M]: no input was in flight (seq meaningless)
    drops: list[tuple[int, int, int]] = field(default_factory=list)   # (first seq, count, cycle)
    overflows: list[int] = field(default_factory=list)                 # cycles
    control_x: list[tuple[int, str]] = field(default_factory=list)
    resets: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class BlockFiles:
    """A block as the harness reads it (tb/codec.py)."""
    vectors: int
    idle_cycles: int              # the gaps' sum
    stim: bytes
    expected: bytes | None        # CHECK=harness: the model's output words


class _BlockFile:
    """A file the harness reads blocks from, rewritten in place for each block: creating or
    truncating the file every block cost about 160 us on this machine's ext4, rewriting it in
    place 7 us. The harness reads it only after drv_req changes, so a block never sees the next."""

    def __init__(self, path: Path):
        self.path, self._fd = path, None

    def write(self, data: bytes) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        view, done = memoryview(data), 0
        while done < len(view):
            done += os.pwrite(self._fd, view[done:], done)
        os.ftruncate(self._fd, len(view))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _LogReader:
    """Incremental reader of one recorder log; counts reset markers to number the epochs."""

    def __init__(self, path: Path, kind: bytes):
        self.path, self.kind = path, kind
        self.offset, self.tail, self.epoch = 0, b"", 0

    def read(self) -> LogRecords:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        recs, self.tail = split_log(self.tail + data, self.kind)
        return recs

    def skip_to_end(self) -> None:
        self.offset, self.tail = self.path.stat().st_size, b""


class SoftmaxBfm:
    """Block-level access to the harness. One per test (it holds the test's epoch numbering)."""

    def __init__(self, dut, cfg: SoftmaxConfig, check: str = "harness"):
        if check not in CHECKS:
            raise ValueError(f"CHECK must be one of {', '.join(CHECKS)}, got {check!r}")
        self.dut, self.cfg, self.check = dut, cfg, check
        self.stim_file = _BlockFile(Path(os.environ["SMX_STIM_FILE"]))
        self.exp_file = _BlockFile(Path(os.environ["SMX_EXP_FILE"]))
        self.rdy_file = _BlockFile(Path(os.environ["SMX_RDY_FILE"]))
        self.in_reader = _LogReader(Path(os.environ["SMX_IN_LOG"]), b"I")
        self.out_reader = _LogReader(Path(os.environ["SMX_OUT_LOG"]), b"M" if check == "harness" else b"O")
        self.in_listeners: list[Callable[[InObservation], None]] = []
        self.out_listeners: list[Callable[[OutObservation], None]] = []
        self.check_listeners: list[Callable[[CheckedObservation], None]] = []
        self.block_listeners: list[Callable[[int], None]] = []   # called before each block starts
        self.period_ns = CLOCK_PERIOD_NS
        self.ready_fraction = 1.0
        self._ready_text = b""
        self._epoch = 0
        # sim_wait_s: wall time spent with the simulator running (awaiting the harness); the rest
        # of a test's run time is Python (stimulus, model, checks, coverage)
        self.stats = {"blocks": 0, "aborted_blocks": 0, "resets": 0, "cycles": 0, "sim_wait_s": 0.0}
        # the first protocol failure of the driver (a block not taken in time): the test's end
        # reports it, with everything judged up to it
        self.stopped: str | None = None
        self._cycle0 = self._seq0 = self._match0 = 0

    # ---- set-up ------------------------------------------------------------------------------
    async def start(self, reset_cycles: int = 5) -> None:
        """Reset the DUT (the harness runs its own clock) and discard everything logged before this test."""
        d = self.dut
        d.rst_n.value = 0
        # requests equal to the harness's acknowledgements: nothing left over from an earlier test
        for req, ack in (("drv_req", "drv_ack"), ("rdy_req", "rdy_ack"), ("sync_req", "sync_ack")):
            a = getattr(d, ack).value
            getattr(d, req).value = int(a) if a.is_resolvable else 0
        d.drv_count.value = 1
        d.sync_drain.value = 0
        d.sync_extra.value = 0
        d.rdy_len.value = 1
        d.chk_mode.value = int(self.check == "harness")
        await Timer(reset_cycles * self.period_ns, unit="ns")
        await FallingEdge(d.clk)
        self.in_reader.skip_to_end()
        self.out_reader.skip_to_end()
        d.rst_n.value = 1
        await RisingEdge(d.clk)
        self._cycle0 = int(d.cycle.value)
        self._seq0, self._match0 = int(d.seq_in.value), int(d.n_match.value)   # equal to seq_out after the reset

    def close(self) -> None:
        """The block files are written (the end of a test)."""
        for f in (self.stim_file, self.exp_file, self.rdy_file):
            f.close()

    # ---- output side --------------------------------------------------------------------------
    def set_ready_pattern(self, bits: np.ndarray) -> None:
        """out_ready per cycle, replayed cyclically from the next clock edge on."""
        bits = np.asarray(bits, np.uint8).ravel()
        if not 1 <= bits.size <= READY_DEPTH:
            raise ValueError(f"ready pattern length must be 1..{READY_DEPTH}, got {bits.size}")
        if not bits.any():
            raise ValueError("a ready pattern of all zeros would never let an output out")
        text = np.column_stack([np.where(bits, ord("1"), ord("0")), np.full(bits.size, ord("\n"))]
                               ).astype(np.uint8).tobytes()     # one "0"/"1" line per cycle
        if text == self._ready_text:
            return                      # the harness replays this pattern already
        self._ready_text = text
        self.rdy_file.write(text)
        self.ready_fraction = float(bits.mean())
        d = self.dut
        d.rdy_len.value = int(bits.size)
        d.rdy_req.value = int(d.rdy_req.value) + 1

    # ---- input side ---------------------------------------------------------------------------
    def encode_block(self, codes: np.ndarray, mask: np.ndarray, gaps: np.ndarray,
                     expected: tuple[np.ndarray, np.ndarray] | None = None) -> BlockFiles:
        """A block's files (pure: a sequence may encode ahead, in another process). With
        CHECK=harness, expected = (y [M, N], argmax [M]) of the model for every vector."""
        m = len(codes)
        if not 1 <= m <= block_depth(self.cfg.n):
            raise ValueError(f"a block holds 1..{block_depth(self.cfg.n)} vectors, got {m}")
        if (expected is not None) != (self.check == "harness"):
            raise ValueError(f"CHECK={self.check}: expected outputs are "
                             f"{'required' if self.check == 'harness' else 'not taken'} with a block")
        exp = None
        if expected is not None:
            ey, eam = expected
            if len(ey) != m:
                raise ValueError(f"{len(ey)} expected outputs for a block of {m} vectors")
            exp = encode_expected(ey, eam, self.cfg.out_width, self.cfg.argmax_width)
        return BlockFiles(m, int(np.sum(gaps)), encode_stimulus(codes, mask, gaps, self.cfg.width), exp)

    async def drive_block(self, files: BlockFiles) -> tuple[int, bool]:
        """Present a block; returns (vectors accepted, aborted by a reset). The caller collects
        the recorders afterwards (so that it can publish what it sent first)."""
        m = files.vectors
        if (files.expected is not None) != (self.check == "harness"):
            raise ValueError(f"CHECK={self.check}: a block encoded for the other checker")
        for cb in self.block_listeners:
            cb(m)
        self.stim_file.write(files.stim)
        if files.expected is not None:
            self.exp_file.write(files.expected)
        d = self.dut
        done0 = int(d.drv_done.value)
        d.drv_count.value = m
        d.drv_req.value = int(d.drv_req.value) + 1
        # generous bound: every cycle of the block stalled by the ready pattern, plus a margin
        budget = int((m + files.idle_cycles) / max(self.ready_fraction, 1e-3) * 4 + 2000)
        t0 = time.perf_counter()
        while int(d.drv_done.value) == done0:
            try:
                await with_timeout(ValueChange(d.drv_done), budget * self.period_ns, "ns")
            except TimeoutError:
                await self.sync()
                raise BfmError(f"block of {m} vectors not accepted within {budget} cycles: "
                               f"{self.block_accepted()} accepted; in_ready stuck low?") from None
        self.stats["sim_wait_s"] += time.perf_counter() - t0
        sent, aborted = self.block_accepted(), bool(int(d.drv_aborted.value))
        self.stats["blocks"] += 1
        self.stats["aborted_blocks"] += int(aborted)
        return sent, aborted

    def block_accepted(self) -> int:
        """Vectors of the current block the DUT has taken so far."""
        return int(self.dut.drv_sent.value)

    async def reset(self, cycles: int = 3) -> None:
        """Synchronous reset in the middle of whatever is going on."""
        d = self.dut
        await FallingEdge(d.clk)
        d.rst_n.value = 0
        await Timer(cycles * self.period_ns, unit="ns")
        d.rst_n.value = 1
        self.stats["resets"] += 1
        await RisingEdge(d.clk)
        self.collect()

    async def sync(self) -> None:
        """Flush the recorder logs (at the next clock edge) without waiting for outputs."""
        d = self.dut
        d.sync_drain.value = 0
        req = int(d.sync_req.value) + 1
        d.sync_req.value = req
        while int(d.sync_ack.value) != req:
            await ValueChange(d.sync_ack)

    async def drain(self, extra_cycles: int = 64, stall_cycles: int = 5000) -> None:
        """Wait until every accepted input has produced an output, then extra_cycles more (so a
        late or duplicated output still gets recorded), then collect. Raises BfmError when no
        owed output appears for stall_cycles: inputs still wait for theirs, or none is owed and
        yet the drain cannot end (a block still presented, in_ready stuck low; outputs beyond
        the inputs never count as progress, so a DUT that streams them cannot hold the drain)."""
        d = self.dut
        d.sync_drain.value = 1
        d.sync_extra.value = extra_cycles
        req = int(d.sync_req.value) + 1
        d.sync_req.value = req
        t0 = time.perf_counter()
        last = -1
        while int(d.sync_ack.value) != req:
            try:
                await with_timeout(ValueChange(d.sync_ack), stall_cycles * self.period_ns, "ns")
            except TimeoutError:
                n_in, n_out = int(d.n_in.value), int(d.n_out.value)
                if n_out == last or n_out >= n_in:
                    d.sync_drain.value = 0          # the pending sync now completes (and flushes)
                    await ValueChange(d.sync_ack)
                    self.stats["sim_wait_s"] += time.perf_counter() - t0
                    why = (f"{n_in - n_out} accepted input(s) still without an output" if n_out < n_in else
                           f"every accepted input has an output ({n_out - n_in} more outputs than inputs), "
                           f"but a block is still being presented (in_ready stuck low?)")
                    raise BfmError(f"drain: {why} after {stall_cycles} cycles without progress") from None
                last = n_out
        d.sync_drain.value = 0
        self.stats["sim_wait_s"] += time.perf_counter() - t0
        self.collect()

    # ---- recorders -> monitors ----------------------------------------------------------------
    def stall_counters(self) -> tuple[int, int]:
        """(cycles in_valid waited for in_ready, cycles out_valid waited for out_ready) so far."""
        return int(self.dut.stall_in.value), int(self.dut.stall_out.value)

    def checker_counts(self) -> tuple[int, int]:
        """CHECK=harness: (inputs resolved, outputs that matched) in this test so far."""
        d = self.dut
        return _since(d.seq_out.value, self._seq0), _since(d.n_match.value, self._match0)

    def collect(self) -> None:
        """Read what the recorders logged since the last call and hand it to the monitors."""
        d = self.dut
        self.stats["cycles"] = int(d.cycle.value) - self._cycle0
        if self.check == "harness":
            obs = self._decode_checked(self.out_reader.read())
            for cb in self.check_listeners:
                cb(obs)
            return
        inp = self._decode_in(self.in_reader.read())
        out = self._decode_out(self.out_reader.read())
        for cb in self.in_listeners:
            cb(inp)
        for cb in self.out_listeners:
            cb(out)

    def _epochs(self, recs: LogRecords, reader: _LogReader) -> tuple[np.ndarray, list[int]]:
        """Epoch of every handshake row (resets seen so far in this test)."""
        is_reset = recs.kinds == ord("R")
        ep = reader.epoch + np.cumsum(is_reset)
        reader.epoch = int(ep[-1]) if len(ep) else reader.epoch
        hs = recs.kinds == reader.kind[0]
        return ep[hs], [c for k, c, _ in recs.events if k == "R"]

    def _decode_in(self, recs: LogRecords) -> InObservation:
        cfg = self.cfg
        epoch, resets = self._epochs(recs, self.in_reader)
        rows = recs.rows
        if len(rows) == 0:
            z = np.zeros((0, cfg.n))
            return InObservation(epoch, np.zeros(0, np.int64), z.astype(np.int64), z.astype(bool),
                                 z.astype(bool), resets)
        rec = in_record(cfg.n, cfg.width)
        codes, unk_d = decode_hex_field(rows[:, rec.span("data")], cfg.n, cfg.width, signed=True)
        mask, unk_m = decode_hex_field(rows[:, rec.span("mask")], cfg.n, 1, signed=False)
        cyc = recs.cycles[recs.kinds == ord("I")]
        return InObservation(epoch, cyc, codes, mask.astype(bool), unk_d | unk_m, resets)

    def _decode_out(self, recs: LogRecords) -> OutObservation:
        cfg = self.cfg
        epoch, resets = self._epochs(recs, self.out_reader)
        control_x = [(c, t) for k, c, t in recs.events if k == "X"]
        rows = recs.rows
        if len(rows) == 0:
            z = np.zeros((0, cfg.n))
            e = np.zeros(0, np.int64)
            return OutObservation(epoch, e, z.astype(np.int64), e, z.astype(bool), e.astype(bool),
                                  e.astype(bool), control_x, resets)
        rec = out_record(cfg.n, cfg.out_width, cfg.argmax_width)
        y, unk_y = decode_hex_field(rows[:, rec.span("data")], cfg.n, cfg.out_width, signed=False)
        am, unk_a = decode_hex_field(rows[:, rec.span("argmax")], 1, cfg.argmax_width, signed=False)
        vr = rows[:, rec.span("handshake")]
        hs_unknown = (vr != ord("1")).any(axis=1)
        cyc = recs.cycles[recs.kinds == ord("O")]
        return OutObservation(epoch, cyc, y, am[:, 0], unk_y, unk_a[:, 0], hs_unknown, control_x, resets)

    def _decode_checked(self, recs: LogRecords) -> CheckedObservation:
        cfg, d = self.cfg, self.dut
        _, resets = self._epochs(recs, self.out_reader)
        ev = lambda kind: [t.split() for k, _, t in recs.events if k == kind]   # noqa: E731
        drops = [(_since(int(f[2], 16), self._seq0), int(f[3], 16), int(f[1], 16)) for f in ev("D")]
        counts = dict(accepted=_since(d.seq_in.value, self._seq0), resolved=_since(d.seq_out.value, self._seq0),
                      matched=_since(d.n_match.value, self._match0), drops=drops,
                      overflows=[int(f[1], 16) for f in ev("F")], resets=resets,
                      control_x=[(c, t) for k, c, t in recs.events if k == "X"])
        rows = recs.rows
        if len(rows) == 0:
            e = np.zeros(0, np.int64)
            z = np.zeros((0, cfg.n), np.int64)
            return CheckedObservation(seq=e, cycle=e, in_cycle=e, y=z, argmax=e, unknown=z.astype(bool),
                                      argmax_unknown=e.astype(bool), handshake_unknown=e.astype(bool),
                                      unexpected=e.astype(bool), **counts)
        rec = mismatch_record(cfg.n, cfg.out_width, cfg.argmax_width)
        y, unk_y = decode_hex_field(rows[:, rec.span("data")], cfg.n, cfg.out_width, signed=False)
        am, unk_a = decode_hex_field(rows[:, rec.span("argmax")], 1, cfg.argmax_width, signed=False)
        seq, _ = decode_hex_field(rows[:, rec.span("seq")], 1, 32, signed=False)
        in_cyc, _ = decode_hex_field(rows[:, rec.span("in_cycle")], 1, 32, signed=False)
        return CheckedObservation(
            seq=(seq[:, 0] - self._seq0) % (1 << 32), cycle=recs.cycles[recs.kinds == ord("M")], in_cycle=in_cyc[:, 0],
            y=y, argmax=am[:, 0], unknown=unk_y, argmax_unknown=unk_a[:, 0],
            handshake_unknown=(rows[:, rec.span("handshake")] != ord("1")).any(axis=1),
            unexpected=rows[:, rec.span("unexpected")][:, 0] == ord("1"), **counts)


def _since(v, base: int) -> int:
    """A harness counter relative to its value at the test's start (the counters wrap)."""
    return (int(v) - base) % (1 << 32)
