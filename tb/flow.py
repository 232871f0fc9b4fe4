"""Flow-control vocabulary shared by the stimulus, the agent and the coverage model: the kinds of
out_ready pattern the ready generator draws and the kinds of input idle gap the sequences draw.
Each name here is also a bin of the coverpoints smx.flow.ready and smx.flow.gaps."""
from __future__ import annotations

READY_KINDS = ("always", "random", "sparse", "bursty", "alternate")
GAP_KINDS = ("none", "random", "long")
