"""A run's summary.json (from the tests' own result files, the JUnit XML and the coverage file)
and its console rendering. Every figure may be missing (a test that crashed wrote none): the
summary says so, and nothing here can fail on an absent value."""
from __future__ import annotations

import json
from pathlib import Path

from . import testplan


def _per_test(req, junit: dict, results: Path) -> dict[str, dict]:
    out = {}
    for t in req.tests:
        f = results / "tests" / f"{t}.json"
        r = json.loads(f.read_text()) if f.is_file() else {"test": t, "error": "no results written"}
        status, message = junit.get(t, ("not run (simulator stopped)", ""))
        r["status"] = status
        details = r.get("error_details") or []
        if status != "passed":
            # one line saying why: the first check that failed, else the test's own exception
            r["why"] = details[0].splitlines()[0] if details else (message or r.get("error") or status)
        out[t] = r
    return out


def summarise(req, junit: dict, results: Path, sim_error: str | None, waves_file, timing: dict,
              prov: dict) -> dict:
    cfg = req.cfg
    per_test = _per_test(req, junit, results)
    cov_file = results / "coverage.json"
    cov = json.loads(cov_file.read_text()) if cov_file.is_file() else {"percent": None, "points": {}, "holes": {}}
    done = [r for r in per_test.values() if "vectors" in r]
    vectors = sum(r["vectors"] for r in done)
    errors: dict[str, int] = {}
    for r in done:
        for k, n in r.get("errors", {}).items():
            errors[k] = errors.get(k, 0) + n

    def wavg(key):
        pairs = [(r[key], r["vectors"]) for r in done if r.get(key) is not None]
        tot = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / tot if tot else None

    run_s = sum(r.get("run_s", 0) for r in done)
    loaded = {str(p): d for p, d in req.dumps}
    dumps_report = {}
    for r in done:
        for src, st in r.get("per_source", {}).items():
            if src in loaded:
                d = loaded[src]
                entry = dumps_report.setdefault(src, {"rows_in_dump": d.m, "notes": list(d.notes),
                                                      "sha256": prov["dumps"].get(src)})
                entry.update(st)
    failed = [t for t in req.tests if per_test[t]["status"] != "passed"]
    first = next((per_test[t] for t in failed if per_test[t].get("error_details")), None)
    return {
        "config": cfg.name, "sim": req.results.name, "design": req.results.parent.name,
        "seed": req.seed, "profile": req.profile, "model": req.model, "check": req.check, "tests_run": req.tests,
        "passed": bool(junit) and not failed and sim_error is None,
        "vectors": vectors,
        "mismatches": sum(r.get("mismatches", 0) for r in done),
        "errors": errors,
        "first_failure": ({"test": first["test"], "detail": first["error_details"][0]} if first else None),
        "x_checks": req.tool.x_checks,
        "argmax_agreement_quantized": wavg("argmax_agreement_quantized"),
        "argmax_agreement_float": wavg("argmax_agreement_float"),
        "mse_mean": wavg("mse_mean"),
        "mse_max": max((r["mse_max"] for r in done if r.get("mse_max") is not None), default=None),
        "coverage_percent": cov.get("percent"),
        "coverage_holes": cov.get("holes"),
        "wall_s": round(timing["wall_s"], 2), "build_s": round(timing["build_s"], 2),
        "sim_s": round(timing["sim_s"], 2),
        "vectors_per_s": round(vectors / run_s, 1) if run_s else None,
        "dumps": dumps_report,
        "tests": {t: {k: per_test[t].get(k) for k in ("status", "why", "vectors", "mismatches", "wall_s",
                                                       "vectors_per_s", "errors", "rerun")} for t in req.tests},
        "testplan": testplan.map_results({t: r["status"] for t, r in per_test.items()}, cov.get("points", {}), errors,
                                        variant=cfg.variant),
        "notes": req.notes + ([sim_error] if sim_error else []),
        "junit": str(results / "results.xml"), "log": str(results / "sim.log"),
        "waves": str(waves_file) if waves_file else None,
        "rerun": prov["rerun"],
        "provenance": prov,
    }


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _g(v) -> str:
    return "-" if v is None else f"{v:.3g}"


def _num(v, fmt: str = ".0f") -> str:
    return "-" if v is None else format(v, fmt)


def format_summary(s: dict) -> str:
    lines = [f"{s['config']} on {s['sim']} (seed {s['seed']}, profile {s['profile']}, check {s.get('check', '-')}): "
             f"{'PASSED' if s['passed'] else 'FAILED'}",
             f"  vectors {s['vectors']}, mismatches {s['mismatches']}, argmax agreement quantised "
             f"{_pct(s.get('argmax_agreement_quantized'))}, float {_pct(s.get('argmax_agreement_float'))}",
             f"  MSE vs ideal mean {_g(s.get('mse_mean'))}, max {_g(s.get('mse_max'))}; functional coverage "
             f"{_num(s.get('coverage_percent'), '.1f')}%; {_num(s.get('vectors_per_s'))} vectors/s; "
             f"wall {_num(s.get('wall_s'), '.1f')} s",
             f"  X checks: {s.get('x_checks', '-')}"]
    for t, r in s["tests"].items():
        lines.append(f"  {t:18s} {r['status']:8s} {_num(r.get('vectors'), 'd')} vectors"
                     + (f"  errors {r['errors']}" if r.get("errors") else "")
                     + (f"\n    why: {r['why']}" if r.get("why") else ""))
    for src, d in s["dumps"].items():
        mse = d.get("mse_vs_ideal") or {}
        lines.append(f"  dump {Path(src).name}: {d.get('vectors')} of {d.get('rows_in_dump')} rows, argmax agreement "
                     f"quantised {_pct(d.get('argmax_agreement_quantized'))}, float {_pct(d.get('argmax_agreement_float'))}, "
                     f"MSE vs ideal p50 {_g(mse.get('p50'))}, max {_g(mse.get('max'))}, "
                     f"saturated in quantisation {d.get('quantisation_saturated_values', 0)} values "
                     f"in {d.get('quantisation_saturated_rows', 0)} rows")
    if s.get("waves"):
        lines.append(f"  waves: {s['waves']}")
    cc = s.get("code_coverage")
    if cc:
        kinds = ", ".join(f"{k} {d['hit']}/{d['points']} ({d['percent']}%)" for k, d in cc.get("dut", {}).items())
        lines.append(f"  RTL code coverage (Verilator): {cc.get('percent')}% of {cc.get('points')} points: {kinds}; "
                     f"annotated sources: {cc.get('annotated')}")
    lines += [f"  note: {n}" for n in s["notes"]]
    if not s["passed"]:
        ff = s.get("first_failure")
        if ff:
            lines.append(f"  first failure ({ff['test']}):")
            lines += ["  " + ln for ln in ff["detail"].splitlines()]
        lines.append(f"  log: {s['log']}")
        lines.append(f"  rerun: {s['rerun']}")
        dg = s.get("diagnosis")
        if dg:
            lines.append(f"  diagnosis (the failing tests rerun with CHECK=monitors): errors {dg['errors']}")
            if dg.get("warning"):
                lines.append(f"  WARNING: {dg['warning']}")
            if dg.get("first_failure"):
                lines += ["  " + ln for ln in dg["first_failure"]["detail"].splitlines()]
            lines.append(f"  log: {dg['log']}")
    return "\n".join(lines)
