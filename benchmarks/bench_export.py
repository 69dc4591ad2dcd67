"""Benchmark: one reference sheet and the field booklet of every catalog entry.

Run: `.venv/bin/python benchmarks/bench_export.py [--repeat N]`. Builds the real catalog into a
temporary SQLite database, then prints the one-off font set-up (per process; the first run on a
machine also makes the cached bold font under var/fonts), the time of one sheet (median of N,
each a complete PDF) and of the booklet of all entries (the 67 core ids).
Targets (issue 6): one sheet <= 1 s, booklet <= 15 s; exits 1 if missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402

from ordnance_db import db, export  # noqa: E402

SHEET_ID = "ofab-250-270"
SHEET_TARGET_S = 1.0
BOOKLET_TARGET_S = 15.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="sheets to time (median reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        db.ensure_built(engine)
        started = time.perf_counter()
        export._font_files()  # fonts are found (and the bold instance cached) once per process
        fonts_s = time.perf_counter() - started

        sheet = export.select_entries(engine, [SHEET_ID])
        times = []
        for _ in range(max(args.repeat, 1)):
            started = time.perf_counter()
            data = export.pdf_bytes(engine, sheet)
            times.append(time.perf_counter() - started)

        entries = export.select_entries(engine)
        started = time.perf_counter()
        booklet = export.pdf_bytes(engine, entries, selection=export.describe_selection())
        booklet_s = time.perf_counter() - started

    figures = {
        "font_setup_s": round(fonts_s, 2),
        "sheet_id": SHEET_ID,
        "sheet_s_median": round(statistics.median(times), 3),
        "sheet_s_max": round(max(times), 3),
        "sheet_kb": round(len(data) / 1024, 1),
        "booklet_entries": len(entries),
        "booklet_s": round(booklet_s, 2),
        "booklet_mb": round(len(booklet) / 1024 / 1024, 2),
    }
    print(json.dumps(figures, indent=2))
    ok = figures["sheet_s_median"] <= SHEET_TARGET_S and booklet_s <= BOOKLET_TARGET_S
    print(
        "targets met"
        if ok
        else f"TARGETS MISSED: one sheet <= {SHEET_TARGET_S:g} s, booklet <= {BOOKLET_TARGET_S:g} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
