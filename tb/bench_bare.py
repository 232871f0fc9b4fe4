"""The bare cocotb loop of bench/bench_sim.py: softmax_unit as the toplevel, one Python
iteration per clock (write in_data, wait for the edge, read out_valid and out_data), no pyuvm,
no model, no scoreboard. It is the yardstick the environment's speed is compared with."""
from __future__ import annotations

import json
import os
import random
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer


@cocotb.test()
async def bare_loop(dut):
    n = int(os.environ["SMX_BARE_N"])
    width = int(os.environ["SMX_BARE_W"])
    cycles = int(os.environ["SMX_BARE_CYCLES"])
    rng = random.Random(1)
    words = [rng.getrandbits(n * width) for _ in range(1024)]
    Clock(dut.clk, 10, unit="ns").start(start_high=False)
    dut.rst_n.value = 0
    dut.in_valid.value = 0
    dut.out_ready.value = 1
    dut.in_mask.value = (1 << n) - 1
    dut.in_data.value = 0
    await Timer(50, unit="ns")
    await RisingEdge(dut.clk)
    dut.rst_n.value = 1
    dut.in_valid.value = 1
    accepted = outputs = 0
    clk = RisingEdge(dut.clk)
    t0 = time.perf_counter()
    for i in range(cycles):
        dut.in_data.value = words[i & 1023]
        await clk
        accepted += 1                          # out_ready is always high: in_ready stays high
        if dut.out_valid.value:
            outputs += 1
            _ = dut.out_data.value
    wall = time.perf_counter() - t0
    assert outputs > 0 and dut.in_ready.value == 1
    out = {"cycles": cycles, "accepted": accepted, "outputs": outputs, "wall_s": wall,
           "vectors_per_s": outputs / wall}
    with open(os.environ["SMX_BARE_OUT"], "w") as fh:
        json.dump(out, fh)
