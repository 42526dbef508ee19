"""The kit's output: a table per device (the default), CSV or JSON, and a summary of
coverage (how many ops run natively, through the host, or not at all)."""
from __future__ import annotations

import csv
import io
import json

COLUMNS = ("device", "op", "status", "coverage", "passed", "failed", "missing", "n/a", "worst_error", "problem")


def rows(device_name: str, reports) -> list[dict]:
    return [{"device": device_name, "op": r.op, "status": r.status, "coverage": r.coverage,
             "passed": r.count("pass"), "failed": r.count("fail"), "missing": r.count("missing"),
             "n/a": r.count("n/a"), "worst_error": r.worst_error, "problem": r.first_problem} for r in reports]


def summary(reports) -> dict:
    coverage = [r.coverage for r in reports]
    return {"ops": len(reports), **{status: sum(r.status == status for r in reports)
                                    for status in ("pass", "fail", "unsupported")},
            "native": sum(c.startswith("native") for c in coverage),
            "host fallback": sum(c.startswith("host") for c in coverage),
            "missing": sum(c == "missing" for c in coverage),
            "partial": sum(c.endswith("partial") for c in coverage),
            "cases": sum(len(r.outcomes) for r in reports),
            "cases failed": sum(r.count("fail") for r in reports)}


def table(device, reports, seconds: float, verbose: bool = False) -> str:
    """What the device is, its failing and unsupported ops (every op with ``verbose``),
    then the summary."""
    shown = [r for r in rows(device.name, reports) if verbose or r["status"] != "pass" or r["missing"]]
    out = io.StringIO()
    out.write(f"== {device.name}: {device.info.description} (dtypes: {', '.join(d.name for d in device.dtypes)})\n")
    if shown:
        width = max(len(r["op"]) for r in shown)
        out.write(f"{'op':<{width}}  {'status':<11} {'coverage':<22} {'pass':>5} {'fail':>5} {'miss':>5}  "
                  f"{'worst err':>9}  first problem\n")
        for r in shown:
            out.write(f"{r['op']:<{width}}  {r['status']:<11} {r['coverage']:<22} {r['passed']:>5} {r['failed']:>5} "
                      f"{r['missing']:>5}  {r['worst_error']:>9.1e}  {r['problem'][:110]}\n")
    s = summary(reports)
    out.write(f"{s['ops']} ops, {s['cases']} cases in {seconds:.1f} s: {s['pass']} pass, {s['fail']} fail "
              f"({s['cases failed']} cases), {s['unsupported']} unsupported | coverage: {s['native']} native, "
              f"{s['host fallback']} host fallback, {s['missing']} missing, {s['partial']} partly missing\n")
    return out.getvalue()


def to_csv(all_rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    writer.writerows(all_rows)
    return out.getvalue()


def to_json(results: dict) -> str:
    """``results``: device name -> (reports, seconds)."""
    return json.dumps({name: {"seconds": round(seconds, 2), "summary": summary(reports), "ops": rows(name, reports)}
                       for name, (reports, seconds) in results.items()}, indent=1)
