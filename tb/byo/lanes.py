"""Lane packing: signed/unsigned lane codes <-> bus words, and AXI4-Stream frame elements.

A vector of N lanes travels in N/P beats of P lanes (P = N for parallel interfaces). Inside a
beat, 'lsb_first' puts the beat's first lane at bits [W-1:0]; 'msb_first' puts it at the top.
"""
from __future__ import annotations

import numpy as np


def beat_positions(lanes_per_beat: int, order: str) -> np.ndarray:
    """Bit-field position (0 = LSB field) of the k-th lane of a beat."""
    k = np.arange(lanes_per_beat)
    return k if order == "lsb_first" else lanes_per_beat - 1 - k


def to_fields(codes: np.ndarray, width: int) -> np.ndarray:
    """Two's complement (or unsigned) codes -> unsigned field values of `width` bits."""
    return np.asarray(codes, np.int64) & ((1 << width) - 1)


def from_fields(fields: np.ndarray, width: int, signed: bool) -> np.ndarray:
    f = np.asarray(fields, np.int64)
    return f - ((f >> (width - 1)) << width) if signed else f


def pack_words(fields: np.ndarray, width: int, lanes_per_beat: int, order: str) -> list[int]:
    """[M, N] field values -> one int per beat (M * N/P words, beat-major)."""
    m, n = fields.shape
    beats = fields.reshape(m * (n // lanes_per_beat), lanes_per_beat)
    pos = beat_positions(lanes_per_beat, order)
    # bit matrix, most significant field first, then np.packbits per row
    bits = ((beats[:, :, None] >> np.arange(width)[None, None, :]) & 1).astype(np.uint8)
    word_bits = np.zeros((beats.shape[0], lanes_per_beat * width), np.uint8)
    for k in range(lanes_per_beat):
        p = int(pos[k])
        word_bits[:, p * width:(p + 1) * width] = bits[:, k, :]
    total = lanes_per_beat * width
    pad = (-total) % 8
    msb_first = np.concatenate([np.zeros((len(word_bits), pad), np.uint8), word_bits[:, ::-1]], axis=1)
    packed = np.packbits(msb_first, axis=1)
    return [int.from_bytes(r.tobytes(), "big") for r in packed]


def unpack_binstr(strings: list[str], width: int, lanes_per_beat: int, order: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Bus values as binary strings (MSB first, may hold X/Z) -> field values [K, P] and a
    per-field unknown flag [K, P]."""
    k = len(strings)
    total = width * lanes_per_beat
    if not k:
        return np.zeros((0, lanes_per_beat), np.int64), np.zeros((0, lanes_per_beat), bool)
    chars = np.frombuffer("".join(s.rjust(total, "0") for s in strings).encode(), np.uint8).reshape(k, total)
    bits = chars[:, ::-1]                                   # bit i at column i
    unknown = (bits != ord("0")) & (bits != ord("1"))
    ones = (bits == ord("1")).astype(np.int64)
    pos = beat_positions(lanes_per_beat, order)
    fields = np.zeros((k, lanes_per_beat), np.int64)
    unk = np.zeros((k, lanes_per_beat), bool)
    weights = 1 << np.arange(width, dtype=np.int64)
    for j in range(lanes_per_beat):
        p = int(pos[j])
        fields[:, j] = ones[:, p * width:(p + 1) * width] @ weights
        unk[:, j] = unknown[:, p * width:(p + 1) * width].any(axis=1)
    return fields, unk


def mask_words(mask: np.ndarray, lanes_per_beat: int, order: str) -> list[int]:
    """[M, N] bool -> one mask int per beat, bit positions as the data's lane fields."""
    return pack_words(np.asarray(mask, np.int64), 1, lanes_per_beat, order)


def frame_elements(fields_row: np.ndarray, lanes_per_beat: int, order: str) -> list[int]:
    """One vector's fields -> cocotbext-axi frame elements: element e of a beat goes to field
    position e (the library fills each beat from the LSB), so msb_first reverses each beat."""
    beats = np.asarray(fields_row).reshape(-1, lanes_per_beat)
    if order == "msb_first":
        beats = beats[:, ::-1]
    return [int(v) for v in beats.reshape(-1)]


def elements_to_lanes(elements: list[int], lanes_per_beat: int, order: str) -> np.ndarray:
    """Inverse of frame_elements for a whole number of beats."""
    beats = np.asarray(elements, np.int64).reshape(-1, lanes_per_beat)
    if order == "msb_first":
        beats = beats[:, ::-1]
    return beats.reshape(-1)
