"""Everything derived from the catalog, built in order and only when its inputs changed.

catalog -> database (content hash in the database) -> drawings (hash stamp under var/) -> match
index (hash stored with the index under var/).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from ordnance_db import drawing
from ordnance_db.catalog import Catalog, load_catalog
from ordnance_db.db import build_database
from ordnance_db.matcher import load_matcher
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR, VAR_DIR

Progress = Callable[[Iterable[Any], str], Iterable[Any]]


@dataclass
class BuildReport:
    entries: int
    database_built: bool
    drawings_checked: bool
    drawings_written: list[Path] = field(default_factory=list)
    index_built: bool = False


def _no_progress(items: Iterable[Any], _label: str) -> Iterable[Any]:
    return items


def drawings_stamp(catalog: Catalog) -> str:
    """Drawings depend on the catalog and on the renderer's code."""
    code = Path(drawing.__file__).read_bytes()
    return hashlib.sha256(catalog.digest.encode() + code).hexdigest()


def write_all_drawings(
    catalog: Catalog,
    images_dir: Path = IMAGES_DIR,
    var_dir: Path = VAR_DIR,
    *,
    force: bool = False,
    progress: Progress = _no_progress,
) -> tuple[bool, list[Path]]:
    """Render every entry's side.png and drawing.svg unless nothing they depend on changed."""
    stamp_file = Path(var_dir) / "drawings.stamp"
    stamp = drawings_stamp(catalog)
    complete = all(
        (Path(images_dir) / e.id / name).exists()
        for e in catalog.entries.values()
        if e.geometry
        for name in ("side.png", "drawing.svg")
    )
    if not force and complete and stamp_file.exists() and stamp_file.read_text() == stamp:
        return False, []
    colours = catalog.colours()
    written: list[Path] = []
    for entry in progress(catalog.entries.values(), "drawings"):
        written += drawing.write_drawings(entry, colours, images_dir)
    stamp_file.parent.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(stamp)
    return True, written


def build_all(
    engine: Engine,
    catalog_dir: Path = CATALOG_DIR,
    images_dir: Path = IMAGES_DIR,
    var_dir: Path = VAR_DIR,
    *,
    force: bool = False,
    progress: Progress = _no_progress,
) -> BuildReport:
    """Validate the catalog (raising CatalogError), then bring every derived artefact up to date."""
    catalog = load_catalog(catalog_dir, images_dir)
    built = build_database(catalog, engine, force=force, progress=lambda items: progress(items, "database"))
    checked, written = write_all_drawings(catalog, images_dir, var_dir, force=force, progress=progress)
    drawable = sum(1 for e in catalog.entries.values() if e.geometry is not None or e.images)
    index_built = drawable >= 2 and load_matcher(catalog, var_dir, progress=progress)[1]
    return BuildReport(len(catalog.entries), built, checked, written, index_built)
