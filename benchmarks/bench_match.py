"""Benchmark the photo matcher: index build, index load, one 12-megapixel match, memory.

    .venv/bin/python benchmarks/bench_match.py [--skip-build]

Targets (issue 5): the whole match of a 12 MP JPEG (load, find object, features, search) takes no
longer than Pillow's plain full-size decode of the same file; index build for the core catalog
<= 120 s; index load <= 0.5 s; matching adds <= 300 MB to peak memory. Ratios come from one run.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ordnance_db.catalog import load_catalog  # noqa: E402
from ordnance_db.matcher import index_path, load_matcher, match_photo  # noqa: E402
from ordnance_db.scenes import scenes  # noqa: E402
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR, VAR_DIR  # noqa: E402


def twelve_megapixel_photo(path: Path) -> None:
    """A 4000x3000 JPEG of a catalog item on the ground, with sensor-like noise (about 3 MB)."""
    catalog = load_catalog(CATALOG_DIR, IMAGES_DIR)
    scene = next(scenes(catalog.entries["ofab-250-270"], catalog.colours(), 1, seed=4, recipe="reference"))
    big = scene.image.resize((4000, 3000), Image.Resampling.BICUBIC)
    noisy = np.asarray(big, np.float32) + np.random.default_rng(1).normal(0, 4, (3000, 4000, 3))
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=90)


def median_seconds(action, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


PEAK_SCRIPT = """
import sys
from ordnance_db.catalog import load_catalog
from ordnance_db.matcher import load_matcher, match_photo
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR
catalog = load_catalog(CATALOG_DIR, IMAGES_DIR)
if sys.argv[1] == "match":
    matcher, _ = load_matcher(catalog)
    for _ in range(5):
        match_photo(matcher, sys.argv[2])
# VmHWM, not ru_maxrss: the latter carries the parent's high-water mark across exec.
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(int(hwm.split()[1]) / 1024)
"""
BUILD_SCRIPT = """
import time
from ordnance_db.catalog import load_catalog
from ordnance_db.matcher import build_matcher
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR
started = time.perf_counter()
build_matcher(load_catalog(CATALOG_DIR, IMAGES_DIR))
print(time.perf_counter() - started)
"""


def run_script(script: str, *args: str) -> float:
    """Run a snippet in a fresh interpreter (own memory, own thread pools) and read its number."""
    out = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-build", action="store_true", help="reuse the index under var/")
    args = parser.parse_args()
    catalog = load_catalog(CATALOG_DIR, IMAGES_DIR)
    figures: dict[str, float] = {}
    if not args.skip_build:
        figures["index_build_s"] = run_script(BUILD_SCRIPT)
    load_matcher(catalog)  # make sure a current index is on disk
    started = time.perf_counter()
    matcher, built = load_matcher(catalog)
    figures["index_load_s"] = time.perf_counter() - started
    assert not built
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo-12mp.jpg"
        twelve_megapixel_photo(photo)
        match_photo(matcher, photo)  # warm-up
        figures["full_decode_ms"] = 1000 * median_seconds(lambda: Image.open(photo).convert("RGB"))
        figures["match_ms"] = 1000 * median_seconds(lambda: match_photo(matcher, photo))
        matched = run_script(PEAK_SCRIPT, "match", str(photo))
        figures["match_added_peak_mb"] = matched - run_script(PEAK_SCRIPT, "none")
    ratio = figures["match_ms"] / figures["full_decode_ms"]
    for key, value in figures.items():
        print(f"{key:22s} {value:9.2f}")
    print(f"{'match / full decode':22s} {ratio:9.2f}")
    print(f"index file: {index_path(VAR_DIR)} ({index_path(VAR_DIR).stat().st_size / 2**20:.1f} MB)")
    print(f"peak RSS of this run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    ok = (
        ratio <= 1.0
        and figures.get("index_build_s", 0) <= 120
        and figures["index_load_s"] <= 0.5
        and figures["match_added_peak_mb"] <= 300
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
