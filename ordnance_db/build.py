"""Everything derived from the catalog, built in order and only when its inputs changed.

catalog -> database (content hash in the database) -> drawings check (hash stamp under var/) ->
match index (hash stored with the index under var/).

`build` never writes the committed drawings in images/: it renders them and reports the ones that
differ, and `python -m ordnance_db render` rewrites them. So `make run` leaves tracked files alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy.engine import Engine

from ordnance_db import drawing
from ordnance_db.catalog import Catalog, load_catalog
from ordnance_db.db import build_database, with_repair
from ordnance_db.imaging import write_atomically
from ordnance_db.matcher import load_matcher
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR, VAR_DIR
from ordnance_db.var_files import read_bytes

Progress = Callable[[Iterable[Any], str], Iterable[Any]]


@dataclass
class BuildReport:
    entries: int
    database_built: bool
    drawings_checked: bool
    drawings_stale: list[Path] = field(default_factory=list)
    index_built: bool = False
    index_skipped: bool = False


def _no_progress(items: Iterable[Any], _label: str) -> Iterable[Any]:
    return items


def drawings_stamp(catalog: Catalog) -> str:
    """Drawings depend on the catalog and on the renderer's code."""
    code = Path(drawing.__file__).read_bytes()
    return hashlib.sha256(catalog.digest.encode() + code).hexdigest()


def _same_png(path: Path, fresh: Image.Image) -> bool:
    """Decoded pixels, not PNG bytes, allowing the floating-point edge noise of another machine."""
    try:
        with Image.open(path) as committed:
            return drawing.pictures_match(
                np.asarray(committed.convert("RGBA")), np.asarray(fresh.convert("RGBA"))
            )
    except OSError:  # missing, unreadable or not a PNG: stale
        return False


def _same_text(path: Path, fresh: str) -> bool:
    return path.is_file() and drawing.svgs_match(path.read_text(encoding="utf-8"), fresh)


def stale_drawings(
    catalog: Catalog,
    images_dir: Path = IMAGES_DIR,
    var_dir: Path = VAR_DIR,
    *,
    force: bool = False,
    progress: Progress = _no_progress,
) -> tuple[bool, list[Path]]:
    """Render every entry's side.png and drawing.svg and list the committed files that differ or are
    missing; nothing is written under images/ (`render` does that). Returns (checked, stale).

    Skipped when a stamp under var/ says this catalog and renderer were checked and all matched.
    """
    stamp_file = Path(var_dir) / "drawings.stamp"
    stamp = drawings_stamp(catalog)
    # read only as an ordinary, small file: a pipe or a huge file in var/ must not stall the build
    if not force and read_bytes(stamp_file, 4096) == stamp.encode():
        return False, []
    colours = catalog.colours()
    drawable = [e for e in catalog.entries.values() if e.geometry is not None]
    stale: list[Path] = []
    for entry in progress(drawable, "rendering drawings"):
        assert entry.geometry is not None
        folder = Path(images_dir) / entry.id
        side = drawing.render_side(entry, colours, view=entry.geometry.reference_view)
        if not _same_png(folder / "side.png", side):
            stale.append(folder / "side.png")
        if not _same_text(folder / "drawing.svg", drawing.render_svg(entry, colours)):
            stale.append(folder / "drawing.svg")
    if not stale:
        write_atomically(stamp_file, stamp.encode())  # replaces whatever is there, never writes into it
    return True, stale


def build_all(
    engine: Engine,
    catalog_dir: Path = CATALOG_DIR,
    images_dir: Path = IMAGES_DIR,
    var_dir: Path = VAR_DIR,
    *,
    force: bool = False,
    index: bool = True,
    progress: Progress = _no_progress,
) -> BuildReport:
    """Validate the catalog (raising CatalogError), then bring every derived artefact up to date.

    With `index=False` the match index is left to whoever needs it first (the app builds it in a
    background thread, so it serves at once).
    """
    catalog = load_catalog(catalog_dir, images_dir)
    built = with_repair(
        engine,
        lambda: build_database(
            catalog, engine, force=force, progress=lambda items: progress(items, "building database")
        ),
    )
    checked, stale = stale_drawings(catalog, images_dir, var_dir, force=force, progress=progress)
    drawable = sum(1 for e in catalog.entries.values() if e.geometry is not None or e.id in catalog.photos)
    index_built = index and drawable >= 2 and load_matcher(catalog, var_dir, progress=progress)[1]
    return BuildReport(len(catalog.entries), built, checked, stale, index_built, not index)
