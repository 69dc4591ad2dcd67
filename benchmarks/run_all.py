"""Run every benchmark in this folder, one after another, and print their figures.

    .venv/bin/python benchmarks/run_all.py     (or: make bench)

Exits 1 if any benchmark missed its target. The match benchmark needs the held-out set only for
`evaluate`; this runner generates it under var/eval and evaluates it too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STEPS = [
    ["benchmarks/bench_catalog.py"],
    ["benchmarks/bench_imaging.py"],
    ["benchmarks/bench_drawing.py"],
    ["benchmarks/bench_match.py"],
    ["benchmarks/make_eval_set.py", "var/eval"],
    ["-m", "ordnance_db", "evaluate", "var/eval"],
    ["benchmarks/bench_export.py"],
]


def main() -> int:
    failed = []
    extra = sorted(p.name for p in HERE.glob("bench_*.py"))
    steps = STEPS + [[f"benchmarks/{name}"] for name in extra if [f"benchmarks/{name}"] not in STEPS]
    for step in steps:
        print(f"\n== {' '.join(step)}", flush=True)
        if subprocess.run([sys.executable, *step], cwd=ROOT).returncode != 0:
            failed.append(" ".join(step))
    if failed:
        print("\nmissed a target or failed: " + "; ".join(failed))
        return 1
    print("\nall benchmarks met their targets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
