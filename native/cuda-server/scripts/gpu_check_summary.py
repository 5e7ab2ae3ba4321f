#!/usr/bin/python3
"""The last line of gpu-check.sh: one JSON object from the logs of its steps.

Usage: gpu_check_summary.py LOG_DIR MODE SECONDS

Reads LOG_DIR/summary.tsv (step, status, seconds), gpu-tests.json (GoogleTest's report),
memcheck.log and racecheck.log (compute-sanitizer's summaries), compare-hf.json and
compare-hf-cpu.json (compare_hf.py --json) and bench.json (brewgate-cuda-bench --json).
A figure whose step did not run or did not finish is null, never zero. Overall: "passed" only
when every step passed; "failed" when any failed; otherwise "incomplete" (a step skipped or
cut for time: a skip is never a pass).
"""
import json
import os
import re
import sys


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def load(path):
    text = read(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def gtest(path):
    rep = load(path)
    if rep is None:
        return None
    out = {"passed": 0, "failed": 0, "skipped": 0, "failed_names": []}
    for suite in rep.get("testsuites", []):
        for t in suite.get("testsuite", []):
            name = f"{suite.get('name')}.{t.get('name')}"
            if t.get("failures"):
                out["failed"] += 1
                out["failed_names"].append(name)
            elif t.get("result") == "SKIPPED":
                out["skipped"] += 1
            else:
                out["passed"] += 1
    return out


def sanitizer(path):
    """compute-sanitizer's own count of findings; None when it printed no summary."""
    text = read(path)
    if text is None:
        return None
    m = re.search(r"RACECHECK SUMMARY: (\d+) hazards? displayed \((\d+) errors?, (\d+) warnings?\)", text)
    if m:
        return {"hazards": int(m.group(1)), "errors": int(m.group(2)), "warnings": int(m.group(3))}
    m = re.search(r"ERROR SUMMARY: (\d+) errors?", text)
    return {"errors": int(m.group(1))} if m else None


def main():
    logs, mode, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    steps = {}
    for line in (read(os.path.join(logs, "summary.tsv")) or "").splitlines():
        name, status, secs = line.split("\t")
        steps[name] = {"status": status, "s": int(secs)}
    statuses = [s["status"] for s in steps.values()]
    if any(s.startswith("FAIL") for s in statuses):
        overall = "failed"
    elif statuses and all(s == "ok" for s in statuses):
        overall = "passed"
    else:
        overall = "incomplete"
    out = {
        "gpu_check": overall,
        "mode": mode,
        "seconds": seconds,
        "steps": steps,
        "tests": gtest(os.path.join(logs, "gpu-tests.json")),
        "sanitizer": {
            "memcheck": sanitizer(os.path.join(logs, "memcheck.log")),
            "racecheck": sanitizer(os.path.join(logs, "racecheck.log")),
        },
        "compare_hf": {
            "cuda": load(os.path.join(logs, "compare-hf.json")),
            "cpu": load(os.path.join(logs, "compare-hf-cpu.json")),
        },
        "bench": load(os.path.join(logs, "bench.json")),
    }
    print(json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
