"""Bit-accurate reference model of the softmax-like unit family (the project's contract).

See docs/numerics.md. Modules: config (validated configurations), quantize (float -> codes),
tables (exp/ln tables and their $readmemh files), datapath (the bit-accurate unit),
reference (float softmax, the variants' ideal functions, metrics), dumps (real-logit files).
"""
