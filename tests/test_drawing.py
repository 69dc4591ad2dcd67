"""Real renders of small hand-made entries: size, transparency, determinism, fins, SVG text."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ordnance_db.drawing import (
    contact_sheet,
    png_bytes,
    render_side,
    render_svg,
    write_drawings,
)
from ordnance_db.schema import Entry

COLOURS = {
    "grey": "#8a8d8f",
    "dark-grey": "#4a4d50",
    "black": "#1e1e1e",
    "olive-green": "#5b6238",
    "copper": "#b06a3b",
    "silver": "#b8bcc0",
}
SVG = "{http://www.w3.org/2000/svg}"


def make_entry(entry_id: str, geometry: dict[str, Any], **extra: Any) -> Entry:
    """A valid entry around the given geometry, without touching the catalog folder."""
    data: dict[str, Any] = {
        "id": entry_id,
        "name": entry_id.upper(),
        "category": "aircraft-bomb",
        "role": "Test item.",
        "origin": ["SU"],
        "features": {
            "shape": "streamlined",
            "stabilisation": "fins",
            "fuze_position": "nose",
            "colours": ["grey"],
            "marking_script": "none",
        },
        "hazards": ["Do not touch."],
        "sources": ["test-source"],
        "geometry": geometry,
    }
    data.update(extra)
    return Entry.model_validate(data)


BOMB_GEOMETRY: dict[str, Any] = {
    "form": "revolution",
    "body_colour": "grey",
    "profile": [[0, 0], [30, 60], [120, 120], [280, 160], [950, 160], [1180, 120], [1300, 90]],
    "fins": {
        "count": 4,
        "span_mm": 400,
        "root_chord_mm": 300,
        "tip_chord_mm": 260,
        "position_mm": 1160,
        "sweep_mm": 40,
    },
    "ring_tail": {"position_mm": 1250, "length_mm": 200, "diameter_mm": 400},
    "bands": [
        {"position_mm": 60, "width_mm": 20, "colour": "black"},
        {"position_mm": 600, "width_mm": 30, "colour": "copper", "raised_mm": 8},
    ],
    "parts": [
        {"name": "lug", "colour": "dark-grey", "points": [[560, 160], [560, 185], [600, 185], [600, 160]]}
    ],
}


@pytest.fixture(scope="module")
def bomb() -> Entry:
    return make_entry(
        "test-bomb",
        BOMB_GEOMETRY,
        names={"ru": "ТЕСТ-250", "uk": "ТЕСТ-250"},
        dimensions={
            "length_mm": {"value": 1500, "basis": "estimate", "note": "From photographs."},
            "diameter_mm": {"value": 325, "source": "test-source"},
            "span_mm": {"value": 400, "basis": "nominal", "note": "Class value."},
        },
    )


@pytest.fixture(scope="module")
def bomb_side(bomb: Entry) -> Image.Image:
    return render_side(bomb, COLOURS)


def alpha(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A"))


def test_side_view_is_long_and_transparent_outside(bomb_side: Image.Image) -> None:
    assert bomb_side.mode == "RGBA"
    width, height = bomb_side.size
    assert width >= 800 and width > height
    a = alpha(bomb_side)
    assert a[0, 0] == a[0, -1] == a[-1, 0] == a[-1, -1] == 0
    assert (a == 0).mean() > 0.2
    assert a[height // 2, width // 2] == 255
    # cropped to the content with a small margin on every side
    rows, cols = np.nonzero(a)
    assert 0 < rows.min() <= 40 and 0 < cols.min() <= 40
    assert height - rows.max() <= 40 and width - cols.max() <= 40


def test_body_is_shaded_round(bomb_side: Image.Image) -> None:
    """Lit from above: brighter above the axis than below it, darkest at the bottom edge."""
    rgb = np.asarray(bomb_side.convert("RGB"), dtype=float).mean(axis=2)
    a = alpha(bomb_side)
    col = bomb_side.width * 45 // 100
    rows = np.flatnonzero(a[:, col] == 255)
    top, bottom = rows.min(), rows.max()
    centre = (top + bottom) // 2
    upper = rgb[top + (centre - top) // 2, col]
    lower = rgb[centre + (bottom - centre) // 2, col]
    assert upper > lower + 20
    assert rgb[bottom - 2, col] < upper


def test_fins_and_ring_stand_above_the_body_only_at_the_tail(bomb_side: Image.Image) -> None:
    a = alpha(bomb_side) > 128
    width = bomb_side.width
    top_of = [np.flatnonzero(a[:, c]).min() if a[:, c].any() else 10**6 for c in range(width)]
    mid_top = top_of[width // 2]
    tail_top = min(top_of[int(width * 0.9) :])
    # span 400 vs body 320 mm: fins and ring reach ~40 mm (about 27 px) higher than mid-body
    assert tail_top < mid_top - 15
    # and nothing at mid-body sits above the body radius
    assert not a[: mid_top - 3, width // 2].any()


def test_raised_band_stands_proud(bomb_side: Image.Image) -> None:
    a = alpha(bomb_side) > 128
    width = bomb_side.width
    band_col = round(width * 615 / 1450)  # item spans ~1450 mm (nose to ring end)
    plain_col = round(width * 800 / 1450)
    assert np.flatnonzero(a[:, band_col]).min() < np.flatnonzero(a[:, plain_col]).min()


def test_render_is_deterministic(bomb: Entry, bomb_side: Image.Image) -> None:
    assert png_bytes(render_side(bomb, COLOURS)) == png_bytes(bomb_side)
    assert render_svg(bomb, COLOURS) == render_svg(bomb, COLOURS)


def test_png_has_no_metadata_chunks(bomb_side: Image.Image) -> None:
    data = png_bytes(bomb_side)
    for chunk in (b"tIME", b"tEXt", b"iTXt", b"zTXt"):
        assert chunk not in data


@pytest.mark.parametrize("count", [1, 2, 3, 5, 6, 10])
def test_any_fin_count_renders(count: int) -> None:
    geometry = {**BOMB_GEOMETRY, "fins": {**BOMB_GEOMETRY["fins"], "count": count}}
    geometry.pop("ring_tail")
    image = render_side(make_entry(f"fins-{count}", geometry), COLOURS, length_px=800)
    assert image.width >= 800
    assert alpha(image)[:, int(image.width * 0.9) :].any()


def test_segmented_and_ribbed_surfaces_differ_from_smooth() -> None:
    base = {
        "form": "revolution",
        "body_colour": "olive-green",
        "profile": [[0, 10], [10, 22], [30, 28], [70, 28], [100, 18], [117, 0]],
    }
    renders = {
        surface: np.asarray(render_side(make_entry(f"s-{surface}", {**base, "surface": surface}), COLOURS))
        for surface in ("smooth", "segmented", "ribbed")
    }
    assert renders["smooth"].shape == renders["segmented"].shape == renders["ribbed"].shape
    assert not np.array_equal(renders["smooth"], renders["segmented"])
    assert not np.array_equal(renders["smooth"], renders["ribbed"])
    # the silhouette is the same: only the shading changes
    assert np.array_equal(renders["smooth"][..., 3], renders["segmented"][..., 3])


BUTTERFLY = [
    [0, -20],
    [10, -30],
    [45, -30],
    [55, -10],
    [65, -10],
    [120, -30],
    [120, 30],
    [65, 10],
    [55, 10],
    [45, 30],
    [10, 30],
    [0, 20],
]


def test_outline_form_renders() -> None:
    entry = make_entry(
        "test-butterfly",
        {
            "form": "outline",
            "body_colour": "olive-green",
            "side": BUTTERFLY,
            "top": [[0, -5], [120, -5], [120, 5], [0, 5]],
            "bands": [{"position_mm": 56, "width_mm": 8, "colour": "black"}],
            "parts": [
                {"name": "fuze", "colour": "dark-grey", "points": [[50, -8], [70, -8], [70, 8], [50, 8]]},
                {"name": "rib", "colour": "black", "view": "top", "points": [[0, 0], [1, 1], [2, 0]]},
            ],
        },
    )
    image = render_side(entry, COLOURS)
    a = alpha(image)
    assert image.width >= 800
    assert a[0, 0] == 0
    assert a[image.height // 2, image.width // 4] == 255  # wing
    # the waist between the wings is narrower than the wings
    assert (a[:, image.width // 2] > 128).sum() < (a[:, image.width // 4] > 128).sum()
    svg = render_svg(entry, COLOURS)
    assert "Top view" in ET.tostring(ET.fromstring(svg), encoding="unicode")
    top = render_side(entry, COLOURS, view="top")
    assert top.width >= 800 and top.height < image.height  # the plan is a thin strip here


def test_top_view_needs_a_top_polygon(bomb: Entry) -> None:
    with pytest.raises(ValueError, match="top"):
        render_side(bomb, COLOURS, view="top")


def test_svg_is_xml_with_names_dimensions_and_marks(bomb: Entry) -> None:
    text = render_svg(bomb, COLOURS)
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    assert root.get("font-family") == "Noto Sans, DejaVu Sans, sans-serif"
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "TEST-BOMB" in texts
    assert texts.count("ТЕСТ-250") == 1  # ru and uk spell it the same: shown once
    assert "≈1500 mm (estimate)" in texts
    assert "325 mm" in texts  # sourced: plain
    assert any("span ≈400 mm (nominal)" in t for t in texts)
    assert "SCHEMATIC — not to exact scale" in texts
    assert any(t.endswith(" mm") for t in texts if t != "325 mm")  # the scale bar


def test_svg_without_schematic_flag_has_no_schematic_mark() -> None:
    entry = make_entry("test-exact", {**BOMB_GEOMETRY, "schematic": False})
    assert "SCHEMATIC" not in render_svg(entry, COLOURS)


def test_svg_escapes_catalog_text() -> None:
    entry = make_entry(
        "test-escape",
        BOMB_GEOMETRY,
        name='<script>alert("x")</script> & co',
        names={"ru": "<b>ФАБ</b>"},
    )
    text = render_svg(entry, COLOURS)
    assert "<script>" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text
    root = ET.fromstring(text)
    assert not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert '<script>alert("x")</script> & co' in texts
    assert "<b>ФАБ</b>" in texts


def test_write_drawings_rewrites_only_changed_files(bomb: Entry, tmp_path: Path) -> None:
    written = write_drawings(bomb, COLOURS, tmp_path)
    side, svg = tmp_path / "test-bomb" / "side.png", tmp_path / "test-bomb" / "drawing.svg"
    assert written == [side, svg]
    with Image.open(side) as image:
        assert image.mode == "RGBA" and image.width >= 800
    assert write_drawings(bomb, COLOURS, tmp_path) == []
    svg.write_text("stale", encoding="utf-8")
    assert write_drawings(bomb, COLOURS, tmp_path) == [svg]


def test_entry_without_geometry() -> None:
    entry = make_entry("test-none", BOMB_GEOMETRY).model_copy(update={"geometry": None})
    assert write_drawings(entry, COLOURS, Path("/nonexistent")) == []
    with pytest.raises(ValueError, match="geometry"):
        render_side(entry, COLOURS)


def test_unknown_colour_is_a_clear_error() -> None:
    entry = make_entry("test-colour", {**BOMB_GEOMETRY, "body_colour": "mauve"})
    with pytest.raises(ValueError, match="mauve"):
        render_side(entry, COLOURS)


def test_contact_sheet(bomb: Entry, tmp_path: Path) -> None:
    write_drawings(bomb, COLOURS, tmp_path)
    other = make_entry("test-butterfly", {"form": "outline", "body_colour": "olive-green", "side": BUTTERFLY})
    sheet = contact_sheet([bomb, other], COLOURS, tmp_path, columns=2)
    assert sheet.mode == "RGB"
    pixels = np.asarray(sheet)
    assert pixels[0, 0].tolist() == [255, 255, 255]
    half = sheet.width // 2
    assert (pixels[:, :half] < 200).any() and (pixels[:, half:] < 200).any()


def test_render_is_fast(bomb: Entry) -> None:
    ball = make_entry(
        "test-ball",
        {
            "form": "revolution",
            "body_colour": "grey",
            "surface": "ribbed",
            "profile": [[0, 0], [5, 17], [17, 29], [33, 33], [49, 29], [61, 17], [66, 0]],
        },
    )
    start = time.perf_counter()
    for entry in (bomb, ball):
        png_bytes(render_side(entry, COLOURS))
        render_svg(entry, COLOURS)
    assert time.perf_counter() - start < 2.0
