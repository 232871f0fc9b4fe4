"""The yardstick for the AXI4-Stream path of bench/bench_byo.py: a bare cocotb loop on an
`axis` design, one Python iteration per clock with raw handles (drive the next beat when the
last one was taken, read tready, tvalid, tdata, tuser and tlast), no cocotbext-axi, no
recording, no checks. Port names come from the design (BYO_SPEC, as for tb.byo.cocotb_tests);
BYO_BARE_VECTORS vectors are sent, the result goes to BYO_BARE_OUT (JSON)."""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge


@cocotb.test()
async def bare_axis_loop(dut):
    spec = json.loads(Path(os.environ["BYO_SPEC"]).read_text())
    p = spec["ports"]
    vectors = int(os.environ["BYO_BARE_VECTORS"])
    beats = spec["lanes"] // spec["lanes_per_beat"]
    width = spec["lanes_per_beat"] * spec["in_width"]
    rng = random.Random(1)
    data = [rng.getrandbits(width) for _ in range(1024)]
    sig = {r: getattr(dut, n) for r, n in p.items()}
    clk, rst = getattr(dut, spec["clock"]), getattr(dut, spec["reset"])
    on, off = (0, 1) if spec["reset_active_low"] else (1, 0)
    Clock(clk, spec["period_ns"], unit="ns").start(start_high=False)
    rst.value = on
    sig["in_valid"].value = 0
    sig["out_ready"].value = 1
    if "in_mask" in sig:
        sig["in_mask"].value = (1 << spec["lanes_per_beat"]) - 1
    edge = RisingEdge(clk)
    for _ in range(spec["reset_cycles"]):
        await edge
    rst.value = off
    in_data, in_valid, in_ready, in_last = sig["in_data"], sig["in_valid"], sig["in_ready"], sig["in_last"]
    out_valid, out_data, out_last = sig["out_valid"], sig["out_data"], sig["out_last"]
    out_user = sig.get("out_argmax")
    sent = got = beat = 0
    in_valid.value = 1
    in_data.value, in_last.value = data[0], int(beats == 1)
    t0 = time.perf_counter()
    while got < vectors:
        await edge
        if sent < vectors and in_ready.value:             # this beat was taken: the next one
            beat += 1
            if beat == beats:
                beat, sent = 0, sent + 1
            if sent < vectors:
                in_data.value = data[(sent * beats + beat) & 1023]
                in_last.value = int(beat == beats - 1)
            else:
                in_valid.value = 0
        if out_valid.value:
            _ = out_data.value
            if out_user is not None:
                _ = out_user.value
            if out_last.value:
                got += 1
    wall = time.perf_counter() - t0
    Path(os.environ["BYO_BARE_OUT"]).write_text(json.dumps(
        {"vectors": got, "wall_s": wall, "vectors_per_s": got / wall}))
