"""The committed drawings are what the renderer makes from the catalog now, on any machine."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ordnance_db.catalog import load_catalog
from ordnance_db.drawing import pictures_match, render_side, render_svg, svgs_match
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR

CATALOG = load_catalog(CATALOG_DIR, IMAGES_DIR)
ENTRIES = [e for e in CATALOG.entries.values() if e.geometry is not None]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_committed_drawings_are_current(entry) -> None:
    """Decoded pixels, allowing only isolated edge pixels that another CPU rounds differently."""
    assert entry.geometry is not None
    folder = IMAGES_DIR / entry.id
    fresh = render_side(entry, CATALOG.colours(), view=entry.geometry.reference_view)
    with Image.open(folder / "side.png") as committed:
        assert committed.size == fresh.size, "run: python -m ordnance_db render " + entry.id
        assert pictures_match(np.asarray(committed.convert("RGBA")), np.asarray(fresh)), (
            "side.png is stale; run: python -m ordnance_db render " + entry.id
        )
    svg = (folder / "drawing.svg").read_text(encoding="utf-8")
    assert svgs_match(svg, render_svg(entry, CATALOG.colours())), (
        "drawing.svg is stale; run: python -m ordnance_db render"
    )


def test_every_core_entry_has_both_drawings() -> None:
    for entry in CATALOG.entries.values():
        assert (IMAGES_DIR / entry.id / "side.png").is_file(), entry.id
        assert (IMAGES_DIR / entry.id / "drawing.svg").is_file(), entry.id


def _f1() -> tuple[np.ndarray, object]:
    entry = CATALOG.entries["f-1-grenade"]
    return np.asarray(render_side(entry, CATALOG.colours())), entry


def test_edge_noise_is_tolerated() -> None:
    """Flip isolated pixels on the outline, as a different rounding of anti-aliasing would."""
    picture, _ = _f1()
    alpha = picture[..., 3]
    edge = np.argwhere((alpha > 0) & (alpha < 255))
    noisy = picture.copy()
    for y, x in edge[::40][:30]:
        noisy[y, x, :3] = 255 - noisy[y, x, :3]
    assert not np.array_equal(noisy, picture)
    assert pictures_match(picture, noisy)


def test_a_real_change_is_caught() -> None:
    """A band moved by 5 mm or a different body colour is a change, however small the band."""
    picture, entry = _f1()
    geometry = entry.geometry
    assert geometry is not None
    recoloured = entry.model_copy(update={"geometry": geometry.model_copy(update={"body_colour": "black"})})
    assert not pictures_match(picture, np.asarray(render_side(recoloured, CATALOG.colours())))
    profile = [(x, r * 1.03) for x, r in geometry.profile]
    fatter = entry.model_copy(update={"geometry": geometry.model_copy(update={"profile": profile})})
    assert not pictures_match(picture, np.asarray(render_side(fatter, CATALOG.colours())))


def test_svg_numbers_compare_within_a_thousandth() -> None:
    svg = render_svg(CATALOG.entries["f-1-grenade"], CATALOG.colours())
    assert svgs_match(svg, svg.replace('x="', 'x="0', 1))
    nudged = svg.replace(".5", ".5000001", 1)
    assert svgs_match(svg, nudged)
    assert not svgs_match(svg, svg.replace('x="', 'x="1', 1))
