"""Generate the held-out evaluation set: DIR/<entry-id>/NN.jpg for every catalog entry.

Uses the `heldout` recipe of `ordnance_db.scenes`: other grounds (sand, asphalt, rubble, leaves,
snow), other occluders (sticks, leaves), stronger blur and noise, JPEG quality 30-85 and loose crops,
none of which the matcher sees when it learns.

    .venv/bin/python benchmarks/make_eval_set.py var/eval [--per-entry 5] [--seed 2026]
    .venv/bin/python -m ordnance_db evaluate var/eval
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ordnance_db.catalog import load_catalog
from ordnance_db.scenes import scenes
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR


def make_eval_set(out: Path, per_entry: int, seed: int) -> int:
    catalog = load_catalog(CATALOG_DIR, IMAGES_DIR)
    count = 0
    for entry in catalog.entries.values():
        folder = out / entry.id
        folder.mkdir(parents=True, exist_ok=True)
        for i, scene in enumerate(scenes(entry, catalog.colours(), per_entry, seed=seed, recipe="heldout")):
            # the scene is already JPEG-degraded; save at high quality so it is not degraded twice
            scene.image.save(folder / f"{i:02d}.jpg", "JPEG", quality=95)
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-entry", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    count = make_eval_set(args.out, args.per_entry, args.seed)
    print(f"wrote {count} photos under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
