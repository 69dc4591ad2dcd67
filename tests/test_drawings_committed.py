"""The committed drawings are exactly what the renderer makes from the catalog now."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ordnance_db.catalog import load_catalog
from ordnance_db.drawing import render_side, render_svg
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR

CATALOG = load_catalog(CATALOG_DIR, IMAGES_DIR)
ENTRIES = [e for e in CATALOG.entries.values() if e.geometry is not None]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_committed_drawings_are_current(entry) -> None:
    """Compares decoded pixels, not PNG bytes, so a different zlib build cannot fail it."""
    assert entry.geometry is not None
    folder = IMAGES_DIR / entry.id
    fresh = render_side(entry, CATALOG.colours(), view=entry.geometry.reference_view)
    with Image.open(folder / "side.png") as committed:
        assert committed.size == fresh.size, "run: python -m ordnance_db render " + entry.id
        assert np.array_equal(np.asarray(committed.convert("RGBA")), np.asarray(fresh)), (
            "side.png is stale; run: python -m ordnance_db render " + entry.id
        )
    svg = (folder / "drawing.svg").read_text(encoding="utf-8")
    assert svg == render_svg(entry, CATALOG.colours()), (
        "drawing.svg is stale; run: python -m ordnance_db render"
    )


def test_every_core_entry_has_both_drawings() -> None:
    for entry in CATALOG.entries.values():
        assert (IMAGES_DIR / entry.id / "side.png").is_file(), entry.id
        assert (IMAGES_DIR / entry.id / "drawing.svg").is_file(), entry.id
