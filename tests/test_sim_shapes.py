"""Every documented corner of the configuration space, simulated: shapes of N and K whose
derived widths and tree shapes differ from the shipped configurations (N = 2 and 3, odd and
non-power-of-two N, unbalanced top-K subtrees, K = N - 1, K not a power of two, N = 1024) and the
boundary formats of models.config (smallest and largest exp table, widest exp range, ln mantissa
of 1 and of out_frac_bits, the narrowest input and output). Each is generated from the paper's
N = 10 formats, written as TOML to a temporary folder and run through the whole environment
(tb.run.run) with small vector counts; every output bit is checked against the model.

Builds and results go to build/shapes/ and results/shapes/ (the builds are reused across runs).
"""
from __future__ import annotations

import pytest

from models.config import config_from_dict
from tb.build import REPO
from tb.run import format_summary, run
from test_rtl_params import BASE      # the paper's N = 10 formats, the base of every shape

# name: (changes to BASE, simulator). Icarus unless its elaboration is too slow (see
# tests/test_rtl_params.py: the 2^16-entry exp table takes Icarus minutes to elaborate).
SHAPES = {
    "n2_k1": (dict(n=2, k=1), "icarus"),
    "n2_k2": (dict(n=2, k=2), "icarus"),
    "n2_k2_divide": (dict(n=2, k=2, normalise="divide"), "icarus"),
    "n3_k1": (dict(n=3, k=1), "icarus"),
    "n3_k2": (dict(n=3, k=2), "icarus"),
    "n5_k3": (dict(n=5, k=3), "icarus"),                 # odd N, K not a power of two
    "n6_k6": (dict(n=6, k=6), "icarus"),                 # full softmax, N not a power of two
    "n7_k5": (dict(n=7, k=5), "icarus"),                 # unbalanced top-K subtrees
    "n11_k5": (dict(n=11, k=5), "icarus"),               # a three-lane top-K subtree
    "n11_k5_topk_pipe": (dict(n=11, k=5, topk_pipeline=1), "icarus"),   # S3 split: latency + 1
    "n5_divide_pipe3": (dict(n=5, k=5, normalise="divide", divide_pipeline=3), "icarus"),  # latency + 3
    # registers inside the max tree: latency + max_pipeline, the lanes' values and mask delayed alongside
    "n10_k1_max_pipe1": (dict(n=10, k=1, max_pipeline=1), "verilator"),
    "n11_k5_max_pipe4": (dict(n=11, k=5, max_pipeline=4), "icarus"),    # every level, unbalanced tree
    "n6_k6_max_pipe2": (dict(n=6, k=6, max_pipeline=2), "verilator"),   # K = N, N not a power of two
    "n5_divide_max2_div1": (dict(n=5, k=5, normalise="divide", max_pipeline=2, divide_pipeline=1), "icarus"),
    # registers inside S3 (sum + ln look-up): latency + sum_pipeline, delta, mask and argmax delayed alongside
    "n10_k10_sum_pipe1": (dict(n=10, k=10, sum_pipeline=1), "icarus"),          # the paper's K = N unit, cut after 3 of 4 adder levels
    "n11_k11_sum_pipe4": (dict(n=11, k=11, sum_pipeline=4), "verilator"),       # every level and before the ln, unbalanced tree
    "n11_k5_topk_sum_pipe2": (dict(n=11, k=5, topk_pipeline=1, sum_pipeline=2, max_pipeline=1, sum_guard_bits=2),
                              "icarus"),                                        # with the selection register and the sum table
    "n10_k9": (dict(n=10, k=9), "icarus"),               # K = N - 1
    "n1024_k1": (dict(n=1024, k=1), "icarus"),
    "exp_depth_2": (dict(exp_depth=2), "icarus"),
    "exp_depth_65536": (dict(n=2, k=2, in_frac_bits=13, exp_depth=65536), "verilator"),
    "exp_range_widest": (dict(exp_range=64.0), "icarus"),
    "ln_mant_1": (dict(ln_mant_bits=1), "icarus"),
    "ln_mant_of": (dict(ln_mant_bits=10), "icarus"),
    "out_frac_1": (dict(k=3, out_frac_bits=1, ln_mant_bits=1), "icarus"),
    "in_w_2": (dict(k=2, in_int_bits=1, in_frac_bits=1, exp_range=2.0, exp_depth=2), "icarus"),
}

SMALL = {"smx_smoke": {"vectors": 64}, "smx_random": {"vectors": 256},
         "smx_corners": {"repeats": 1},
         "smx_replay": {"max_rows": 64},
         "smx_backpressure": {"vectors": 256, "block": 32},
         "smx_reset": {"vectors": 64, "resets": 2}}
# N = 1024 on Icarus verifies about 30 vectors/s: a few of each, corners on 8 lanes only
WIDE = {"smx_smoke": {"vectors": 16}, "smx_random": {"vectors": 32, "block": 32},
        "smx_corners": {"repeats": 1, "lane_limit": 8, "max_every_lane": False},
        "smx_replay": {"max_rows": 16, "block": 16},
        "smx_backpressure": {"vectors": 64, "block": 32},
        "smx_reset": {"vectors": 16, "resets": 1, "block": 16}}


def write_config(name: str, folder) -> str:
    """The shape as a TOML file named after it (a unique name: results are keyed by it)."""
    changes, _ = SHAPES[name]
    data = {**BASE, **changes}
    cfg = config_from_dict(data, source=name)        # legal for models.config, or fail here
    path = folder / f"shape_{name}.toml"
    path.write_text(cfg.to_toml())
    return str(path)


def _failure_text(s: dict) -> str:
    lines = [format_summary(s)]
    lines += [f"{t}: {r['status']}; errors {r.get('errors')}; rerun: {r.get('rerun')}"
              for t, r in s["tests"].items() if r["status"] != "passed"]
    return "\n".join(lines)


# the 2^16-entry exp table's Verilator build takes minutes: simulated by `make regression`, and
# elaborated and linted by `make test` (tests/test_rtl_params.py)
REGRESSION_ONLY = {"exp_depth_65536"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.xdist_group(f"shape_{n}")]
                                               + ([pytest.mark.regression_only] if n in REGRESSION_ONLY else []))
                                  for n in SHAPES])
def test_shape_bit_exact(name, tmp_path, smx_seed):
    sim = SHAPES[name][1]
    cfg_path = write_config(name, tmp_path)
    plan = WIDE if SHAPES[name][0].get("n", BASE["n"]) > 64 else SMALL
    s = run(cfg_path, sim, seed=smx_seed, profile="quick", plan_override=plan,
            results_root=REPO / "results" / "shapes", build_root=REPO / "build" / "shapes",
            log=lambda *a: None)
    assert s["passed"], _failure_text(s)
    # every test ran and checked vectors (corners included: the documented corners of this shape)
    assert "smx_corners" in s["tests"], s["tests_run"]
    for t, r in s["tests"].items():
        assert r["status"] == "passed" and r["vectors"], f"{t}: {r}\n{_failure_text(s)}"
    assert s["mismatches"] == 0 and not s["errors"], _failure_text(s)
