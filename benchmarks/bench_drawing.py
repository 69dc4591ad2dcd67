"""Benchmark: render every catalog entry's side view and technical drawing (target <= 20 s).

.venv/bin/python benchmarks/bench_drawing.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ordnance_db.catalog import load_catalog
from ordnance_db.drawing import png_bytes, render_side, render_svg
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR


def main() -> int:
    catalog = load_catalog(CATALOG_DIR, IMAGES_DIR)
    colours = catalog.colours()
    entries = [e for e in catalog.entries.values() if e.geometry is not None]
    started = time.perf_counter()
    for entry in entries:
        assert entry.geometry is not None
        png_bytes(render_side(entry, colours, view=entry.geometry.reference_view))
        render_svg(entry, colours)
    seconds = time.perf_counter() - started
    print(f"rendered {len(entries)} entries (side.png + drawing.svg) in {seconds:.2f} s (target <= 20 s)")
    return 0 if seconds <= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
