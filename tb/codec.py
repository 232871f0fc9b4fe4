"""Bit packing between numpy blocks and the harness's files (vectorised, no per-lane Python).

Stimulus: one binary word per vector ($fread: big-endian, ceil(bits/8) bytes), {gap,
mask[N-1:0], data[N*W-1:0]}, lane i of data at bits [i*W +: W] (two's complement), as
rtl/softmax_unit.v takes it; the expected outputs of CHECK=harness likewise.
Recorder logs (tb/hdl/softmax_harness.v) use the fixed-width records of tb/protocol.py, so every
handshake line of a log has the same length and a block of them decodes as one [M, L] byte
matrix. X/Z digits ('x', 'X', 'z', 'Z') are kept and reported per lane, never turned into
numbers silently.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .protocol import CYCLE_BITS, EVENT_KINDS, GAP_BITS, GAP_MAX, RESET_RECORD

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
_UNKNOWN = 16
_NIBBLE = np.full(256, 255, np.uint8)          # 255: not a hex digit at all (a malformed log)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i
for _c in b"xXzZ":
    _NIBBLE[_c] = _UNKNOWN


class LogFormatError(RuntimeError):
    """A recorder log line that does not have the expected shape."""


def hex_digits(bits: int) -> int:
    return (bits + 3) // 4


def bits_lsb_first(values: np.ndarray, width: int) -> np.ndarray:
    """values int64 [..., K] (non-negative, < 2^width) -> uint8 bits [..., K*width], LSB first."""
    shifts = np.arange(width, dtype=np.int64)
    bits = (values[..., None] >> shifts) & 1
    return bits.reshape(*values.shape[:-1], values.shape[-1] * width).astype(np.uint8)


def bits_to_hex_rows(bits: np.ndarray) -> np.ndarray:
    """uint8 bits [M, B] LSB first -> uint8 ASCII hex [M, ceil(B/4)], most significant digit first."""
    m, b = bits.shape
    nd = hex_digits(b)
    padded = np.zeros((m, nd * 4), np.uint8)
    padded[:, :b] = bits
    nib = padded.reshape(m, nd, 4) @ np.array([1, 2, 4, 8], np.uint8)
    return _HEX_DIGITS[nib[:, ::-1]]


def fields_to_bytes(fields: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Concatenated fields -> one word per row, big-endian in whole bytes: uint8 [M, ceil(B/8)]
    (what the harness's $fread takes). fields: (values [M, K] in 0..2^width-1, width <= 56) in
    order from the least significant bit: lane k of a field at bits [k*width +: width] above the
    fields before it. Lanes are added into 64-bit words (they never overlap, so adding is OR):
    one pass per lane rather than per bit (a 1000-lane block is ~16 Mbit)."""
    m = len(fields[0][0])
    total = sum(np.shape(v)[1] * w for v, w in fields)
    words = np.zeros((m, total // 64 + 2), np.uint64)
    off = 0
    for v, w in fields:
        v = np.asarray(v).astype(np.uint64)
        pos = off + np.arange(v.shape[1], dtype=np.uint64) * np.uint64(w)
        idx, shift = (pos >> np.uint64(6)).astype(np.intp), pos & np.uint64(63)
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])     # lanes are in word order
        words[:, idx[starts]] += np.add.reduceat(v << shift, starts, axis=1)
        spill = np.flatnonzero(shift + np.uint64(w) > np.uint64(64))   # lanes that reach the next word
        if len(spill):
            words[:, idx[spill] + 1] += v[:, spill] >> (np.uint64(64) - shift[spill])
        off += v.shape[1] * w
    nbytes = (total + 7) // 8
    return words.astype("<u8").view(np.uint8)[:, :nbytes][:, ::-1]     # most significant byte first


def encode_stimulus(codes: np.ndarray, mask: np.ndarray, gaps: np.ndarray, width: int) -> bytes:
    """A block's stimulus file: codes int [M, N] in [-2^(W-1), 2^(W-1)), mask bool [M, N],
    gaps int [M] in 0..255 (idle cycles before each vector); one word {gap, mask, data} each."""
    codes = np.asarray(codes, np.int64)
    mask = np.asarray(mask, bool)
    gaps = np.asarray(gaps, np.int64)
    m, n = codes.shape
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise ValueError(f"stimulus codes outside the {width}-bit signed range [{lo}, {hi}]")
    if mask.shape != codes.shape or gaps.shape != (m,):
        raise ValueError(f"stimulus shapes differ: codes {codes.shape}, mask {mask.shape}, gaps {gaps.shape}")
    if gaps.size and (gaps.min() < 0 or gaps.max() > GAP_MAX):
        raise ValueError(f"idle gaps must be in 0..{GAP_MAX}")
    unsigned = codes & ((1 << width) - 1)
    return fields_to_bytes([(unsigned, width), (mask, 1), (gaps[:, None], GAP_BITS)]).tobytes()


def encode_expected(y: np.ndarray, argmax: np.ndarray, out_w: int, argmax_w: int) -> bytes:
    """A block's expected outputs (CHECK=harness): one word {argmax, y[N-1], ..., y[0]} per
    vector (tb/protocol.expected_bits), as encode_stimulus."""
    y = np.asarray(y, np.int64)
    argmax = np.asarray(argmax, np.int64).reshape(-1, 1)
    if y.size and (y.min() < 0 or y.max() >= 1 << out_w):
        raise ValueError(f"expected outputs outside 0..{(1 << out_w) - 1}")
    if len(argmax) != len(y) or (argmax.size and (argmax.min() < 0 or argmax.max() >= 1 << argmax_w)):
        raise ValueError("expected argmax: one per vector, in range of its width")
    return fields_to_bytes([(y, out_w), (argmax, argmax_w)]).tobytes()


def decode_hex_field(chars: np.ndarray, lanes: int, width: int, signed: bool
                     ) -> tuple[np.ndarray, np.ndarray]:
    """ASCII hex [M, D] (MSB digit first) holding `lanes` fields of `width` bits, lane 0 at the
    LSB -> (values int64 [M, lanes], unknown bool [M, lanes]: the lane has an X/Z bit)."""
    nib = _NIBBLE[chars]
    if (nib == 255).any():
        bad = chars[nib == 255][0]
        raise LogFormatError(f"recorder log holds a non-hex character {chr(bad)!r}")
    unknown_digit = nib == _UNKNOWN
    nib = np.where(unknown_digit, 0, nib)[:, ::-1]                  # least significant digit first
    m, d = nib.shape
    bits = ((nib[:, :, None] >> np.arange(4, dtype=np.uint8)) & 1).reshape(m, 4 * d)
    ubits = np.repeat(unknown_digit[:, ::-1], 4, axis=1)
    total = lanes * width
    if total > 4 * d:
        raise LogFormatError(f"recorder field has {4 * d} bits, expected {total}")
    bits = bits[:, :total].reshape(m, lanes, width).astype(np.int64)
    values = bits @ (np.int64(1) << np.arange(width, dtype=np.int64))
    if signed:
        values = np.where(values >= (1 << (width - 1)), values - (1 << width), values)
    unknown = ubits[:, :total].reshape(m, lanes, width).any(axis=2)
    return values, unknown


@dataclass
class LogRecords:
    """One read of a recorder log: handshake rows and the rare event lines, in file order."""
    kinds: np.ndarray          # uint8 [R]: b'I'/b'O' handshake, b'R' reset, b'X' X/Z on control
    cycles: np.ndarray         # int64 [R]
    rows: np.ndarray           # uint8 [H, L]: the handshake lines (without the newline)
    events: list[tuple[str, int, str]]   # (kind, cycle, text) for R and X lines


def split_log(buf: bytes, handshake_kind: bytes) -> tuple[LogRecords, bytes]:
    """Split complete lines of a log; returns the records and the unfinished tail (if any)."""
    end = buf.rfind(b"\n") + 1
    body, tail = buf[:end], buf[end:]
    if not body:
        return LogRecords(np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros((0, 0), np.uint8), []), tail
    arr = np.frombuffer(body, np.uint8)
    nl = np.flatnonzero(arr == ord("\n"))
    starts = np.concatenate([[0], nl[:-1] + 1])
    lengths = nl - starts
    kinds = arr[starts]
    hs = kinds == handshake_kind[0]
    events = []
    cycles = np.zeros(len(starts), np.int64)
    for i in np.flatnonzero(~hs):
        text = body[starts[i]:nl[i]].decode("ascii", "replace")
        parts = text.split()
        if len(parts) < 2 or parts[0] not in EVENT_KINDS:
            raise LogFormatError(f"unexpected recorder log line {text!r}")
        cycles[i] = int(parts[1], 16)
        events.append((parts[0], int(parts[1], 16), text))
    if hs.any():
        lens = np.unique(lengths[hs])
        if len(lens) != 1:
            raise LogFormatError(f"handshake lines of different lengths {lens.tolist()} in one log")
        idx = starts[hs][:, None] + np.arange(lens[0])
        rows = arr[idx]
        # every record starts with the cycle, a fixed-width hex field
        span = RESET_RECORD.span("cycle")
        nib = _NIBBLE[rows[:, span]].astype(np.int64)
        if (nib > 15).any():
            raise LogFormatError("X/Z or a non-hex character in the recorder's cycle counter")
        digits = hex_digits(CYCLE_BITS)
        cycles[hs] = nib @ (np.int64(16) ** np.arange(digits - 1, -1, -1))
    else:
        rows = np.zeros((0, 0), np.uint8)
    return LogRecords(kinds, cycles, rows, events), tail
