"""The protocol between the Python BFM (tb/bfm.py, tb/codec.py) and the Verilog harness
(tb/hdl/softmax_harness.v), defined once: memory depths, the stimulus word, and the layout of
every recorder log record. tb/build.py writes the harness's header from this module (localparams
and the `$fwrite` macros), and the decoders take their field offsets from the same records, so
the two sides cannot drift apart.

Two ways of checking (the CHECK setting, tb/run.py):
  * "harness": Python writes the model's expected output of every vector beside the block's
    stimulus; the harness keeps the expected words of the accepted inputs in a FIFO (in order)
    and compares every output handshake with the head, X/Z included (`!==`). It logs only what
    did not match (a MISMATCH record), the inputs a reset dropped (DROP) and a FIFO overflow;
    Python reads those and the resolved count (seq_out), so the text traffic is proportional to
    the faults, not to the vectors.
  * "monitors": every input and output handshake is logged (IN, OUT records) and the Python
    scoreboard pairs and compares them, with tb/align.py's diagnosis of lost, duplicated and
    swapped outputs.

Recorder records are text lines: a kind letter, then fields separated by one space, each a
fixed-width `%h` (or `%b`) print of a harness expression. Fixed widths make every line of one
kind equally long, so a block of lines decodes as one byte matrix (tb/codec.py).
"""
from __future__ import annotations

from dataclasses import dataclass

GAP_BITS = 8                   # idle cycles before a vector: 0..255, stored beside it
GAP_MAX = (1 << GAP_BITS) - 1
READY_DEPTH = 4096             # out_ready pattern memory, replayed cyclically
CYCLE_BITS = 32                # the harness's cycle counter, stamped on every record
SEQ_BITS = 32                  # the harness's count of accepted inputs (never reset)
FIFO_DEPTH = 64                # CHECK=harness: inputs in flight (accepted, output pending) at most
CHECKS = ("harness", "monitors")


def block_depth(n: int) -> int:
    """The harness's stimulus memory, in vectors (the largest block): big blocks amortise the
    per-block work (about 3 ms of Python and numpy call overhead per block); N = 1000 words are
    13 kbit wide, so fewer of them."""
    return 16384 if n <= 16 else 4096 if n <= 64 else 1024


@dataclass(frozen=True)
class Field:
    name: str
    expr: str                  # the harness expression printed
    bits: int
    fmt: str = "h"             # "h": hex digits (x/z print as x/z); "b": binary

    @property
    def chars(self) -> int:
        return self.bits if self.fmt == "b" else (self.bits + 3) // 4


@dataclass(frozen=True)
class Record:
    kind: str                  # the first character of the line
    fields: tuple[Field, ...]

    def span(self, name: str) -> slice:
        """Character positions of a field in a line ("K f0 f1 ...")."""
        pos = 2
        for f in self.fields:
            if f.name == name:
                return slice(pos, pos + f.chars)
            pos += f.chars + 1
        raise KeyError(f"record {self.kind!r} has no field {name!r}")

    @property
    def length(self) -> int:
        return 1 + sum(f.chars + 1 for f in self.fields)

    def verilog_macro(self, macro: str) -> str:
        fmt = " ".join([self.kind] + [f"%{f.fmt}" for f in self.fields])
        args = ", ".join(f.expr for f in self.fields)
        return f'`define {macro}(fd) $fwrite(fd, "{fmt}\\n", {args})'


def in_record(n: int, in_w: int) -> Record:
    """An accepted input handshake (in_valid & in_ready)."""
    return Record("I", (Field("cycle", "cycle", CYCLE_BITS), Field("data", "in_data", n * in_w),
                        Field("mask", "in_mask", n)))


def out_record(n: int, out_w: int, argmax_w: int) -> Record:
    """An output handshake (out_valid & out_ready, or either of them X/Z)."""
    return Record("O", (Field("cycle", "cycle", CYCLE_BITS), Field("data", "out_data", n * out_w),
                        Field("argmax", "out_argmax", argmax_w),
                        Field("handshake", "{out_valid, out_ready}", 2, "b")))


def mismatch_record(n: int, out_w: int, argmax_w: int) -> Record:
    """CHECK=harness: an output handshake that differs from the expected word at the FIFO's head
    (or X/Z anywhere in it, or not after its input, or with nothing in flight: `unexpected`)."""
    return Record("M", (Field("cycle", "cycle", CYCLE_BITS), Field("seq", "fifo_seq[fifo_rd]", SEQ_BITS),
                        Field("in_cycle", "fifo_cyc[fifo_rd]", CYCLE_BITS),
                        Field("unexpected", "fifo_n == 0", 1, "b"),
                        Field("data", "out_data", n * out_w), Field("argmax", "out_argmax", argmax_w),
                        Field("handshake", "{out_valid, out_ready}", 2, "b")))


def expected_bits(n: int, out_w: int, argmax_w: int) -> int:
    """An expected word (CHECK=harness): {argmax[ARGMAX_W-1:0], y[N*OUT_W-1:0]}, as the outputs."""
    return argmax_w + n * out_w


RESET_RECORD = Record("R", (Field("cycle", "cycle", CYCLE_BITS),))            # both logs
CONTROL_X_RECORD = Record("X", (Field("cycle", "cycle", CYCLE_BITS),           # output log
                                Field("control", "{in_ready, out_valid}", 2, "b")))
DROP_RECORD = Record("D", (Field("cycle", "cycle", CYCLE_BITS),          # output log, CHECK=harness:
                           Field("seq", "seq_out", SEQ_BITS),          # the in-flight inputs a reset
                           Field("count", "fifo_n", 32)))              # dropped, from seq on
OVERFLOW_RECORD = Record("F", (Field("cycle", "cycle", CYCLE_BITS),))   # more than FIFO_DEPTH in flight
EVENT_KINDS = (RESET_RECORD.kind, CONTROL_X_RECORD.kind, DROP_RECORD.kind, OVERFLOW_RECORD.kind)


def stimulus_bits(n: int, in_w: int) -> int:
    """A stimulus word: {gap[GAP_BITS-1:0], mask[N-1:0], data[N*IN_W-1:0]}."""
    return GAP_BITS + n + n * in_w


def verilog_header(n: int, in_w: int, out_w: int, argmax_w: int) -> str:
    """The protocol part of the harness header (tb/build.py adds the DUT parameters)."""
    lines = [
        f"localparam integer DEPTH = {block_depth(n)};      // largest block, in vectors",
        f"localparam integer GAP_W = {GAP_BITS};",
        f"localparam integer STIM_W = {stimulus_bits(n, in_w)};",
        f"localparam integer RDY_DEPTH = {READY_DEPTH};",
        f"localparam integer EXP_W = {expected_bits(n, out_w, argmax_w)};",
        f"localparam integer FIFO_DEPTH = {FIFO_DEPTH};",
        in_record(n, in_w).verilog_macro("SMX_LOG_IN"),
        out_record(n, out_w, argmax_w).verilog_macro("SMX_LOG_OUT"),
        RESET_RECORD.verilog_macro("SMX_LOG_RESET"),
        CONTROL_X_RECORD.verilog_macro("SMX_LOG_CONTROL_X"),
        mismatch_record(n, out_w, argmax_w).verilog_macro("SMX_LOG_MISMATCH"),
        DROP_RECORD.verilog_macro("SMX_LOG_DROP"),
        OVERFLOW_RECORD.verilog_macro("SMX_LOG_OVERFLOW"),
    ]
    return "\n".join(lines) + "\n"
