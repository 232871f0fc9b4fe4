"""Parameter checks of rtl/softmax_unit.v at the boundaries of what models.config accepts.

Every boundary-legal configuration (built by models.config, never by hand) must elaborate and lint
cleanly on Icarus (iverilog -g2005 -Wall) and Verilator (--lint-only -Wall); every illegal
parameter combination must stop elaboration on both, naming its problem (the g_err_* blocks
instantiate a missing module whose name is the message).
"""
from __future__ import annotations

import dataclasses

import pytest

from models.config import ConfigError, config_from_dict
from scripts.synth_common import Prepared, iverilog_compile, prepare, verilator_lint
from scripts.synth_lint import CHECKS, check

# The paper's N = 10 formats: Q(6,5) inputs, 10 output fraction bits, an 8.0-wide exp table.
BASE = dict(n=10, k=4, in_int_bits=6, in_frac_bits=5, out_frac_bits=10, exp_range=8.0,
            exp_depth=256, ln_mant_bits=7, mse_vs_ideal_vector_max=1.0, mse_vs_ideal_mean_max=1.0)

# name: changes to BASE. Each is legal for models.config and sits on one of its bounds.
LEGAL = {
    "n2_k1": dict(n=2, k=1),
    "n2_k2": dict(n=2, k=2),
    "n2_k2_divide": dict(n=2, k=2, normalise="divide"),
    "n3_k1": dict(n=3, k=1),
    "n3_k2": dict(n=3, k=2),
    "n3_k3": dict(n=3, k=3),
    "n11_k5": dict(n=11, k=5),                       # a three-lane top-K subtree
    "n7_k5": dict(n=7, k=5),
    "n10_k9": dict(n=10, k=9),                       # K = N - 1
    "exp_depth_2": dict(exp_depth=2),                # EXP_ADDR_W = 1, the smallest table
    # EXP_ADDR_W = 16, the deepest table: 2^16 entries need 2^16 input LSBs of span (FW = 13)
    "exp_depth_65536": dict(k=2, in_frac_bits=13, exp_depth=65536),
    "exp_range_widest": dict(exp_range=64.0),        # R = 2^in_int_bits: the table spans the input
    "exp_range_widest_step1": dict(k=1, in_int_bits=3, in_frac_bits=5, exp_range=8.0),
    "ln_mant_1": dict(ln_mant_bits=1),
    "ln_mant_of": dict(ln_mant_bits=10),             # = out_frac_bits
    "ln_mant_of_small": dict(k=2, out_frac_bits=3, ln_mant_bits=3),
    "out_frac_1": dict(k=3, out_frac_bits=1, ln_mant_bits=1),
    "in_w_2": dict(k=2, in_int_bits=1, in_frac_bits=1, exp_range=2.0, exp_depth=2),
    "divide_n10": dict(k=10, normalise="divide"),
    "sum_guard_max": dict(sum_guard_bits=16),        # the sum table's widest fraction
    "sum_range_widest": dict(sum_guard_bits=1, sum_exp_range=64.0),
    "n11_k5_topk_pipe": dict(n=11, k=5, topk_pipeline=1),   # S3 split after the top-K selection
    "divide_pipe_1": dict(n=5, k=5, normalise="divide", divide_pipeline=1),
    "divide_pipe_max": dict(n=3, k=3, normalise="divide", divide_pipeline=10),  # a register per quotient bit
    "max_pipe_n2": dict(n=2, k=1, max_pipeline=1),   # the one comparator level registered
    "max_pipe_1": dict(n=10, k=1, max_pipeline=1),
    "max_pipe_max": dict(n=11, k=5, max_pipeline=4),  # a register per comparator level, unbalanced tree
    "max_pipe_all": dict(n=5, k=5, normalise="divide", max_pipeline=2, divide_pipeline=1),
    "sum_pipe_k2": dict(n=2, k=2, sum_pipeline=1),    # the one adder level: the register before the ln look-up
    "sum_pipe_full_max": dict(n=11, k=11, sum_pipeline=4),   # a register per adder level, unbalanced tree
    "sum_pipe_topk": dict(n=11, k=5, topk_pipeline=1, sum_pipeline=2, sum_guard_bits=2),  # with the sum table
}


def legal_config(name: str):
    return config_from_dict({**BASE, **LEGAL[name]}, source=f"<{name}>", name=f"params_{name}")


# Icarus elaborates a memory read inside `always @*` in time quadratic in the memory's depth
# (measured: 2^14 entries 8.6 s CPU, 2^16 entries several minutes), so the deepest exp table is
# elaborated by Verilator only here; see docs/mutants.md.
ICARUS_TOO_SLOW = {"exp_depth_65536"}


@pytest.mark.xdist_group("rtl_params")
@pytest.mark.parametrize("name, tool", [(n, t) for n in sorted(LEGAL) for t in sorted(CHECKS)
                                        if not (t == "iverilog" and n in ICARUS_TOO_SLOW)])
def test_boundary_legal_elaborates_clean(name, tool, tmp_path):
    ok, diag, _ = check(prepare(legal_config(name), build_root=tmp_path), tool)
    assert ok, f"{tool} rejects or warns on the legal configuration {name} {LEGAL[name]}:\n{diag}"


def _with(prep: Prepared, **changes) -> Prepared:
    return dataclasses.replace(prep, params={**prep.params, **changes})


# (legal base, parameter changes as a function of its parameters, the error module's name part)
ILLEGAL = {
    "k_zero": ("n10_k9", lambda p: {"K": 0, "SUM_W": p["OUT_FRAC"]}, "K_must_be_in_1_to_N"),
    "k_gt_n": ("n3_k3", lambda p: {"K": 4, "SUM_W": p["OUT_FRAC"] + 3}, "K_must_be_in_1_to_N"),
    "n_1": ("n2_k1", lambda p: {"N": 1, "ARGMAX_W": 1}, "N_must_be_at_least_2"),
    "out_w": ("n2_k1", lambda p: {"OUT_W": p["OUT_W"] + 1}, "OUT_W_must_be_OUT_FRAC_plus_1"),
    "sum_w_wide": ("n3_k2", lambda p: {"SUM_W": p["SUM_W"] + 1}, "SUM_W_must_be"),
    "sum_w_narrow": ("n3_k3", lambda p: {"SUM_W": p["SUM_W"] - 1}, "SUM_W_must_be"),
    "argmax_w_narrow": ("n10_k9", lambda p: {"ARGMAX_W": 3}, "ARGMAX_W_must_be"),
    "argmax_w_zero": ("n2_k1", lambda p: {"ARGMAX_W": 0}, "ARGMAX_W_must_be"),
    "argmax_w_wide": ("n2_k2", lambda p: {"ARGMAX_W": 2}, "ARGMAX_W_must_be"),
    "exp_addr_w_zero": ("exp_depth_2", lambda p: {"EXP_ADDR_W": 0, "EXP_STEP_LOG2": p["EXP_STEP_LOG2"] + 1},
                        "exp_table_span"),
    "exp_step_negative": ("n2_k1", lambda p: {"EXP_STEP_LOG2": -1, "EXP_ADDR_W": p["EXP_ADDR_W"] + 1},
                          "exp_table_span"),
    "exp_span_beyond_input": ("exp_range_widest", lambda p: {"EXP_STEP_LOG2": p["EXP_STEP_LOG2"] + 1},
                              "exp_table_span"),
    "exp_addr_w_beyond_input": ("exp_range_widest_step1", lambda p: {"EXP_ADDR_W": p["EXP_ADDR_W"] + 1},
                                "exp_table_span"),
    "divide_k_lt_n": ("n10_k9", lambda p: {"NORM_DIVIDE": 1}, "NORM_DIVIDE_needs_K_equal_N"),
    "ln_mant_zero": ("n2_k2", lambda p: {"LN_MANT_BITS": 0, "LN_DEPTH": 2}, "LN_MANT_BITS_must_be"),
    "ln_mant_gt_of": ("ln_mant_of_small", lambda p: {"LN_MANT_BITS": 4, "LN_DEPTH": 2 << 4},
                      "LN_MANT_BITS_must_be"),
    "ln_depth_k2_double": ("n3_k2", lambda p: {"LN_DEPTH": p["LN_DEPTH"] * 2}, "LN_DEPTH_must_be"),
    "ln_depth_k2_plus1": ("n2_k2", lambda p: {"LN_DEPTH": p["LN_DEPTH"] + 1}, "LN_DEPTH_must_be"),
    "ln_depth_k4_as_k2": ("ln_mant_1", lambda p: {"LN_DEPTH": 2 << p["LN_MANT_BITS"]}, "LN_DEPTH_must_be"),
    "ln_exp_bits_k2_zero": ("n3_k2", lambda p: {"LN_EXP_BITS": 0}, "LN_EXP_BITS_must_be"),
    "ln_exp_bits_k2_wide": ("n2_k2", lambda p: {"LN_EXP_BITS": 2}, "LN_EXP_BITS_must_be"),
    "ln_exp_bits_k4_narrow": ("ln_mant_1", lambda p: {"LN_EXP_BITS": 1}, "LN_EXP_BITS_must_be"),
    "sum_table_on_decision": ("n2_k1", lambda p: {"SUM_TABLE": 1}, "SUM_TABLE_only_for_log_domain_units"),
    "sum_table_on_divider": ("divide_n10", lambda p: {"SUM_TABLE": 1}, "SUM_TABLE_only_for_log_domain_units"),
    "sum_frac_below_out_frac": ("sum_guard_max", lambda p: {"SUM_FRAC": p["OUT_FRAC"] - 1,
                                                            "SUM_W": p["OUT_FRAC"] - 1 + 3},
                                "SUM_TABLE_only_for_log_domain_units"),
    "sum_frac_without_table": ("n3_k2", lambda p: {"SUM_FRAC": p["SUM_FRAC"] + 1, "SUM_W": p["SUM_W"] + 1},
                               "SUM_TABLE_only_for_log_domain_units"),
    "sum_addr_below_exp": ("sum_range_widest", lambda p: {"SUM_ADDR_W": p["EXP_ADDR_W"] - 1}, "sum_table_span"),
    "sum_span_beyond_input": ("sum_range_widest", lambda p: {"SUM_ADDR_W": p["SUM_ADDR_W"] + 1}, "sum_table_span"),
    "topk_pipe_on_full": ("n3_k3", lambda p: {"TOPK_PIPE": 1}, "TOPK_PIPE_only"),
    "topk_pipe_on_decision": ("n2_k1", lambda p: {"TOPK_PIPE": 1}, "TOPK_PIPE_only"),
    "topk_pipe_two": ("n11_k5_topk_pipe", lambda p: {"TOPK_PIPE": 2}, "TOPK_PIPE_only"),
    "div_pipe_on_log": ("n3_k3", lambda p: {"DIV_PIPE": 1}, "DIV_PIPE_in_0_to_OUT_W_minus_1"),
    "div_pipe_too_deep": ("divide_pipe_max", lambda p: {"DIV_PIPE": p["OUT_W"]}, "DIV_PIPE_in_0_to_OUT_W_minus_1"),
    "max_pipe_too_deep": ("max_pipe_max", lambda p: {"MAX_PIPE": p["MAX_PIPE"] + 1}, "MAX_PIPE_in_0_to_clog2_N"),
    "max_pipe_n2_two": ("max_pipe_n2", lambda p: {"MAX_PIPE": 2}, "MAX_PIPE_in_0_to_clog2_N"),
    "max_pipe_negative": ("n3_k1", lambda p: {"MAX_PIPE": -1}, "MAX_PIPE_in_0_to_clog2_N"),
    "sum_pipe_too_deep": ("sum_pipe_full_max", lambda p: {"SUM_PIPE": p["SUM_PIPE"] + 1}, "SUM_PIPE_in_0_to_clog2_K"),
    "sum_pipe_k2_two": ("sum_pipe_k2", lambda p: {"SUM_PIPE": 2}, "SUM_PIPE_in_0_to_clog2_K"),
    "sum_pipe_negative": ("n3_k2", lambda p: {"SUM_PIPE": -1}, "SUM_PIPE_in_0_to_clog2_K"),
    "sum_pipe_on_decision": ("n2_k1", lambda p: {"SUM_PIPE": 1}, "SUM_PIPE_in_0_to_clog2_K"),
    "sum_pipe_on_divider": ("divide_n10", lambda p: {"SUM_PIPE": 1}, "SUM_PIPE_in_0_to_clog2_K"),
}


@pytest.mark.xdist_group("rtl_params")
@pytest.mark.parametrize("run_tool", [verilator_lint, iverilog_compile], ids=["verilator", "iverilog"])
@pytest.mark.parametrize("name", sorted(ILLEGAL))
def test_illegal_parameters_stop_elaboration(name, run_tool, tmp_path):
    base, change, named = ILLEGAL[name]
    prep = prepare(legal_config(base), build_root=tmp_path)
    bad = change(prep.params)
    res, _ = run_tool(_with(prep, **bad))
    out = res.stdout + res.stderr
    assert res.returncode != 0, f"elaboration accepted {bad} on {base}:\n{out}"
    assert f"softmax_unit_param_error_{named}" in out, f"the error does not name the problem ({named}):\n{out}"


def test_illegal_changes_are_single_faults(tmp_path):
    """Each illegal case differs from its legal base only where it means to (the base itself is
    clean, see above), and really changes a parameter."""
    for name, (base, change, _) in ILLEGAL.items():
        params = prepare(legal_config(base), build_root=tmp_path).params
        bad = change(params)
        assert set(bad) <= set(params), f"{name}: unknown parameter(s) {set(bad) - set(params)}"
        assert any(params[k] != v for k, v in bad.items()), f"{name}: {bad} changes nothing"


@pytest.mark.parametrize("changes, why", [
    (dict(n=10, k=1, max_pipeline=5), r"field 'max_pipeline': must be in 0\.\.ceil\(log2 n\) = 4 .*got 5"),
    (dict(n=2, k=2, max_pipeline=2), r"field 'max_pipeline': must be in 0\.\.ceil\(log2 n\) = 1 .*got 2"),
    (dict(n=10, k=1, max_pipeline=-1), r"field 'max_pipeline': must be in 0\.\.ceil\(log2 n\) = 4 .*got -1"),
])
def test_max_pipeline_refused_by_the_model(changes, why):
    """models.config refuses what the RTL would refuse (above), naming the field."""
    with pytest.raises(ConfigError, match=why):
        config_from_dict({**BASE, **changes}, source="<max_pipeline>")


@pytest.mark.parametrize("changes, why", [
    (dict(n=10, k=10, sum_pipeline=5), r"field 'sum_pipeline': must be in 0\.\.ceil\(log2 k\) = 4 .*got 5"),
    (dict(n=10, k=2, sum_pipeline=2), r"field 'sum_pipeline': must be in 0\.\.ceil\(log2 k\) = 1 .*got 2"),
    (dict(n=10, k=4, sum_pipeline=-1), r"field 'sum_pipeline': must be in 0\.\.ceil\(log2 k\) = 2 .*got -1"),
    (dict(n=10, k=1, sum_pipeline=1), r"field 'sum_pipeline': .*log-domain units only .*this is the decision unit"),
    (dict(n=10, k=10, normalise="divide", sum_pipeline=1),
     r"field 'sum_pipeline': .*log-domain units only .*this is the conventional unit"),
    (dict(n=10, k=10, sum_pipeline=True), r"field 'sum_pipeline': must be an integer, got True"),
])
def test_sum_pipeline_refused_by_the_model(changes, why):
    """models.config refuses what the RTL would refuse (above), naming the field."""
    with pytest.raises(ConfigError, match=why):
        config_from_dict({**BASE, **changes}, source="<sum_pipeline>")
