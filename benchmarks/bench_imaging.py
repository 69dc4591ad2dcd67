"""Benchmark: `load_image` on a 12-megapixel phone-sized JPEG against Pillow's plain full decode.

Issue target: loading for analysis (`load_image(path, max_side=ANALYSIS_SIDE)`, what the photo
matcher does) takes less than one third of `Image.open(path).load()` + `convert("RGB")`. Exits 1
when the target is missed. The extra lines (display size 1600, draft decode alone, resize alone)
show where the time goes: entropy decoding is a floor no scale factor removes.

    .venv/bin/python benchmarks/bench_imaging.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, uninstalled

from ordnance_db.imaging import ANALYSIS_SIDE, load_image

WIDTH, HEIGHT = 4000, 3000
TARGET = 1 / 3


def make_photo(path: Path, seed: int = 12) -> None:
    """Write a photo-like 4000x3000 JPEG at quality 90: smooth gradients plus sensor-like noise.

    Luma noise sigma 4 and weaker chroma noise give about 2.5 MB, in the range of a phone's
    12 MP JPEG; pure gradients would flatter the decoder, heavy colour noise would penalise it.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    base = np.stack(
        [128 + 100 * np.sin(x / 300), 255 * y / HEIGHT, 128 + 90 * np.cos((x + y) / 500)],
        axis=-1,
    )
    noise = rng.normal(0, 4, (HEIGHT, WIDTH, 1)) + rng.normal(0, 1.3, (HEIGHT, WIDTH, 3))
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=90)


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` runs after one warm-up run (page cache, lazy imports)."""
    work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def full_decode(path: Path) -> Image.Image:
    """The baseline: what code without imaging.py would do."""
    with Image.open(path) as img:
        img.load()
        return img.convert("RGB")


def draft_decode(path: Path, size: tuple[int, int]) -> Image.Image:
    """Only the reduced-scale JPEG decode, to show the floor under load_image."""
    with Image.open(path) as img:
        img.draft("RGB", size)
        img.load()
        return img.copy()


def main(argv: list[str] | None = None) -> int:
    """Time both, print the figures and the ratio, return 1 if the ratio misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per measurement (median)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-imaging-") as tmp:
        path = Path(tmp) / "photo-12mp.jpg"
        make_photo(path)
        size_mb = path.stat().st_size / 2**20
        full = median_seconds(lambda: full_decode(path), args.repeats)
        ours = median_seconds(lambda: load_image(path), args.repeats)
        draft = median_seconds(lambda: draft_decode(path, (1600, 1200)), args.repeats)
        half = draft_decode(path, (1600, 1200))
        resize = median_seconds(lambda: half.resize((1600, 1200), Image.Resampling.BICUBIC), args.repeats)
        analysis = median_seconds(lambda: load_image(path, max_side=ANALYSIS_SIDE), args.repeats)

    ratio = analysis / full
    print(f"input: {WIDTH}x{HEIGHT} JPEG, quality 90, {size_mb:.1f} MB; median of {args.repeats} runs")
    print(f"Pillow full decode + convert('RGB'):      {full * 1000:7.1f} ms")
    print(f"load_image(path, max_side={ANALYSIS_SIDE}) (analysis): {analysis * 1000:5.1f} ms")
    print(f"load_image(path), max_side=1600 (display): {ours * 1000:6.1f} ms  (ratio {ours / full:.2f})")
    print(f"  of which draft decode at 1/2 scale:     {draft * 1000:7.1f} ms")
    print(f"  of which bicubic 2000x1500 -> 1600x1200: {resize * 1000:6.1f} ms")
    verdict = "meets" if ratio <= TARGET else "MISSES"
    print(f"ratio analysis load / full decode: {ratio:.2f} ({verdict} the target of < {TARGET:.2f})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
