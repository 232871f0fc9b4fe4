"""The testplan: features of the unit, mapped to the tests that exercise them and the
coverpoints that show they were exercised. docs/testplan.md is rendered from this table
(`python -m tb.testplan > docs/testplan.md`; tests/test_sim_plan.py checks it is current), and
every regression summary maps its results back onto it.
"""
from __future__ import annotations

from dataclasses import dataclass

from models.variants import VARIANTS

ALL_VARIANTS = tuple(VARIANTS)


@dataclass(frozen=True)
class Feature:
    id: str
    title: str
    description: str
    tests: tuple[str, ...]
    coverpoints: tuple[str, ...]
    checks: tuple[str, ...]
    variants: tuple[str, ...] = ALL_VARIANTS      # the units that have this feature


TESTS = {
    "smx_smoke": "a few hundred random vectors, ready always high, no idle cycles",
    "smx_random": "constrained random vectors (flat, gaussian, peaky and few-level shapes; one row in 16 as floats "
                  "through the quantiser, some out of range) and masks (all live, random, prefix, none); mild "
                  "backpressure and idle cycles",
    "smx_corners": "directed corners, exp-table sweep, the variant's directed vectors (ln-table sweep in the "
                   "log domain, divisor sweep for the dividers)",
    "smx_replay": "bundled (or DUMP=) real-logit dumps row by row, padded with masked lanes",
    "smx_backpressure": "sparse, bursty and alternating out_ready; long idle gaps on the input",
    "smx_reset": "resets in the middle of traffic, then a silent idle stretch, then traffic again",
}

FEATURES = (
    Feature("F01_datapath_exact", "Bit-exact datapath",
            "out_data and out_argmax equal the contract model (docs/numerics.md) on every lane.",
            ("smx_smoke", "smx_random", "smx_corners", "smx_replay", "smx_backpressure", "smx_reset"),
            ("smx.output.values",), ("data_mismatch", "argmax_mismatch")),
    Feature("F02_exp_table", "Exp look-up table",
            "Every exp-table entry is read through z_max - z_i; d = 0 gives exactly 1.0; differences "
            "beyond the table give 0.",
            ("smx_corners", "smx_random"), ("smx.exp.first_entry", "smx.exp.region"), ("data_mismatch",)),
    Feature("F03_topk_normalisation", "Top-K sum and ln table (log domain, K > 1)",
            "Sum of the K largest exp values, leading-one/mantissa ln look-up, second exp look-up; "
            "every reachable ln-table entry.",
            ("smx_corners", "smx_random"), ("smx.ln.entry", "smx_info.exp.second_entry"), ("data_mismatch",),
            ("topk", "full")),
    Feature("F04_max_argmax", "Max tree and argmax",
            "The max may sit in any lane; ties for the max go to the lowest index.",
            ("smx_corners", "smx_random"), ("smx.max_lane", "smx.ties.max"),
            ("argmax_mismatch", "argmax_vs_softmax_quantized", "value_argmax")),
    Feature("F05_kth_ties", "Ties at the K-th place",
            "Equal exp values at the K-th and (K+1)-th place add the same sum whichever lane is taken.",
            ("smx_corners", "smx_random"), ("smx.ties.kth",), ("data_mismatch",), ("topk",)),
    Feature("F06_masks", "Lane masks",
            "Masked lanes output 0 and take no part in the max or the sum; no live lane gives all "
            "zeros and argmax 0; single live lane; all lanes live.",
            ("smx_corners", "smx_random", "smx_replay"), ("smx.mask.live_lanes",), ("data_mismatch", "argmax_mismatch")),
    Feature("F07_input_range", "Input range and saturation",
            "Codes at the top and bottom of the range (saturated floats, counted), the widest "
            "difference z_max - z_i = 2^W - 1 (no wrap-around).",
            ("smx_corners", "smx_random"), ("smx.input.extremes", "smx_info.input.saturated_values"),
            ("data_mismatch",)),
    Feature("F08_accuracy", "Accuracy against the float references",
            "MSE against the variant's ideal on the quantised inputs within the configuration's "
            "bounds; argmax agreement with softmax (quantised: 100 %, floats: reported).",
            ("smx_random", "smx_corners", "smx_replay"), (),
            ("mse_vector_bound", "mse_mean_bound", "argmax_vs_softmax_quantized", "value_argmax")),
    Feature("F09_flow_control", "Valid/ready flow control",
            "One vector per clock when ready; nothing lost, duplicated or reordered under output "
            "backpressure and input idle cycles; the DUT's own backpressure on in_ready.",
            ("smx_backpressure", "smx_random", "smx_reset"),
            ("smx.flow.ready", "smx.flow.gaps", "smx.flow.out_stalled", "smx.flow.in_stalled",
             "smx_info.flow.ready_x_gaps"),
            ("missing_output", "unexpected_output", "output_before_input", "data_mismatch")),
    Feature("F10_reset", "Reset in the middle of traffic",
            "Synchronous reset at any time: vectors in flight may be lost, nothing stale comes out "
            "afterwards, and traffic resumes.",
            ("smx_reset",), ("smx.reset",), ("unexpected_output", "output_before_input", "data_mismatch")),
    Feature("F11_x_propagation", "No X/Z after reset",
            "in_ready and out_valid are never X/Z after reset; out_data/out_argmax carry no X/Z "
            "when out_valid is high (Icarus is 4-state; Verilator is 2-state and cannot show X).",
            ("smx_smoke", "smx_random", "smx_corners", "smx_replay", "smx_backpressure", "smx_reset"),
            (), ("x_on_output", "control_x")),
    Feature("F12_real_logits", "Real logits",
            "Logits of a trained classifier (digits CNN, N = 10) and attention rows (MiniLM, N = 64) "
            "replayed on every configuration that fits, argmax agreement and MSE distribution per dump.",
            ("smx_replay",), (), ("data_mismatch", "argmax_vs_softmax_quantized", "mse_vector_bound")),
    Feature("F13_divide_normalisation", "Sum of all N and dividers (conventional, K = N)",
            "y_i = round(e_i * ONE / S), halves up, one divider per lane: the divisor S over [1, N] in "
            "log-spaced ranges (S = 1: only the max lane adds; S = N: all lanes tied), the quotient "
            "exact, rounded down, a half (rounded up) or rounded up, and every reachable "
            "combination of the two.",
            ("smx_corners", "smx_random"), ("smx.div.sum", "smx.div.rounding", "smx.div.sum_x_rounding"),
            ("data_mismatch",), ("conventional",)),
)


def render_markdown() -> str:
    out = ["# Testplan",
           "",
           "Rendered from `tb/testplan.py` (`python -m tb.testplan > docs/testplan.md`); the regression",
           "summary (`results/regression.md`, `results/<config>/<sim>/summary.json`) maps its results",
           "onto these features. Coverpoints under `smx.` are goals (their bins make the coverage",
           "percentage); `smx_info.` points are reported only. Check names are the scoreboard's error",
           "kinds (tb/scoreboard.py). A feature applies to the variants listed (models/variants); on",
           "the others it is reported as n/a.",
           "",
           "## Tests",
           "",
           "| test | stimulus |",
           "|---|---|"]
    out += [f"| `{t}` | {d} |" for t, d in TESTS.items()]
    out += ["", "## Features", "",
            "| id | feature | variants | tests | coverpoints | checks |", "|---|---|---|---|---|---|"]
    for f in FEATURES:
        variants = "all" if f.variants == ALL_VARIANTS else ", ".join(f.variants)
        out.append(f"| {f.id} | **{f.title}**: {f.description} | {variants} | "
                   f"{', '.join(f'`{t}`' for t in f.tests)} | "
                   f"{', '.join(f'`{c}`' for c in f.coverpoints) or '-'} | {', '.join(f'`{c}`' for c in f.checks)} |")
    return "\n".join(out) + "\n"


def map_results(test_status: dict[str, str], coverage_points: dict, errors: dict[str, int],
                variant: str | None = None) -> list[dict]:
    """Per feature: the status of its tests in this run, its coverpoints' percentages, and the
    errors of its check kinds; "n/a" for a feature the run's variant does not have (every
    feature applies when the variant is not given)."""
    if variant is not None and variant not in ALL_VARIANTS:
        raise ValueError(f"unknown variant '{variant}' (known: {', '.join(ALL_VARIANTS)})")
    rows = []
    for f in FEATURES:
        if variant is not None and variant not in f.variants:
            rows.append({"feature": f.id, "title": f.title, "status": "n/a", "tests": {},
                         "coverpoints": {}, "errors": {}})
            continue
        ran = {t: test_status[t] for t in f.tests if t in test_status}
        cps = {c: coverage_points[c]["percent"] for c in f.coverpoints if c in coverage_points}
        errs = {c: errors[c] for c in f.checks if errors.get(c)}
        if not ran:
            status = "not run"
        elif errs or any(s != "passed" for s in ran.values()):
            status = "FAIL"
        elif any(p < 100.0 for c, p in cps.items() if c.startswith("smx.")):   # goals only
            status = "pass (coverage holes)"
        else:
            status = "pass"
        rows.append({"feature": f.id, "title": f.title, "status": status, "tests": ran,
                     "coverpoints": cps, "errors": errs})
    return rows


if __name__ == "__main__":
    print(render_markdown(), end="")
