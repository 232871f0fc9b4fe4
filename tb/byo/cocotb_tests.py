"""The simulator side of the bring-your-own-design path: binds the design file's ports, drives
each test's vectors with its flow (idle gaps, backpressure, resets in traffic), and records
what crossed the ports. It judges nothing: tb.byo.scoreboard does, in the launcher.

Inputs (environment): BYO_SPEC (JSON: Design.to_json() + the plan), BYO_WORK (stim_<test>.npz
in, obs_<test>.npz and obs_<test>.json out).

Parallel and valid-only interfaces run one lean Python loop per clock (the handles come from a
cocotb-bus Bus); AXI4-Stream runs cocotbext-axi's source, sink and an input monitor.
"""
from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer
from cocotb.utils import get_sim_time, get_time_from_sim_steps
from cocotb_bus.bus import Bus

from .design import DesignError, check_ports
from .lanes import elements_to_lanes, frame_elements, from_fields, mask_words, pack_words, to_fields, unpack_binstr

SPEC = json.loads(Path(os.environ["BYO_SPEC"]).read_text()) if "BYO_SPEC" in os.environ else {}
WORK = Path(os.environ.get("BYO_WORK", "."))
DRAIN_EXTRA = 16          # cycles watched after the last expected output (late extra outputs)
AXIS_POLL = 8             # clocks between two looks at the AXI4-Stream monitor and sink


class Timeout(Exception):
    pass


# ---- flow patterns ----------------------------------------------------------------------------
def flow_for(test: str, m: int, rng: np.random.Generator, kind: str) -> dict:
    """gaps[i]: idle cycles before vector i; ready: out_ready per cycle (cyclic); resets: input
    counts after which a reset is asserted in traffic."""
    gaps = np.zeros(m, np.int64)
    ready = np.ones(1024, np.int64)
    resets: list[int] = []
    if test in ("byo_flow", "byo_reset"):
        gaps = np.where(rng.random(m) < 0.3, rng.geometric(0.4, m), 0)
        if kind != "valid_only":        # a valid-only unit has no ready: the TB cannot stall it
            burst = np.repeat(rng.random(128) < 0.55, 8)
            ready = (burst | (rng.random(1024) < 0.3)).astype(np.int64)
    if test == "byo_reset":
        resets = sorted({m // 3, (2 * m) // 3} - {0})
    return {"gaps": gaps, "ready": ready, "resets": resets}


# ---- binding ----------------------------------------------------------------------------------
def design_signals(dut) -> dict[str, int]:
    """The top level's signal names and widths, from the simulator's handle."""
    found = {}
    for h in dut:
        try:
            found[h._name] = len(h)
        except TypeError:
            continue
    return found


def bind(dut) -> Bus:
    """One Bus of every role; a missing port or a wrong width becomes one DesignError."""
    ports = SPEC["ports"]
    optional = ("in_mask", "out_argmax")
    try:
        bus = Bus(dut, None, {r: p for r, p in ports.items() if r not in optional},
                  optional_signals={r: p for r, p in ports.items() if r in optional}, case_insensitive=False)
        for r in (SPEC["clock"], SPEC["reset"]):
            getattr(dut, r)
    except AttributeError:
        bus = None
    check_ports(SPEC, design_signals(dut))      # raises for an absent port or a width
    if bus is None or any(not hasattr(bus, r) for r in ports):
        raise DesignError(f"{SPEC['source']}: cocotb-bus could not bind {sorted(ports.values())}")
    return bus


class Rig:
    """Clock, reset, cycle count and the recording shared by the interface drivers."""

    def __init__(self, dut):
        self.dut = dut
        self.clk = getattr(dut, SPEC["clock"])
        self.rst = getattr(dut, SPEC["reset"])
        self.on, self.off = (0, 1) if SPEC["reset_active_low"] else (1, 0)
        self.period = SPEC["period_ns"]
        self.events: list[dict] = []
        self.resets: list[int] = []              # cycles at which each reset ended (epoch starts)
        self.t_loop, self.loop_s = 0.0, None     # wall time of the per-clock loop (parallel)

    def cycle(self) -> int:
        return int(get_sim_time(unit="ns") // self.period)

    async def reset(self) -> None:
        """Synchronous reset: asserted and released right after an edge; asynchronous: asserted
        between edges, released after an edge."""
        if not SPEC["reset_sync"]:
            await Timer(self.period // 4, unit="ns")
        self.rst.value = self.on
        for _ in range(SPEC["reset_cycles"]):
            await RisingEdge(self.clk)
        self.rst.value = self.off
        self.resets.append(self.cycle())

    def event(self, kind: str, msg: str, **kw) -> None:
        self.events.append({"kind": kind, "message": msg, **kw})


# ---- parallel valid/ready and valid-only -------------------------------------------------------
async def run_parallel(rig: Rig, bus: Bus, codes: np.ndarray, mask: np.ndarray, flow: dict) -> dict:
    p = SPEC["ports"]
    words = pack_words(to_fields(codes, SPEC["in_width"]), SPEC["in_width"], SPEC["lanes"], SPEC["lane_order"])
    mwords = mask_words(mask, SPEC["lanes"], SPEC["lane_order"]) if "in_mask" in p else None
    in_data, in_valid, out_valid, out_data = bus.in_data, bus.in_valid, bus.out_valid, bus.out_data
    in_ready = getattr(bus, "in_ready", None)
    out_ready = getattr(bus, "out_ready", None)
    argmax = getattr(bus, "out_argmax", None)
    in_mask = getattr(bus, "in_mask", None)
    # plain Python lists and constants: this loop runs once per clock
    gaps, ready, resets = flow["gaps"].tolist(), flow["ready"].tolist(), list(flow["resets"])
    rmask = len(ready) - 1
    if all(ready):
        out_ready_const, out_ready = out_ready, None            # held high, never rewritten
        if out_ready_const is not None:
            out_ready_const.value = 1
    timeout = SPEC["timeout_cycles"]
    clk = RisingEdge(rig.clk)
    n = len(words)
    ins: list[tuple[int, int, int]] = []             # (vector index, cycle, epoch)
    outs: list[tuple[int, int, object, object]] = []  # (cycle, epoch, data, argmax)
    i = idle = pending = epoch = 0
    offered = False
    drv_valid = 0
    cur_r = cur_m = -1
    c = rig.cycle()
    last = c
    done_at = None
    rig.t_loop = time.perf_counter()
    while True:
        if resets and i >= resets[0] and not offered:          # reset in traffic
            resets.pop(0)
            if drv_valid:
                in_valid.value = drv_valid = 0
            await rig.reset()
            c, last, epoch, pending = rig.cycle(), rig.cycle(), epoch + 1, 0
        if not offered and i < n:
            if idle >= gaps[i]:
                in_data.value = words[i]
                if mwords is not None and mwords[i] != cur_m:
                    in_mask.value = cur_m = mwords[i]
                if not drv_valid:
                    in_valid.value = drv_valid = 1
                offered, idle = True, 0
            else:
                idle += 1
        if not offered and drv_valid:
            in_valid.value = drv_valid = 0
        if out_ready is not None:
            r = ready[c & rmask]
            if r != cur_r:
                out_ready.value = cur_r = r
        else:
            cur_r = 1
        await clk
        c += 1
        try:
            if offered and (in_ready is None or in_ready.value):
                ins.append((i, c, epoch))
                i, offered, pending, last = i + 1, False, pending + 1, c
            if cur_r and out_valid.value:
                outs.append((c, epoch, out_data.value, argmax.value if argmax is not None else None))
                pending, last = pending - 1, c
        except ValueError:          # X/Z on a handshake bit: cocotb refuses its truth value
            bad = [s for s in (in_ready, out_valid) if s is not None and str(s.value) not in "01"]
            names = ", ".join(f"{s._name}={s.value}" for s in bad)
            rig.event("control_x", f"X/Z on {names} at cycle {c}", cycle=c)
            break
        if i >= n and not offered and pending <= 0:
            done_at = c if done_at is None else done_at
            if c - done_at >= DRAIN_EXTRA:
                break
        elif c - last > timeout:
            if i >= n and not offered:      # draining: the scoreboard sees what never came out
                rig.event("drain_timeout", f"{p['out_valid']} stayed low from cycle {last} to {c} with "
                          f"{pending} accepted vector(s) pending", cycle=last, signal=p["out_valid"],
                          pending=pending)
            else:
                sig = p["out_valid"] if pending > 0 else p.get("in_ready", p["in_valid"])
                why = (f"{pending} accepted vector(s) pending" if pending > 0
                       else f"{p['in_valid']} high and vector {i} offered")
                rig.event("protocol_timeout", f"{sig} stayed low for {timeout} cycles from cycle {last} "
                          f"({why})", cycle=last, signal=sig)
            break
    rig.loop_s = time.perf_counter() - rig.t_loop
    return _parallel_obs(codes, mask, ins, outs)


def _parallel_obs(codes, mask, ins, outs) -> dict:
    idx = np.array([t[0] for t in ins], np.int64)
    lanes, w = SPEC["lanes"], SPEC["out_width"]
    fields, unk = unpack_binstr([str(t[2]) for t in outs], w, lanes, SPEC["lane_order"])
    am_s = [str(t[3]) if t[3] is not None else "" for t in outs]
    am_unk = np.array([bool(s) and any(ch not in "01" for ch in s) for s in am_s], bool)
    am = np.array([int(s, 2) if s and not u else -1 for s, u in zip(am_s, am_unk)], np.int64)
    return {"in_codes": codes[idx].reshape(-1, lanes), "in_mask": mask[idx].reshape(-1, lanes),
            "in_cycle": np.array([t[1] for t in ins], np.int64), "in_epoch": np.array([t[2] for t in ins], np.int64),
            "out_codes": from_fields(fields, w, SPEC["out_signed"]), "out_x": unk,
            "out_argmax": am, "out_argmax_x": am_unk,
            "out_cycle": np.array([t[0] for t in outs], np.int64), "out_epoch": np.array([t[1] for t in outs], np.int64),
            "out_beats": np.full(len(outs), 1, np.int64)}


# ---- AXI4-Stream (cocotbext-axi) ---------------------------------------------------------------
def _axis_buses(dut):
    from cocotbext.axi import AxiStreamBus
    p, mask = SPEC["ports"], SPEC["mask"]

    class Named(AxiStreamBus):
        """AxiStreamBus with explicit port names (cocotb-bus's signal dict) instead of a prefix."""
        def __init__(self, names: dict, optional: dict):
            Bus.__init__(self, dut, None, names, optional_signals=optional, case_insensitive=False)

    side_in = {"tdata": p["in_data"], "tvalid": p["in_valid"], "tready": p["in_ready"], "tlast": p["in_last"]}
    opt_in = {mask: p["in_mask"]} if mask in ("tuser", "tkeep") else {}
    side_out = {"tdata": p["out_data"], "tvalid": p["out_valid"], "tready": p["out_ready"], "tlast": p["out_last"]}
    opt_out = {"tuser": p["out_argmax"]} if "out_argmax" in p else {}
    return Named(side_in, opt_in), Named(side_out, opt_out)


def _frame(fields_row, mask_row):
    from cocotbext.axi import AxiStreamFrame
    pb, order = SPEC["lanes_per_beat"], SPEC["lane_order"]
    elems = frame_elements(fields_row, pb, order)
    if SPEC["mask"] == "tkeep":
        return AxiStreamFrame(elems, tkeep=frame_elements(mask_row.astype(np.int64), pb, order))
    if SPEC["mask"] == "tuser":
        beat_masks = mask_words(mask_row[None, :], pb, order)
        return AxiStreamFrame(elems, tuser=[m for m in beat_masks for _ in range(pb)])
    return AxiStreamFrame(elems)


def _frame_mask(f) -> np.ndarray:
    pb, order = SPEC["lanes_per_beat"], SPEC["lane_order"]
    if SPEC["mask"] == "tkeep":
        return elements_to_lanes(f.tkeep, pb, order).astype(bool)
    if SPEC["mask"] == "tuser":
        per_beat = np.asarray(f.tuser[::pb], np.int64)
        bits = (per_beat[:, None] >> np.arange(pb)[None, :]) & 1        # element e = field e
        return elements_to_lanes(bits.reshape(-1), pb, order).astype(bool)
    return np.ones(len(f.tdata), bool)


async def run_axis(rig: Rig, codes: np.ndarray, mask: np.ndarray, flow: dict) -> dict:
    from cocotbext.axi import AxiStreamMonitor, AxiStreamSink, AxiStreamSource
    bus_in, bus_out = _axis_buses(rig.dut)
    pb = SPEC["lanes_per_beat"]
    lanes_kw = {} if SPEC["mask"] == "tkeep" else {"byte_lanes": pb}
    rst = {"reset": rig.rst, "reset_active_level": not SPEC["reset_active_low"]}
    source = AxiStreamSource(bus_in, rig.clk, **rst, **lanes_kw)
    monitor = AxiStreamMonitor(bus_in, rig.clk, **rst, **lanes_kw)
    sink = AxiStreamSink(bus_out, rig.clk, **rst, byte_lanes=pb)
    for lib in (source, monitor, sink):
        lib.log.setLevel("WARNING")
    gaps, ready = flow["gaps"], flow["ready"]
    # idle gaps: the source pauses g cycles before a vector's beats; backpressure: the sink
    # pauses (pause = not ready). Without either, no pause coroutine runs.
    if gaps.any():
        idle = [b for g in gaps[:256] for b in [True] * int(g) + [False] * (SPEC["lanes"] // pb)]
        source.set_pause_generator(itertools.cycle(idle))
    if not ready.all():
        sink.set_pause_generator(itertools.cycle([not bool(r) for r in ready]))
    fields = to_fields(codes, SPEC["in_width"])
    frames = [_frame(fields[k], mask[k]) for k in range(len(codes))]
    resets, timeout, p = list(flow["resets"]), SPEC["timeout_cycles"], SPEC["ports"]
    ins, outs = [], []           # (frame, cycle, epoch)
    epoch = pending = 0
    for f in frames:
        source.send_nowait(f)
    # the library's coroutines run every clock; this loop only collects, every AXIS_POLL
    # clocks (the frames carry their own cycle stamps)
    poll = ClockCycles(rig.clk, AXIS_POLL)
    last = rig.cycle()
    done_at = None
    while True:
        await poll
        c = rig.cycle()
        while not monitor.empty():
            f = monitor.recv_nowait(compact=False)
            ins.append((f, _cycle_of(f, rig), epoch))
            pending, last = pending + 1, c
        while not sink.empty():
            f = sink.recv_nowait(compact=False)
            outs.append((f, _cycle_of(f, rig), epoch))
            pending, last = pending - 1, c
        if resets and len(ins) >= resets[0]:
            resets.pop(0)
            source.clear()
            await rig.reset()
            epoch, pending, last = epoch + 1, 0, rig.cycle()
            for f in frames[len(ins):]:          # the vectors not yet accepted, again
                source.send_nowait(f)
            continue
        if source.idle() and pending <= 0 and len(ins) >= len(frames):
            done_at = c if done_at is None else done_at
            if c - done_at >= DRAIN_EXTRA:
                break
        elif c - last > timeout:
            if len(ins) >= len(frames):
                rig.event("drain_timeout", f"{p['out_valid']} stayed low from cycle {last} to {c} with "
                          f"{pending} accepted vector(s) pending", cycle=last, signal=p["out_valid"],
                          pending=pending)
            else:
                sig = p["out_valid"] if pending > 0 else p["in_ready"]
                rig.event("protocol_timeout", f"{sig} stayed low for {timeout} cycles from cycle {last} "
                          f"({pending} accepted vector(s) pending, {len(frames) - len(ins)} not yet accepted)",
                          cycle=last, signal=sig)
            break
    return _axis_obs(ins, outs)


def _cycle_of(frame, rig: Rig) -> int:
    """The cycle of a frame's last beat (the library stamps it in simulator steps)."""
    return int(get_time_from_sim_steps(frame.sim_time_end, "ns") // rig.period)


def _axis_obs(ins, outs) -> dict:
    lanes, pb, order = SPEC["lanes"], SPEC["lanes_per_beat"], SPEC["lane_order"]
    wi, wo = SPEC["in_width"], SPEC["out_width"]

    def lanes_of(f, width, signed):
        whole = len(f.tdata) - len(f.tdata) % pb
        v = np.zeros(lanes, np.int64)
        got = from_fields(elements_to_lanes(f.tdata[:whole], pb, order), width, signed)[:lanes]
        v[:len(got)] = got
        return v

    in_codes = np.array([lanes_of(f, wi, SPEC["in_signed"]) for f, _, _ in ins], np.int64).reshape(-1, lanes)
    in_mask = np.array([_frame_mask(f)[:lanes] for f, _, _ in ins], bool).reshape(-1, lanes)
    out_codes = np.array([lanes_of(f, wo, SPEC["out_signed"]) for f, _, _ in outs], np.int64).reshape(-1, lanes)
    has_am = "out_argmax" in SPEC["ports"]
    am = np.array([int(f.tuser[-1]) if has_am and f.tuser else -1 for f, _, _ in outs], np.int64)
    return {"in_codes": in_codes, "in_mask": in_mask,
            "in_cycle": np.array([t[1] for t in ins], np.int64), "in_epoch": np.array([t[2] for t in ins], np.int64),
            "out_codes": out_codes, "out_x": np.zeros(out_codes.shape, bool),
            "out_argmax": am, "out_argmax_x": np.zeros(len(outs), bool),
            "out_cycle": np.array([t[1] for t in outs], np.int64), "out_epoch": np.array([t[2] for t in outs], np.int64),
            "out_beats": np.array([len(f.tdata) // pb for f, _, _ in outs], np.int64)}


# ---- the tests ---------------------------------------------------------------------------------
async def _test(dut, test: str) -> None:
    stim = WORK / f"stim_{test}.npz"
    out_json = WORK / f"obs_{test}.json"
    try:
        bus = bind(dut)
    except DesignError as e:
        (WORK / "bind_error.txt").write_text(str(e))
        raise
    with np.load(stim) as z:
        codes, mask = z["codes"], z["mask"]
    rng = np.random.default_rng([SPEC["seed"], len(test)])
    flow = flow_for(test, len(codes), rng, SPEC["kind"])
    rig = Rig(dut)
    Clock(rig.clk, rig.period, unit="ns").start(start_high=False)
    if SPEC["kind"] != "axis":               # (cocotbext-axi initialises its own signals)
        for role in ("in_valid", "out_ready", "in_data", "in_mask"):
            if role in SPEC["ports"]:
                getattr(dut, SPEC["ports"][role]).value = 0
    await FallingEdge(rig.clk)
    await rig.reset()
    t0, w0 = rig.cycle(), time.perf_counter()
    if SPEC["kind"] == "axis":
        obs = await run_axis(rig, codes, mask, flow)
    else:
        obs = await run_parallel(rig, bus, codes, mask, flow)
    run_s = time.perf_counter() - w0             # traffic and decoding, after start-up and reset
    obs["resets"] = np.array(rig.resets[1:], np.int64)
    np.savez(WORK / f"obs_{test}.npz", **obs)
    out_json.write_text(json.dumps({"events": rig.events, "cycles": rig.cycle() - t0,
                                    "vectors_driven": int(len(codes)), "run_s": run_s,
                                    "loop_s": rig.loop_s}))


def _make(test: str):
    async def t(dut):
        await _test(dut, test)
    t.__name__ = test
    t.__qualname__ = test
    return cocotb.test()(t)


byo_random = _make("byo_random")
byo_flow = _make("byo_flow")
byo_reset = _make("byo_reset")
byo_replay = _make("byo_replay")
