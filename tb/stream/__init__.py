"""Verification of the streaming softmax unit (rtl/stream/): a stand-alone Verilog harness
driven from files, checked against models.stream (docs/stream.md)."""
