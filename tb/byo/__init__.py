"""Bring your own design: verify any softmax unit described by a design file (docs/byo.md).

design      the design file (TOML): loading, strict validation, derived numbers
lanes       lane packing: codes <-> bus words and AXI4-Stream frame elements
stimulus    the vectors of each test (random, corners, replayed dumps)
cocotb_tests  the simulator side: port binding (cocotb-bus, cocotbext-axi), traffic, recording
scoreboard  alignment of outputs to inputs, bit-exact and tolerance checks, accounting
run         the launcher: python -m tb.byo.run --design path/to/design.toml
bench_bare_axis  the bare AXI4-Stream loop bench/bench_byo.py compares the generic path with
"""
