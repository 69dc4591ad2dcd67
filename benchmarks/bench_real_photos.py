"""Real-photo benchmark for photo-to-photo matching (issue 15). Prints figures; asserts nothing.

    python benchmarks/bench_real_photos.py DIR          # DIR/<entry-id>/*.jpg against the catalog's photos
    python benchmarks/bench_real_photos.py --loo DIR    # flat folder named by item, leave-one-out
    python benchmarks/bench_real_photos.py --loo --thresholds DIR  # precision against similarity, margin
    python benchmarks/bench_real_photos.py --loo --variants DIR    # scoring changes tried (README)
    python benchmarks/bench_real_photos.py --speed      # a 12 MP JPEG: matching vs a plain decode

`--loo` is for a folder such as killin/LandminesCatalog's app/src/main/assets (CORD-derived photos,
no licence: read from a local copy at benchmark time, never committed, shipped or shown). A file is
grouped by the item code before its view suffix (H3248UP1.jpg -> H3248); items with at least two
photos are used; each photo is asked against all the others. In the same run the baseline of the
issue (the same embedding joined with colour histograms) is measured. "Confident" is a first
suggestion whose similarity clears a threshold chosen on half of the items (the lowest threshold
with at least 95 % right there) and measured on the other half, held out.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ordnance_db import embedding
from ordnance_db.imaging import ImageRefused, load_image
from ordnance_db.photo_index import REFERENCE_SIDE, PhotoIndex

ITEM = re.compile(r"^([A-Z]+\d+)")
TARGET_PRECISION = 0.95


def _images(paths: list[Path]):
    for path in paths:
        yield load_image(path, max_side=REFERENCE_SIDE)


def _histograms(paths: list[Path], bins: int = 8) -> np.ndarray:
    """Joint RGB histogram (8 x 8 x 8), unit length: the colour half of the issue's baseline."""
    rows = []
    for image in _images(paths):
        pixels = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.int64) * bins // 256
        codes = pixels[..., 0] * bins * bins + pixels[..., 1] * bins + pixels[..., 2]
        h = np.bincount(codes.ravel(), minlength=bins**3).astype(np.float32)
        rows.append(np.sqrt(h / h.sum()))  # Hellinger: the dot product is the Bhattacharyya coefficient
    return np.stack(rows)


def _loo_ranks(index: PhotoIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank of the right item, the first suggestion's similarity and its margin over the second,
    each photo left out in turn."""
    ranks, scores, margins = [], [], []
    for i, vector in enumerate(index.vectors):
        hits = index.rank(vector, exclude=i)
        names = [h.entry_id for h in hits]
        ranks.append(names.index(index.entry_ids[i]) if index.entry_ids[i] in names else len(names))
        scores.append(hits[0].similarity)
        margins.append(hits[0].similarity - hits[1].similarity if len(hits) > 1 else hits[0].similarity)
    return np.array(ranks), np.array(scores), np.array(margins)


def _threshold(right: np.ndarray, scores: np.ndarray, target: float = TARGET_PRECISION) -> float:
    """The lowest similarity above which first suggestions are right >= `target`."""
    for t in np.unique(scores):
        above = scores >= t
        if above.sum() >= 5 and right[above].mean() >= target:
            return float(t)
    return float("inf")


def _threshold_table(right: np.ndarray, values: np.ndarray, grid: np.ndarray, label: str) -> None:
    """Precision of the first suggestion, and the share of photos called, at each threshold."""
    print(f"  {label:>10}  photos called  share   first right")
    for t in grid:
        called = values >= t
        precision = f"{right[called].mean():.3f}" if called.any() else "  -  "
        print(f"  {t:>10.2f}  {called.sum():>13}  {called.mean():.3f}   {precision}")


def _held_out(right: np.ndarray, values: np.ndarray, items: np.ndarray, target: float, label: str) -> None:
    """Threshold chosen on half of the items (lowest with >= target right), measured on the other."""
    unique = np.unique(items)
    half = np.isin(items, unique[::2])  # items alternate between the halves, photos never split
    for fit, held, name in ((half, ~half, "A->B"), (~half, half, "B->A")):
        t = _threshold(right[fit], values[fit], target)
        called = held & (values >= t)
        precision = right[called].mean() if called.any() else float("nan")
        print(
            f"  {label} >= {target * 100:.0f} % {name}: threshold {t:.3f} fitted on {fit.sum()}; held out "
            f"{held.sum()}: {called.sum()} called ({called.sum() / held.sum():.3f}), {precision:.3f} right"
        )


def _report(name: str, index: PhotoIndex, items: np.ndarray, thresholds: bool = False) -> None:
    ranks, scores, margins = _loo_ranks(index)
    right = ranks == 0
    print(f"{name}: top-1 {right.mean():.3f}  top-5 {(ranks < 5).mean():.3f}  ({len(ranks)} photos)")
    if thresholds:
        _threshold_table(right, scores, np.round(np.arange(0.50, 0.96, 0.05), 2), "similarity")
        _threshold_table(right, margins, np.round(np.arange(0.0, 0.21, 0.02), 2), "margin")
        for values, label in ((scores, "similarity"), (margins, "margin")):
            t = _threshold(right, values, 0.90)
            called = values >= t
            print(
                f"  {label} >= 90 % on all photos (not held out): threshold {t:.3f}, "
                f"{called.sum()} called ({called.mean():.3f})"
            )
            _held_out(right, values, items, 0.90, label)
        similarity = index.vectors @ index.vectors.T
        np.fill_diagonal(similarity, -1.0)
        nearest = similarity.argmax(axis=1)
        copies = similarity.max(axis=1) >= 0.95
        other = (items[nearest[copies]] != items[copies]).sum()
        print(
            f"  labels: {copies.sum()} photos have a near copy (similarity >= 0.95); "
            f"for {other} of them the copy is under another item code"
        )
    unique = np.unique(items)
    half = np.isin(items, unique[::2])  # items alternate between the halves, photos never split
    for fit, held, label in ((half, ~half, "A->B"), (~half, half, "B->A")):
        t = _threshold(right[fit], scores[fit])
        called = held & (scores >= t)
        precision = right[called].mean() if called.any() else float("nan")
        print(
            f"  confident {label}: threshold {t:.3f} fitted on {fit.sum()}; held out "
            f"{held.sum()}: {called.sum()} called confident, {precision:.3f} of them right"
        )


def _entry_ranks(similarity: np.ndarray, rows: np.ndarray, column: np.ndarray, score) -> np.ndarray:
    """Rank of the right entry for each query row of `similarity` (its own photo already -inf)."""
    ranks = []
    for row, i in zip(similarity, rows, strict=True):
        scores = score(row)
        ranks.append(int((scores > scores[column[i]]).sum()))
    return np.array(ranks)


def variants(vectors: np.ndarray, items: np.ndarray, paths: list[Path]) -> None:
    """Cheap scoring changes on the same leave-one-out photos: k-nearest voting, a centre crop
    beside the whole photo, PCA whitening fitted on the other photos. Figures for README."""
    entries, column = np.unique(items, return_inverse=True)

    def nearest(row: np.ndarray) -> np.ndarray:
        out = np.full(len(entries), -np.inf)
        np.maximum.at(out, column, row)
        return out

    def voting(k: int):
        def score(row: np.ndarray) -> np.ndarray:
            idx = np.argpartition(-row, k)[:k]
            out = np.zeros(len(entries))
            np.add.at(out, column[idx], np.maximum(row[idx], 0.0))
            return out + 1e-6 * nearest(row)  # ties (entries outside the K) by nearest photo

        return score

    every = np.arange(len(vectors))

    def report(name: str, ranks: np.ndarray) -> None:
        print(f"  {name}: top-1 {(ranks == 0).mean():.3f}  top-5 {(ranks < 5).mean():.3f}")

    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    report("nearest photo", _entry_ranks(similarity, every, column, nearest))
    for k in (3, 5, 10):
        report(f"k-nearest voting, K={k}", _entry_ranks(similarity, every, column, voting(k)))

    def crops():
        for image in _images(paths):
            w, h = image.size
            yield image.crop((w // 10, h // 10, w - w // 10, h - h // 10))

    both = vectors + embedding.embed(crops())
    both /= np.linalg.norm(both, axis=1, keepdims=True)
    similarity = both @ both.T
    np.fill_diagonal(similarity, -np.inf)
    report("whole photo + 80 % centre crop", _entry_ranks(similarity, every, column, nearest))

    fold = every % 5
    for dims in (256, 512):
        ranks = []
        for f in range(5):
            fit = fold != f
            mean = vectors[fit].mean(axis=0)
            _, singular, basis = np.linalg.svd(vectors[fit] - mean, full_matrices=False)
            z = (vectors - mean) @ (basis[:dims].T / (singular[:dims] / np.sqrt(fit.sum())))
            z /= np.linalg.norm(z, axis=1, keepdims=True)
            held = every[~fit]
            similarity = z[held] @ z.T
            similarity[np.arange(len(held)), held] = -np.inf
            ranks.append(_entry_ranks(similarity, held, column, nearest))
        report(f"PCA whitening to {dims}, fitted on the other 4/5 of photos", np.concatenate(ranks))


def loo(directory: Path, cache: Path | None, thresholds: bool = False, tried: bool = False) -> None:
    paths, items = [], []
    for path in sorted(directory.glob("*.jpg")):
        match = ITEM.match(path.name.upper())
        if match:
            paths.append(path)
            items.append(match.group(1))
    codes, counts = np.unique(items, return_counts=True)
    keep = np.isin(items, codes[counts >= 2])
    paths = [p for p, k in zip(paths, keep, strict=True) if k]
    items = np.array(items)[keep]
    print(f"{len(paths)} photos of {len(np.unique(items))} items with at least two photos ({directory})")
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            if stored["paths"].tolist() != [str(p) for p in paths]:
                sys.exit(f"{cache} was made from other photos")
            vectors = stored["vectors"]
    else:
        started = time.perf_counter()
        vectors = embedding.embed(_images(paths))
        print(f"embedding: {(time.perf_counter() - started) / len(paths) * 1000:.0f} ms per photo")
        if cache is not None:
            np.savez(cache, vectors=vectors, paths=np.array([str(p) for p in paths]))
    names = [p.name for p in paths]
    if tried:
        print("scoring variants (leave-one-out):")
        variants(vectors, items, paths)
        return
    _report(
        "photo index (EfficientNet-Lite0, nearest photo)",
        PhotoIndex(vectors, items, names),
        items,
        thresholds,
    )
    colour = _histograms(paths)
    joined = np.hstack([vectors, colour]) / np.sqrt(2.0)
    _report("baseline (EfficientNet-Lite0 + colour histograms)", PhotoIndex(joined, items, names), items)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def labelled(directory: Path) -> None:
    """DIR/<entry-id>/*.jpg asked against the reference photos of the catalog in use."""
    from ordnance_db.catalog import load_catalog
    from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR

    index = PhotoIndex.build(load_catalog(CATALOG_DIR, IMAGES_DIR))
    if not len(index):
        sys.exit("the catalog in use has no reference photos to match against (photos add / import)")
    ranks = []
    scores = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.jp*g")):
            try:
                hits = index.query(load_image(path, max_side=REFERENCE_SIDE))
            except ImageRefused as exc:
                print(f"{path}: {exc}")
                continue
            names = [h.entry_id for h in hits]
            ranks.append(names.index(folder.name) if folder.name in names else len(names))
            scores.append(hits[0].similarity if hits else -1.0)
    ranks_a, scores_a = np.array(ranks), np.array(scores)
    right = ranks_a == 0
    print(f"{len(ranks_a)} photos: top-1 {right.mean():.3f}  top-5 {(ranks_a < 5).mean():.3f}")
    t = _threshold(right, scores_a)
    print(f"lowest threshold with >= 95 % right on these photos: {t:.3f} (not held out)")


def speed() -> None:
    """A 12-megapixel JPEG (scikit-image's astronaut, enlarged): plain full-size Pillow decode vs
    the photo path (reduced decode, then the embedding), median of 5 each."""
    import io

    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((4000, 3000), Image.Resampling.BICUBIC).save(
        buffer, "JPEG", quality=92
    )
    jpeg = buffer.getvalue()
    embedding.embed([Image.new("RGB", (8, 8))])  # load the model first: loading is once per process

    def timed(run) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return float(np.median(times))

    decode = timed(lambda: Image.open(io.BytesIO(jpeg)).load())
    match = timed(lambda: embedding.embed([load_image(jpeg, max_side=REFERENCE_SIDE)]))
    print(f"12 MP JPEG: Pillow full decode {decode * 1000:.0f} ms; decode for matching + embedding ")
    print(f"  {match * 1000:.0f} ms; ratio {match / decode:.2f} (target <= 1)")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directory", type=Path, nargs="?")
    parser.add_argument("--speed", action="store_true", help="time a 12 MP JPEG against a plain decode")
    parser.add_argument("--loo", action="store_true", help="flat folder named by item, leave-one-out")
    parser.add_argument("--cache", type=Path, help="store/reuse the photos' vectors in this .npz")
    parser.add_argument(
        "--thresholds",
        action="store_true",
        help="with --loo: precision of the first suggestion against similarity and margin thresholds",
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="with --loo: k-nearest voting, centre crop and PCA whitening against the nearest photo",
    )
    args = parser.parse_args()
    if args.speed:
        speed()
    elif args.directory is None:
        parser.error("give DIR, or --speed")
    elif args.loo:
        loo(args.directory, args.cache, args.thresholds, args.variants)
    else:
        labelled(args.directory)


if __name__ == "__main__":
    main()
