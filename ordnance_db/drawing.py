"""Deterministic drawings of a catalog entry, made from its `geometry` alone.

Why generated and not hand-drawn: every entry gets the same clean, shaded side view (which is
also the reference picture for photo matching) and a dimensioned technical drawing, straight from
the numbers in its YAML file, so correcting a number corrects the picture. Same input, same bytes:
rebuilding leaves unchanged files untouched and diffs stay meaningful.

- `render_side`: shaded RGBA side view, nose on the left, transparent background, no text.
- `render_svg`: technical drawing (side and end/top views, dimensions, scale bar, title).
- `write_drawings`: images/<id>/side.png and images/<id>/drawing.svg, rewritten only on change.
- `contact_sheet`: every side view in one grid, for reviewing the catalog at a glance.

`python -m ordnance_db build` writes every entry's drawings; `render ID...` redraws some and
`contact-sheet OUT.png` makes the review grid.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ordnance_db.schema import Band, Dimension, Dimensions, Entry, Geometry, Part

__all__ = [
    "contact_sheet",
    "dimension_text",
    "pictures_match",
    "png_bytes",
    "render_side",
    "render_svg",
    "svgs_match",
    "write_drawings",
]

SUPERSAMPLE = 3
"""Side views are drawn this many times larger, then reduced with LANCZOS: smooth edges."""
_MAX_CANVAS_PX = 16_000_000
"""Above this many supersampled pixels (very tall items) the supersampling drops to keep speed."""
PNG_COMPRESS_LEVEL = 6
"""zlib level 6: about 60 ms for a 1000 px view; 9 is ten times slower for 15 % smaller files."""
FONT_FAMILY = "Noto Sans, DejaVu Sans, sans-serif"
View = Literal["side", "top"]


def _unit(x: float, y: float, z: float) -> tuple[float, float, float]:
    n = math.sqrt(x * x + y * y + z * z)
    return (x / n, y / n, z / n)


# x to the tail (right), y up, z towards the viewer. Light from the upper left, in front.
_LIGHT = _unit(-0.35, 0.6, 0.72)
_HALF = _unit(_LIGHT[0], _LIGHT[1], _LIGHT[2] + 1.0)
_AMBIENT = 0.28
_DIFFUSE = 0.72
_SPECULAR = 0.32
_FIN_DARKEN = 0.86
_PART_DARKEN = 0.9
_EDGE_ON = 0.25
"""A fin whose projected height is below this share of its span is drawn edge-on, as a strip."""


# --- shared geometry (mm) -----------------------------------------------------------------


def _require_geometry(entry: Entry) -> Geometry:
    if entry.geometry is None:
        raise ValueError(f"{entry.id}: no 'geometry' to draw")
    return entry.geometry


def _profile_arrays(geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(geom.profile, dtype=np.float64).reshape(-1, 2)
    return pts[:, 0], pts[:, 1]


def _radius(geom: Geometry, x: np.ndarray) -> np.ndarray:
    """Body radius at each x (0 outside the profile and for outline forms)."""
    if geom.form != "revolution":
        return np.zeros_like(x)
    xs, rs = _profile_arrays(geom)
    r = np.interp(x, xs, rs, left=0.0, right=0.0)
    return np.where((x < xs[0]) | (x > xs[-1]), 0.0, r)


@dataclass(frozen=True)
class _FinShape:
    points: list[tuple[float, float]]
    front: bool
    """In front of the body (towards the viewer): drawn after it."""
    lum: float


def _fin_shapes(geom: Geometry) -> list[_FinShape]:
    """Project each fin onto the side view; fin 0 points straight up, the rest evenly round.

    Why project rather than draw two fins: the count is visible in photographs (3 fins look
    different from 4), and an edge-on fin facing the camera is a thin strip along the axis.
    """
    fins = geom.fins
    if fins is None:
        return []
    tip = fins.span_mm / 2
    le_tip = fins.position_mm + fins.sweep_mm
    x_root = [fins.position_mm, fins.position_mm + fins.root_chord_mm]
    stations = sorted({*x_root, *(x for x, _ in geom.profile if x_root[0] < x < x_root[1])})
    roots = [(x, float(_radius(geom, np.array([x]))[0])) for x in stations]
    x_lo = min(fins.position_mm, le_tip)
    x_hi = max(x_root[1], le_tip + fins.tip_chord_mm)
    thick = max(fins.span_mm * 0.02, 0.6)
    shapes = []
    for k in range(fins.count):
        phi = 2 * math.pi * k / fins.count
        cos_p, sin_p = math.cos(phi), math.sin(phi)
        if abs(cos_p) < 1e-9:
            cos_p = 0.0
        if abs(sin_p) < 1e-9:
            sin_p = 0.0
        # The fin's plane holds the x axis and (0, cos, sin); its normal is (0, -sin, cos).
        # The face we see is the one turned towards the viewer (normal z > 0).
        facing = 1.0 if cos_p >= 0 else -1.0
        n_dot_l = facing * (-sin_p * _LIGHT[1] + cos_p * _LIGHT[2])
        lum = (_AMBIENT + _DIFFUSE * max(n_dot_l, 0.0)) * _FIN_DARKEN
        if abs(cos_p) < _EDGE_ON:
            half = thick / 2
            pts = [(x_lo, half), (x_hi, half), (x_hi, -half), (x_lo, -half)]
            shapes.append(_FinShape(pts, sin_p > 0, lum * 0.92))
            continue
        outer = [(le_tip, tip * cos_p), (le_tip + fins.tip_chord_mm, tip * cos_p)]
        root = [(x, r * cos_p) for x, r in reversed(roots)]
        shapes.append(_FinShape(outer + root, sin_p > 0, lum))
    return shapes


def _extent(geom: Geometry, view: View = "side") -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) in mm of everything the view draws."""
    pts: list[tuple[float, float]] = []
    if view == "top":
        pts += list(geom.top)
        pts += [pt for part in geom.parts if part.view == "top" for pt in part.points]
    elif geom.form == "revolution":
        rmax = max(r for _, r in geom.profile)
        pts += [(x, r) for x, r in geom.profile] + [(geom.profile[0][0], -rmax)]
        for band in geom.bands:
            top = rmax + band.raised_mm
            pts += [(band.position_mm, top), (band.position_mm + band.width_mm, -top)]
    else:
        pts += list(geom.side)
    if view == "side":
        for fin in _fin_shapes(geom):
            pts += fin.points
        if geom.fins is not None and geom.form == "revolution":
            pts += [(geom.fins.position_mm, -geom.fins.span_mm / 2)]
        if geom.ring_tail is not None:
            ring = geom.ring_tail
            pts += [
                (ring.position_mm, ring.diameter_mm / 2),
                (ring.position_mm + ring.length_mm, -ring.diameter_mm / 2),
            ]
        pts += [pt for part in geom.parts if part.view == "side" for pt in part.points]
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    return min(xs), max(xs), min(ys), max(ys)


@dataclass(frozen=True)
class _Surface:
    x_from: float
    x_to: float
    rings: list[float]
    meridians: list[float]
    """Angles (radians) of longitudinal grooves on the visible half, 0 = facing the viewer."""
    groove_mm: float
    ridged: bool


def _surface(geom: Geometry) -> _Surface | None:
    """Where the grooves of a segmented (F-1 style) or ribbed body go.

    Why derived, not listed: the schema only says `segmented` or `ribbed`; the pattern is spaced
    from the body's own size so that it looks right on any profile.
    """
    if geom.surface == "smooth" or geom.form != "revolution":
        return None
    xs, rs = _profile_arrays(geom)
    rmax = float(rs.max())
    fine = np.linspace(xs[0], xs[-1], 2001)
    wide = fine[_radius(geom, fine) >= 0.55 * rmax]
    if wide.size < 2:
        return None
    x_from, x_to = float(wide[0]), float(wide[-1])
    if geom.surface == "segmented":
        around = 8
        pitch = 2 * math.pi * rmax / around
        n = max(2, round((x_to - x_from) / pitch))
        rings = [x_from + i * (x_to - x_from) / n for i in range(n + 1)]
        step = 2 * math.pi / around
        meridians = [-math.pi / 2 + step / 2 + i * step for i in range(around // 2)]
        return _Surface(x_from, x_to, rings, meridians, 0.045 * rmax, False)
    pitch = 0.32 * rmax
    n = max(2, round((x_to - x_from) / pitch))
    rings = [x_from + (i + 0.5) * (x_to - x_from) / n for i in range(n)]
    return _Surface(x_from, x_to, rings, [], 0.07 * rmax, True)


def _profile_slope(geom: Geometry, x: np.ndarray) -> np.ndarray:
    """dr/dx along the profile, eased across each vertex so a polygonal ball or ogive shades smooth.

    Each change of slope is spread over at most half of each neighbouring segment and 4 % of the
    length: a ball's twelve facets blend into one curve, a long cylinder stays evenly lit up to
    its shoulder, and a step (two stations at the same x) stays sharp.
    """
    xs, rs = _profile_arrays(geom)
    segments = [
        (float(xs[i]), float(xs[i + 1]), float((rs[i + 1] - rs[i]) / (xs[i + 1] - xs[i])))
        for i in range(len(xs) - 1)
        if xs[i + 1] > xs[i]
    ]
    if not segments:
        return np.zeros_like(x)
    cap = 0.04 * max(float(xs[-1] - xs[0]), 1e-6)
    knots: list[tuple[float, float]] = [(segments[0][0], segments[0][2])]
    for (a0, a1, sa), (b0, b1, sb) in itertools.pairwise(segments):
        ease = min((a1 - a0) / 2, (b1 - b0) / 2, cap) if a1 == b0 else 0.0
        ease = max(ease, 1e-6)
        knots += [(a1 - ease, sa), (b0 + ease, sb)]
    knots.append((segments[-1][1], segments[-1][2]))
    kx = np.array([k[0] for k in knots])
    ks = np.clip(np.array([k[1] for k in knots]), -4.0, 4.0)
    return np.interp(x, np.maximum.accumulate(kx), ks)


def _is_axis_symmetric(part: Part) -> bool:
    """A part mirrored about the axis (nose fuze, boom) is a piece of the round body."""
    pts = {(round(x, 3), round(y, 3)) for x, y in part.points}
    return any(y > 0 for _, y in pts) and all((x, -y) in pts for x, y in pts)


# --- raster side view ---------------------------------------------------------------------


def _hex_rgb(colours: dict[str, str], colour_id: str) -> np.ndarray:
    try:
        value = colours[colour_id]
    except KeyError:
        raise ValueError(f"colour {colour_id!r} has no rgb in the vocabulary") from None
    h = value.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)


@dataclass(frozen=True)
class _Frame:
    """Millimetres to output pixels (one scale; y up in mm, down in pixels), and the supersampling."""

    scale: float
    left_mm: float
    top_mm: float
    width: int
    height: int
    ss: int

    def box(self, x0: float, x1: float, y_top: float, y_bottom: float) -> tuple[int, int, int, int]:
        """Output-pixel rows and columns (r0, r1, c0, c1) holding a shape, with room for the filter."""
        pad = 4  # LANCZOS reaches 3 output pixels: the coverage must fall to 0 inside the box
        c0 = math.floor((x0 - self.left_mm) * self.scale) - pad
        c1 = math.ceil((x1 - self.left_mm) * self.scale) + pad
        r0 = math.floor((self.top_mm - y_top) * self.scale) - pad
        r1 = math.ceil((self.top_mm - y_bottom) * self.scale) + pad
        return max(r0, 0), min(r1, self.height), max(c0, 0), min(c1, self.width)

    def x_mm(self, c0: int, c1: int, ss: int = 1) -> np.ndarray:
        """Column centres in mm, at output (ss=1) or supersampled resolution."""
        return self.left_mm + (np.arange(c0 * ss, c1 * ss, dtype=np.float64) + 0.5) / (self.scale * ss)

    def y_mm(self, r0: int, r1: int, ss: int = 1) -> np.ndarray:
        return self.top_mm - (np.arange(r0 * ss, r1 * ss, dtype=np.float64) + 0.5) / (self.scale * ss)


def _coverage(layer: Image.Image, ss: int) -> np.ndarray:
    """Share of each output pixel a shape covers: its supersampled mask reduced with LANCZOS."""
    w, h = layer.size
    small = layer.resize((w // ss, h // ss), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.float32) * (1.0 / 255.0)


def _mask_image(mask: np.ndarray) -> Image.Image:
    return Image.fromarray(mask.view(np.uint8) * np.uint8(255), "L")


class _Canvas:
    """Output-size canvas, premultiplied float colour: each shape is laid over with its coverage.

    Why coverage and not one big supersampled canvas: edges are still drawn at `ss` times the size
    and reduced with LANCZOS, but the smooth shading is computed once per output pixel, which
    keeps a ball-shaped item (as tall as it is long) well under a second.
    """

    def __init__(self, frame: _Frame) -> None:
        self.frame = frame
        self.rgb = np.zeros((frame.height, frame.width, 3), dtype=np.float32)
        self.alpha = np.zeros((frame.height, frame.width), dtype=np.float32)

    def paint(self, r0: int, c0: int, cover: np.ndarray, rgb: np.ndarray) -> None:
        h, w = cover.shape
        rgb_view = self.rgb[r0 : r0 + h, c0 : c0 + w]
        alpha_view = self.alpha[r0 : r0 + h, c0 : c0 + w]
        rgb_view *= (1.0 - cover)[..., None]
        rgb_view += rgb * cover[..., None]
        alpha_view *= 1.0 - cover
        alpha_view += cover

    def image(self) -> Image.Image:
        alpha = np.clip(self.alpha, 0.0, 1.0)
        keep = alpha >= 0.5 / 255
        colour = self.rgb / np.where(keep, alpha, 1.0)[..., None]
        rgba = np.empty((self.frame.height, self.frame.width, 4), dtype=np.uint8)
        rgba[..., :3] = np.clip(colour + 0.5, 0, 255) * keep[..., None]
        rgba[..., 3] = np.where(keep, alpha * 255 + 0.5, 0)
        return Image.fromarray(rgba, "RGBA")


def _lighting(t: np.ndarray, slope: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Lambert + Blinn lighting of a body of revolution.

    t = y / r is the height across the radius (1 at the top edge); slope = dr/dx of the profile
    tilts the normal fore or aft, so a tapering nose catches the light differently.
    """
    t = np.clip(t, -1.0, 1.0)
    c = np.sqrt(np.maximum(1.0 - t * t, 0.0))
    slope = np.asarray(slope, dtype=np.float32)
    inv_n = 1.0 / np.sqrt(1.0 + slope * slope)
    ndl = (-slope * _LIGHT[0] + t * _LIGHT[1] + c * _LIGHT[2]) * inv_n
    ndh = np.clip((-slope * _HALF[0] + t * _HALF[1] + c * _HALF[2]) * inv_n, 0.0, 1.0)
    spec = ndh * ndh
    for _ in range(4):  # ndh ** 32, by squaring: cheaper than np.power
        spec = spec * spec
    bounce = 0.1 * np.clip(-t, 0.0, 1.0) * c  # faint light reflected from the ground
    lum = _AMBIENT + _DIFFUSE * np.clip(ndl, 0.0, 1.0) + bounce
    return lum.astype(np.float32), spec.astype(np.float32)


def _shade(base: np.ndarray, lum: np.ndarray, spec: np.ndarray | None = None) -> np.ndarray:
    rgb = base * lum[..., None]
    if spec is not None:
        rgb += (_SPECULAR * 255.0) * spec[..., None]
    return rgb


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Moving average: softens the creases of a piecewise-linear profile's shading."""
    if width <= 1 or values.size < 3:
        return values
    pad = width // 2
    padded = np.pad(values, (pad, width - pad - 1), mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _paint_revolution(
    canvas: _Canvas,
    geom: Geometry,
    base: np.ndarray,
    x0: float,
    x1: float,
    raised: float = 0.0,
    surface: _Surface | None = None,
) -> None:
    """A stretch of the round body (or a band on it): outline from the profile, round shading."""
    frame, ss = canvas.frame, canvas.frame.ss
    _, rs = _profile_arrays(geom)
    rmax = float(rs.max()) + raised
    r0, r1, c0, c1 = frame.box(x0, x1, rmax, -rmax)
    if r1 <= r0 or c1 <= c0:
        return

    def radius(x: np.ndarray) -> np.ndarray:
        r = _radius(geom, x)
        return np.where((r > 0) & (x >= x0) & (x <= x1), r + raised, 0.0)

    r_ss = radius(frame.x_mm(c0, c1, ss))
    y_ss = frame.y_mm(r0, r1, ss)
    cover = _coverage(_mask_image(np.abs(y_ss)[:, None] <= r_ss[None, :]), ss)

    x = frame.x_mm(c0, c1)
    r = radius(x)
    y = frame.y_mm(r0, r1)[:, None]
    t = (y / np.maximum(r, 1e-6)[None, :]).astype(np.float32)
    slope = _profile_slope(geom, x)
    if surface is None:
        lum, spec = _lighting(t, slope[None, :].astype(np.float32))
    else:
        t, slope_2d, occlusion = _surface_relief(t, x, r, slope, surface)
        lum, spec = _lighting(t, slope_2d)
        lum, spec = lum * occlusion, spec * occlusion
    if raised > 0:  # a raised band shows its shaded sides
        edge = np.clip(np.minimum(x - x0, x1 - x) / max((x1 - x0) * 0.2, 1e-6), 0.0, 1.0)
        lum = lum * (0.78 + 0.22 * np.sqrt(edge)).astype(np.float32)[None, :]
    canvas.paint(r0, c0, cover, _shade(base, lum, spec))


def _surface_relief(
    t: np.ndarray, x: np.ndarray, r: np.ndarray, slope: np.ndarray, s: _Surface
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tilt the normals for raised segments (F-1) or ribs, and darken the grooves between them.

    Returns (t, slope, occlusion) for `_lighting`: each segment bulges, so its upper-left side
    turns to the light and its lower-right side away, which is what makes the grid read as relief.
    """
    inside = (x >= s.x_from) & (x <= s.x_to)
    rings = np.asarray(s.rings, dtype=np.float64)
    if s.ridged:
        nearest = rings[np.abs(x[:, None] - rings[None, :]).argmin(axis=1)]
        d = (x - nearest) / s.groove_mm
        bump = np.exp(-d * d)
        tilt = np.where(inside, -1.4 * d * bump, 0.0)
        occlusion = np.ones_like(x)
    else:
        i = np.clip(np.searchsorted(rings, x, side="right") - 1, 0, len(rings) - 2)
        u = (x - rings[i]) / (rings[i + 1] - rings[i])
        tilt = np.where(inside, 0.6 * np.cos(math.pi * u), 0.0)
        d = np.minimum(x - rings[i], rings[i + 1] - x) / s.groove_mm
        occlusion = 1.0 - 0.6 * np.exp(-d * d) * inside
    slope = (slope + tilt)[None, :].astype(np.float32)
    occ = occlusion[None, :].astype(np.float32)
    if s.meridians:
        step = s.meridians[1] - s.meridians[0] if len(s.meridians) > 1 else math.pi
        alpha = np.arcsin(np.clip(t, -1.0, 1.0))
        rel = (alpha - s.meridians[0]) / step
        u_a = rel - np.floor(rel)
        t = np.where(inside[None, :], np.sin(alpha - 0.5 * np.cos(np.pi * u_a)), t).astype(np.float32)
        d_a = np.minimum(u_a, 1.0 - u_a) * step * r[None, :] / s.groove_mm
        occ = occ * (1.0 - 0.6 * np.exp(-d_a * d_a) * inside[None, :]).astype(np.float32)
    return t, slope, occ


def _polygon_cover(
    frame: _Frame, points: Sequence[tuple[float, float]], x_range: tuple[float, float] | None = None
) -> tuple[int, int, np.ndarray] | None:
    """(r0, c0, coverage) of a polygon, optionally cut to x_range (mm): drawn at ss, reduced."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    r0, r1, c0, c1 = frame.box(min(xs), max(xs), max(ys), min(ys))
    if r1 <= r0 or c1 <= c0:
        return None
    ss, k = frame.ss, frame.scale * frame.ss
    layer = Image.new("L", ((c1 - c0) * ss, (r1 - r0) * ss), 0)
    draw = ImageDraw.Draw(layer)
    ox, oy = frame.left_mm + c0 / frame.scale, frame.top_mm - r0 / frame.scale
    draw.polygon([((x - ox) * k, (oy - y) * k) for x, y in points], fill=255)
    if x_range is not None:
        a, b = ((x_range[0] - ox) * k, (x_range[1] - ox) * k)
        draw.rectangle((0, 0, math.floor(a) - 1, layer.height), fill=0)
        draw.rectangle((math.ceil(b), 0, layer.width, layer.height), fill=0)
    return r0, c0, _coverage(layer, ss)


def _emboss(cover: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(edge falloff, lit-edge relief) of a flat shape: a soft pillow look without a 3-D model."""
    pad = math.ceil(radius * 3) + 2
    layer = Image.fromarray(np.pad(cover * 255, pad).astype(np.uint8), "L")
    blurred = np.asarray(layer.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255.0
    k = max(1, round(radius * 0.7))
    h, w = cover.shape
    inner = blurred[pad : pad + h, pad : pad + w]
    lower_right = blurred[pad + k : pad + k + h, pad + k : pad + k + w]
    upper_left = blurred[pad - k : pad - k + h, pad - k : pad - k + w]
    return inner, lower_right - upper_left


def _flat_shade(cover: np.ndarray, lum: float, gradient: float, emboss: float) -> np.ndarray:
    """Flat colour with a gentle fall from top to bottom, optionally softly embossed."""
    h, w = cover.shape
    fall = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    shade = np.broadcast_to(lum * (1.0 + gradient / 2) - lum * gradient * fall, (h, w)).astype(np.float32)
    if emboss > 0:
        rows = np.flatnonzero(cover.max(axis=1) > 0.5)
        cols = np.flatnonzero(cover.max(axis=0) > 0.5)
        size = min(rows.size, cols.size) if rows.size and cols.size else 1
        inner, relief = _emboss(cover, max(1.0, emboss * size))
        shade = shade * (0.82 + 0.18 * inner) + 0.45 * relief
    return shade


def _paint_flat(
    canvas: _Canvas,
    points: Sequence[tuple[float, float]],
    base: np.ndarray,
    lum: float,
    gradient: float = 0.0,
    emboss: float = 0.0,
    x_range: tuple[float, float] | None = None,
) -> None:
    """A flat shape: fin, part, band, or the outline of a flat form."""
    found = _polygon_cover(canvas.frame, points, x_range)
    if found is not None:
        r0, c0, cover = found
        canvas.paint(r0, c0, cover, _shade(base, _flat_shade(cover, lum, gradient, emboss)))


def _upper_envelope(points: Sequence[tuple[float, float]], x: np.ndarray) -> np.ndarray:
    """Highest y of a polygon's edges at each x (0 where no edge crosses): its top silhouette."""
    top = np.zeros_like(x)
    closed = [*points, points[0]]
    for (xa, ya), (xb, yb) in itertools.pairwise(closed):
        if xa == xb:
            continue
        lo, hi = min(xa, xb), max(xa, xb)
        y = ya + (yb - ya) * (x - xa) / (xb - xa)
        top = np.where((x >= lo) & (x <= hi), np.maximum(top, y), top)
    return top


def _paint_round_part(canvas: _Canvas, points: Sequence[tuple[float, float]], base: np.ndarray) -> None:
    """A part mirrored about the axis (nose fuze, tail boom) gets the body's round shading.

    Its radius comes from the polygon's edges, not from the pixels, so the highlight runs
    smoothly along it instead of flickering with the pixel grid.
    """
    frame = canvas.frame
    found = _polygon_cover(frame, points)
    if found is None:
        return
    r0, c0, cover = found
    h, w = cover.shape
    x = frame.x_mm(c0, c0 + w)
    half = np.maximum(_upper_envelope(points, x), 1e-6)
    t = (frame.y_mm(r0, r0 + h)[:, None] / half[None, :]).astype(np.float32)
    slope = np.gradient(half) * frame.scale if w > 1 else np.zeros_like(half)
    slope = _smooth(np.clip(slope, -4.0, 4.0), 3).astype(np.float32)
    lum, spec = _lighting(t, slope[None, :])
    canvas.paint(r0, c0, cover, _shade(base, lum * _PART_DARKEN, spec))


def _paint_part(canvas: _Canvas, geom: Geometry, part: Part, colours: dict[str, str]) -> None:
    base = _hex_rgb(colours, part.colour)
    if geom.form == "revolution" and _is_axis_symmetric(part):
        _paint_round_part(canvas, part.points, base)
    else:
        _paint_flat(canvas, part.points, base, 0.92 * _PART_DARKEN, gradient=0.18, emboss=0.12)


def _paint_ring(canvas: _Canvas, geom: Geometry, base: np.ndarray) -> None:
    """The ring tail: a short cylinder in front of everything in its length, darker at its lips."""
    ring = geom.ring_tail
    if ring is None:
        return
    frame = canvas.frame
    x0, x1, radius = ring.position_mm, ring.position_mm + ring.length_mm, ring.diameter_mm / 2
    found = _polygon_cover(frame, [(x0, radius), (x1, radius), (x1, -radius), (x0, -radius)])
    if found is None:
        return
    r0, c0, cover = found
    h, w = cover.shape
    x = frame.x_mm(c0, c0 + w)
    y = frame.y_mm(r0, r0 + h)[:, None]
    lum, spec = _lighting((y / radius).astype(np.float32), 0.0)
    lip = max(ring.length_mm * 0.08, 1e-3)
    rim = (0.72 + 0.28 * np.clip(np.minimum(x - x0, x1 - x) / lip, 0.0, 1.0) ** 0.5).astype(np.float32)
    lum = lum * rim[None, :] * 0.93
    spec = spec * rim[None, :]
    canvas.paint(r0, c0, cover, _shade(base, lum, spec))


def _frame_for(geom: Geometry, length_px: int, view: View) -> tuple[_Frame, int]:
    """Scale so the item is `length_px` long; supersampling as high as the pixel budget allows."""
    x0, x1, y0, y1 = _extent(geom, view)
    length = max(x1 - x0, 1e-6)
    margin = max(8, round(length_px * 0.02))
    scale = length_px / length
    pad = (margin + 6) / scale  # in mm: room for the crop margin and the filter
    width = math.ceil((length + 2 * pad) * scale)
    height = math.ceil((y1 - y0 + 2 * pad) * scale)
    ss = SUPERSAMPLE
    while ss > 1 and width * height * ss * ss > _MAX_CANVAS_PX:
        ss -= 1
    return _Frame(scale, x0 - pad, y1 + pad, width, height, ss), margin


def render_side(
    entry: Entry, colours: dict[str, str], length_px: int = 1000, *, view: View = "side"
) -> Image.Image:
    """Shaded side view, nose left, transparent background, `length_px` along the item's length.

    No text or strokes: the picture doubles as the clean reference for photo matching.
    `view="top"` draws the `top` polygon of a flat (outline) form instead, since a butterfly
    mine lying on the ground is photographed from above.
    """
    geom = _require_geometry(entry)
    if view == "top":
        if geom.form != "outline" or len(geom.top) < 3:
            raise ValueError(f"{entry.id}: a top view needs an outline form with a 'top' polygon")
        return _render_top(geom, colours, length_px)
    frame, margin = _frame_for(geom, length_px, view)
    canvas = _Canvas(frame)
    body = _hex_rgb(colours, geom.body_colour)
    fin_rgb = _hex_rgb(colours, geom.fins.colour) if geom.fins and geom.fins.colour else body
    side_parts = [p for p in geom.parts if p.view == "side"]
    fins = _fin_shapes(geom)

    for part in side_parts:
        if part.behind:
            _paint_part(canvas, geom, part, colours)
    for fin in fins:
        if not fin.front:
            _paint_flat(canvas, fin.points, fin_rgb, fin.lum)
    if geom.form == "revolution":
        xs, _ = _profile_arrays(geom)
        _paint_revolution(canvas, geom, body, float(xs[0]), float(xs[-1]), surface=_surface(geom))
        for band in geom.bands:
            band_rgb = _hex_rgb(colours, band.colour)
            _paint_revolution(
                canvas, geom, band_rgb, band.position_mm, band.position_mm + band.width_mm, band.raised_mm
            )
    else:
        _paint_flat(canvas, geom.side, body, 0.95, gradient=0.3, emboss=0.08)
        for band in geom.bands:
            x_range = (band.position_mm, band.position_mm + band.width_mm)
            _paint_flat(canvas, geom.side, _hex_rgb(colours, band.colour), 0.95, 0.3, x_range=x_range)
    for fin in fins:
        if fin.front:
            _paint_flat(canvas, fin.points, fin_rgb, fin.lum)
    _paint_ring(canvas, geom, fin_rgb)
    for part in side_parts:
        if not part.behind:
            _paint_part(canvas, geom, part, colours)

    return _crop(canvas.image(), margin)


def _render_top(geom: Geometry, colours: dict[str, str], length_px: int) -> Image.Image:
    """Plan view of a flat form: the `top` polygon, bands across it and the top-view parts."""
    frame, margin = _frame_for(geom, length_px, "top")
    canvas = _Canvas(frame)
    parts = [p for p in geom.parts if p.view == "top"]
    for part in parts:
        if part.behind:
            _paint_part(canvas, geom, part, colours)
    _paint_flat(canvas, geom.top, _hex_rgb(colours, geom.body_colour), 0.95, gradient=0.3, emboss=0.08)
    for band in geom.bands:
        x_range = (band.position_mm, band.position_mm + band.width_mm)
        _paint_flat(canvas, geom.top, _hex_rgb(colours, band.colour), 0.95, 0.3, x_range=x_range)
    for part in parts:
        if not part.behind:
            _paint_part(canvas, geom, part, colours)
    return _crop(canvas.image(), margin)


def _crop(image: Image.Image, margin: int) -> Image.Image:
    """Crop to the drawn pixels plus a small transparent margin."""
    box = image.getchannel("A").getbbox()
    if box is None:
        return image
    left, top, right, bottom = box
    return image.crop((left - margin, top - margin, right + margin, bottom + margin))


def png_bytes(image: Image.Image) -> bytes:
    """PNG with fixed settings and no metadata chunks (no time stamps): same image, same bytes."""
    buffer = io.BytesIO()
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    clean.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buffer.getvalue()


# --- SVG technical drawing ----------------------------------------------------------------


def _num(value: float) -> str:
    """A number as people write it: 1500, 82.5, 0.25 (no exponent, no trailing zeros)."""
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def dimension_text(dim: Dimension, unit: str) -> str:
    """'1500 mm' for a sourced number, '1500 mm (reference)' for a quoted one, and
    '≈1500 mm (estimate)' or '≈250 kg (nominal)' when no source states it."""
    if dim.basis == "source":
        return f"{_num(dim.value)} {unit}"
    if dim.basis == "reference":
        return f"{_num(dim.value)} {unit} (reference)"
    return f"≈{_num(dim.value)} {unit} ({dim.basis})"


def _f(value: float) -> str:
    """Fixed two-decimal coordinates: stable text, small files."""
    text = f"{value:.2f}"
    return "0" if text in ("-0.00", "0.00") else text.rstrip("0").rstrip(".")


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _hex(rgb: np.ndarray | Sequence[float]) -> str:
    r, g, b = (int(min(max(round(float(v)), 0), 255)) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _nice_length(target: float) -> float:
    """The round number (1, 2 or 5 x 10^n) at or below `target`: a readable scale bar."""
    if target <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * power <= target:
            return step * power
    return power


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


class _Svg:
    """A small SVG writer: everything placed through here, every text escaped."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.defs: dict[str, str] = {}
        self.body: list[str] = []

    def gradient(self, name: str, base: np.ndarray, stops: Sequence[tuple[float, float, float]]) -> str:
        """Vertical gradient across an item's height; returns the url() to fill with."""
        gid = f"{self.prefix}-{name}"
        if gid not in self.defs:
            parts = [f'<linearGradient id="{_attr(gid)}" x1="0" y1="0" x2="0" y2="1">']
            for offset, lum, spec in stops:
                colour = _hex(np.clip(base * lum + _SPECULAR * 255 * spec, 0, 255))
                parts.append(f'<stop offset="{offset:.3f}" stop-color="{colour}"/>')
            parts.append("</linearGradient>")
            self.defs[gid] = "".join(parts)
        return f"url(#{gid})"

    def round_fill(self, base: np.ndarray, name: str) -> str:
        t = np.linspace(1.0, -1.0, 13, dtype=np.float32)
        lum, spec = _lighting(t, 0.0)
        stops = [(float(i / 12), float(lum[i]), float(spec[i])) for i in range(13)]
        return self.gradient(f"round-{name}", base, stops)

    def flat_fill(self, base: np.ndarray, name: str, lum: float, fall: float) -> str:
        return self.gradient(
            f"flat-{name}", base, [(0.0, lum * (1 + fall / 2), 0.0), (1.0, lum * (1 - fall / 2), 0.0)]
        )

    def polygon(
        self, pts: Iterable[tuple[float, float]], fill: str, stroke: str = "#222222", width: float = 0.8
    ) -> None:
        coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
        self.body.append(
            f'<polygon points="{coords}" fill="{fill}" stroke="{stroke}" stroke-width="{_f(width)}" '
            'stroke-linejoin="round"/>'
        )

    def polyline(
        self, pts: Iterable[tuple[float, float]], stroke: str, width: float, extra: str = ""
    ) -> None:
        coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
        self.body.append(
            f'<polyline points="{coords}" fill="none" stroke="{stroke}" stroke-width="{_f(width)}"{extra}/>'
        )

    def line(
        self, x1: float, y1: float, x2: float, y2: float, stroke: str = "#333333", width: float = 0.7
    ) -> None:
        self.body.append(
            f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" stroke="{stroke}" '
            f'stroke-width="{_f(width)}"/>'
        )

    def rect(
        self, x: float, y: float, w: float, h: float, fill: str, stroke: str = "none", width: float = 0.0
    ) -> None:
        self.body.append(
            f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{_f(width)}"/>'
        )

    def circle(
        self, cx: float, cy: float, r: float, fill: str, stroke: str = "#222222", extra: str = ""
    ) -> None:
        self.body.append(
            f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="{_f(r)}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="0.8"{extra}/>'
        )

    def text(
        self,
        x: float,
        y: float,
        content: str,
        size: float,
        anchor: str = "start",
        weight: str = "normal",
        fill: str = "#111111",
        rotate: bool = False,
        lang: str | None = None,
    ) -> None:
        turn = f' transform="rotate(-90 {_f(x)} {_f(y)})"' if rotate else ""
        lang_attr = f' xml:lang="{_attr(lang)}"' if lang else ""
        self.body.append(
            f'<text x="{_f(x)}" y="{_f(y)}" font-size="{_f(size)}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}"{lang_attr}{turn}>{escape(content)}</text>'
        )

    def arrow(self, x: float, y: float, dx: float, dy: float) -> None:
        """A filled arrow head at (x, y) pointing along (dx, dy)."""
        size, half = 7.0, 2.6
        px, py = -dy, dx
        pts = [
            (x, y),
            (x - dx * size + px * half, y - dy * size + py * half),
            (x - dx * size - px * half, y - dy * size - py * half),
        ]
        self.polygon(pts, "#333333", stroke="none", width=0)

    def dimension(self, a: tuple[float, float], b: tuple[float, float], label: str, vertical: bool) -> None:
        """A dimension line between two points with arrows at both ends and the label beside it."""
        (x1, y1), (x2, y2) = a, b
        self.line(x1, y1, x2, y2)
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        dx, dy = (x2 - x1) / length, (y2 - y1) / length
        self.arrow(x2, y2, dx, dy)
        self.arrow(x1, y1, -dx, -dy)
        if vertical:
            self.text(x1 - 6, (y1 + y2) / 2, label, 12, anchor="middle", rotate=True)
        else:
            self.text((x1 + x2) / 2, y1 - 6, label, 12, anchor="middle")

    def document(self, width: float, height: float, title: str) -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
            f'viewBox="0 0 {_f(width)} {_f(height)}" font-family="{_attr(FONT_FAMILY)}">'
        )
        defs = "<defs>" + "".join(self.defs[k] for k in sorted(self.defs)) + "</defs>"
        background = f'<rect x="0" y="0" width="{_f(width)}" height="{_f(height)}" fill="#ffffff"/>'
        label = f"<title>{escape(title)}</title>"
        return "\n".join([head, label, defs, background, *self.body, "</svg>"]) + "\n"


def _band_polygon(geom: Geometry, band: Band) -> list[tuple[float, float]]:
    x0, x1 = band.position_mm, band.position_mm + band.width_mm
    stations = sorted({x0, x1, *(x for x, _ in geom.profile if x0 < x < x1)})
    top = [(x, float(_radius(geom, np.array([x]))[0]) + band.raised_mm) for x in stations]
    return top + [(x, -y) for x, y in reversed(top)]


def _draw_side_svg(svg: _Svg, geom: Geometry, colours: dict[str, str], to_px: _ToPx) -> None:
    """The side view as vector shapes, painted in the same order as the raster side view."""
    body = _hex_rgb(colours, geom.body_colour)
    fin_rgb = _hex_rgb(colours, geom.fins.colour) if geom.fins and geom.fins.colour else body
    fin_id = geom.fins.colour if geom.fins and geom.fins.colour else geom.body_colour
    fins = _fin_shapes(geom)
    parts = [p for p in geom.parts if p.view == "side"]

    def part(p: Part) -> None:
        base = _hex_rgb(colours, p.colour)
        if geom.form == "revolution" and _is_axis_symmetric(p):
            fill = svg.round_fill(base * _PART_DARKEN, f"part-{p.colour}")
        else:
            fill = svg.flat_fill(base, f"part-{p.colour}", 0.85, 0.2)
        svg.polygon(map(to_px, p.points), fill)

    def fin(shape: _FinShape, k: int) -> None:
        svg.polygon(map(to_px, shape.points), svg.flat_fill(fin_rgb, f"fin-{fin_id}-{k}", shape.lum, 0.0))

    for p in parts:
        if p.behind:
            part(p)
    for k, shape in enumerate(fins):
        if not shape.front:
            fin(shape, k)
    if geom.form == "revolution":
        upper = list(geom.profile)
        outline = upper + [(x, -r) for x, r in reversed(upper)]
        svg.polygon(map(to_px, outline), svg.round_fill(body, f"body-{geom.body_colour}"))
        _draw_surface_svg(svg, geom, to_px)
        for band in geom.bands:
            fill = svg.round_fill(_hex_rgb(colours, band.colour), f"band-{band.colour}")
            svg.polygon(map(to_px, _band_polygon(geom, band)), fill, width=0.5)
    else:
        svg.polygon(map(to_px, geom.side), svg.flat_fill(body, f"body-{geom.body_colour}", 0.95, 0.3))
        for band in geom.bands:
            ys = [y for _, y in geom.side]
            x0, y0 = to_px((band.position_mm, max(ys)))
            x1, y1 = to_px((band.position_mm + band.width_mm, min(ys)))
            fill = svg.flat_fill(_hex_rgb(colours, band.colour), f"band-{band.colour}", 0.9, 0.3)
            svg.rect(x0, y0, x1 - x0, y1 - y0, fill, "#222222", 0.5)
    for k, shape in enumerate(fins):
        if shape.front:
            fin(shape, k)
    if geom.ring_tail is not None:
        ring = geom.ring_tail
        x0, y0 = to_px((ring.position_mm, ring.diameter_mm / 2))
        x1, y1 = to_px((ring.position_mm + ring.length_mm, -ring.diameter_mm / 2))
        fill = svg.round_fill(fin_rgb * 0.93, f"ring-{fin_id}")
        svg.rect(x0, y0, x1 - x0, y1 - y0, fill, "#222222", 0.8)
    for p in parts:
        if not p.behind:
            part(p)


def _draw_surface_svg(svg: _Svg, geom: Geometry, to_px: _ToPx) -> None:
    surface = _surface(geom)
    if surface is None:
        return
    stroke = ' stroke-opacity="0.55" stroke-linecap="round"'
    for xg in surface.rings:
        r = float(_radius(geom, np.array([xg]))[0])
        svg.polyline([to_px((xg, r)), to_px((xg, -r))], "#1a1a1a", 1.2, stroke)
    xs = np.linspace(surface.x_from, surface.x_to, 41)
    rs = _radius(geom, xs)
    for angle in surface.meridians:
        svg.polyline(
            [to_px((float(x), float(r) * math.sin(angle))) for x, r in zip(xs, rs, strict=True)],
            "#1a1a1a",
            1.2,
            stroke,
        )


class _ToPx:
    """mm -> SVG px with the drawing's single scale factor."""

    def __init__(self, scale: float, x_origin: float, y_origin: float, x_min: float, y_max: float) -> None:
        self.scale, self.x_origin, self.y_origin, self.x_min, self.y_max = (
            scale,
            x_origin,
            y_origin,
            x_min,
            y_max,
        )

    def __call__(self, point: tuple[float, float]) -> tuple[float, float]:
        x, y = point
        return (self.x_origin + (x - self.x_min) * self.scale, self.y_origin + (self.y_max - y) * self.scale)


def _draw_end_view(
    svg: _Svg, geom: Geometry, colours: dict[str, str], cx: float, cy: float, k: float
) -> tuple[float, float]:
    """Looking along the axis: body circle, fins, ring. Returns (outer radius, body radius) in px."""
    body = _hex_rgb(colours, geom.body_colour)
    fin_rgb = _hex_rgb(colours, geom.fins.colour) if geom.fins and geom.fins.colour else body
    rmax = max(r for _, r in geom.profile)
    outer = rmax
    svg.circle(cx, cy, rmax * k, svg.round_fill(body, f"body-{geom.body_colour}"))
    tail = geom.profile[-1][1]
    if 0 < tail < rmax * 0.95:  # the tail end (cone, boom) seen in front of the widest section
        svg.circle(cx, cy, tail * k, svg.round_fill(body * 0.85, f"tail-{geom.body_colour}"))
    if geom.fins is not None:
        fins = geom.fins
        tip = fins.span_mm / 2
        outer = max(outer, tip)
        half = max(fins.span_mm * 0.012, 0.4) * k
        fill = _hex(fin_rgb * 0.8)
        stations = np.linspace(fins.position_mm, fins.position_mm + fins.root_chord_mm, 9)
        root = float(_radius(geom, stations).min())
        for i in range(fins.count):
            phi = 2 * math.pi * i / fins.count
            ux, uy = math.sin(phi), -math.cos(phi)
            px, py = -uy, ux
            a, b = root * k, tip * k
            pts = [
                (cx + ux * a + px * half, cy + uy * a + py * half),
                (cx + ux * b + px * half, cy + uy * b + py * half),
                (cx + ux * b - px * half, cy + uy * b - py * half),
                (cx + ux * a - px * half, cy + uy * a - py * half),
            ]
            svg.polygon(pts, fill, width=0.6)
        svg.circle(cx, cy, tip * k, "none", "#666666", ' stroke-dasharray="4 3"')
    if geom.ring_tail is not None:
        radius = geom.ring_tail.diameter_mm / 2
        outer = max(outer, radius)
        width = max(radius * 0.04 * k, 1.5)
        svg.body.append(
            f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="{_f(radius * k)}" fill="none" '
            f'stroke="{_hex(fin_rgb * 0.75)}" stroke-width="{_f(width)}"/>'
        )
    return outer * k, rmax * k


def render_svg(entry: Entry, colours: dict[str, str]) -> str:
    """Technical drawing: side view, end (or top) view, dimensions, scale bar, title.

    The views are at the geometry's own scale (one mm -> px factor); the numbers written on the
    dimension lines are the catalog's `dimensions`, with estimates and nominal values marked.
    """
    geom = _require_geometry(entry)
    dims = entry.dimensions
    svg = _Svg(entry.id)
    x_min, x_max, y_min, y_max = _extent(geom)
    length_mm = max(x_max - x_min, 1e-6)
    height_mm = max(y_max - y_min, 1e-6)
    k = min(760.0 / length_mm, 360.0 / height_mm)
    margin = 36.0

    # Title block.
    svg.text(margin, 42, entry.name, 26, weight="bold")
    y = 42.0
    # The designation in other scripts, each spelling once (ru and uk are often identical).
    spellings: dict[str, str] = {}
    for lang, name in entry.names.items():
        spellings.setdefault(name, lang)
    x = margin
    if spellings:
        y += 26
        for name, lang in spellings.items():
            svg.text(x, y, name, 17, lang=lang)
            x += 17 * 0.62 * len(name) + 24
    if geom.schematic:
        y += 24
        svg.text(margin, y, "SCHEMATIC — not to exact scale", 14, weight="bold", fill="#a8282a")
    title_width = max(margin + 26 * 0.62 * len(entry.name), x)

    # Side view, with room on the left for nothing but the margin.
    top = y + 40
    svg.text(margin, top - 12, "Side view", 12, fill="#555555")
    to_px = _ToPx(k, margin + 10, top, x_min, y_max)
    _draw_side_svg(svg, geom, colours, to_px)
    side_left = to_px((x_min, y_max))[0]
    side_right, side_bottom = to_px((x_max, y_min))
    right = side_right

    # Overall length below the side view.
    y_dim = side_bottom + 34
    if dims.length_mm is not None:
        for x in (side_left, side_right):
            svg.line(x, side_bottom + 6, x, y_dim + 6, "#777777", 0.5)
        svg.dimension((side_left, y_dim), (side_right, y_dim), dimension_text(dims.length_mm, "mm"), False)
    bottom = y_dim + 14

    if geom.form == "revolution":
        outer_px, _ = _draw_end_view_block(svg, geom, colours, to_px, side_right, k, dims)
        right = side_right + 96 + 2 * outer_px + 70
        bottom = max(bottom, to_px((0, 0))[1] + outer_px + 20)
    elif geom.top:
        tx0, tx1 = min(x for x, _ in geom.top), max(x for x, _ in geom.top)
        ty0, ty1 = min(y for _, y in geom.top), max(y for _, y in geom.top)
        top_view = _ToPx(k, to_px((tx0, 0))[0], bottom + 30, tx0, ty1)
        svg.text(margin, bottom + 18, "Top view", 12, fill="#555555")
        body = _hex_rgb(colours, geom.body_colour)
        svg.polygon(map(top_view, geom.top), svg.flat_fill(body, f"top-{geom.body_colour}", 0.95, 0.3))
        for p in geom.parts:
            if p.view == "top":
                fill = svg.flat_fill(_hex_rgb(colours, p.colour), f"part-{p.colour}", 0.85, 0.2)
                svg.polygon(map(top_view, p.points), fill)
        (_, t_top), (t_right, t_bottom) = top_view((tx0, ty1)), top_view((tx1, ty0))
        if dims.diameter_mm is not None:
            x_dim = t_right + 30
            for yy in (t_top, t_bottom):
                svg.line(t_right + 6, yy, x_dim + 6, yy, "#777777", 0.5)
            svg.dimension((x_dim, t_bottom), (x_dim, t_top), dimension_text(dims.diameter_mm, "mm"), True)
            right = max(right, x_dim + 10)
        bottom = t_bottom + 16

    # Scale bar in mm.
    bar_mm = _nice_length(length_mm * 0.3)
    bar_px = bar_mm * k
    y_bar = bottom + 30
    steps = 5 if bar_px >= 100 else 2
    for i in range(steps):
        fill = "#222222" if i % 2 == 0 else "#ffffff"
        svg.rect(margin + i * bar_px / steps, y_bar, bar_px / steps, 6, fill, "#222222", 0.6)
    svg.text(margin, y_bar + 22, "0", 11, anchor="middle")
    svg.text(margin + bar_px, y_bar + 22, f"{_num(bar_mm)} mm", 11, anchor="middle")
    y_text = y_bar + 48

    # Every catalog number in one line, including those no view can show (weight).
    listed = [
        (label, dim, unit)
        for label, dim, unit in (
            ("Length", dims.length_mm, "mm"),
            ("Diameter", dims.diameter_mm, "mm"),
            ("Span", dims.span_mm, "mm"),
            ("Weight", dims.weight_kg, "kg"),
        )
        if dim is not None
    ]
    if listed:
        summary = " · ".join(f"{label} {dimension_text(dim, unit)}" for label, dim, unit in listed)
        svg.text(margin, y_text, summary, 13)
        y_text += 20
    notes = []
    if geom.note:
        notes += _wrap(f"Drawing: {geom.note}", 110)
    for line in notes:
        svg.text(margin, y_text, line, 11, fill="#555555")
        y_text += 16
    width = max(right, title_width, margin + 11 * 0.55 * max((len(n) for n in notes), default=0)) + margin
    return svg.document(math.ceil(width), math.ceil(y_text + margin - 10), f"{entry.name}: technical drawing")


def _draw_end_view_block(
    svg: _Svg,
    geom: Geometry,
    colours: dict[str, str],
    to_px: _ToPx,
    side_right: float,
    k: float,
    dims: Dimensions,
) -> tuple[float, float]:
    """End view right of the side view, on the same axis, with diameter and span dimensions."""
    _, rs = _profile_arrays(geom)
    outer = max(float(rs.max()), geom.fins.span_mm / 2 if geom.fins else 0.0)
    if geom.ring_tail is not None:
        outer = max(outer, geom.ring_tail.diameter_mm / 2)
    cx = side_right + 96 + outer * k
    cy = to_px((0.0, 0.0))[1]
    svg.text(cx, cy - outer * k - 14, "End view", 12, anchor="middle", fill="#555555")
    outer_px, body_px = _draw_end_view(svg, geom, colours, cx, cy, k)
    if dims.diameter_mm is not None:
        x_dim = cx - outer_px - 26
        for yy in (cy - body_px, cy + body_px):
            svg.line(cx - 4, yy, x_dim - 6, yy, "#777777", 0.5)
        svg.dimension(
            (x_dim, cy + body_px), (x_dim, cy - body_px), dimension_text(dims.diameter_mm, "mm"), True
        )
    if dims.span_mm is not None and geom.fins is not None:
        tip_px = geom.fins.span_mm / 2 * k
        x_dim = cx + outer_px + 30
        for yy in (cy - tip_px, cy + tip_px):
            svg.line(cx + 4, yy, x_dim + 6, yy, "#777777", 0.5)
        svg.dimension(
            (x_dim, cy + tip_px), (x_dim, cy - tip_px), "span " + dimension_text(dims.span_mm, "mm"), True
        )
    return outer_px, body_px


# --- files and sheets ---------------------------------------------------------------------


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def pictures_match(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two renders of a drawing differ at most by floating-point noise.

    Another CPU or library build can round an anti-aliased edge pixel the other way; such noise
    is isolated pixels along edges. A real change (a moved band, another colour, a new part)
    changes a patch: any 2 x 2 block of changed pixels, or more than 0.2 % of the picture, counts.
    """
    if a.shape != b.shape:
        return False
    changed = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1) > 8
    if not changed.any():
        return True
    if changed.mean() > 0.002:
        return False
    block = changed[:-1, :-1] & changed[1:, :-1] & changed[:-1, 1:] & changed[1:, 1:]
    return not bool(block.any())


def svgs_match(a: str, b: str) -> bool:
    """True when two SVG texts are equal but for numbers that agree to within 0.001."""
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return False
    return all(
        math.isclose(float(x), float(y), rel_tol=1e-6, abs_tol=1e-3)
        for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b), strict=True)
    )


def _same_png(path: Path, data: bytes) -> bool:
    with Image.open(path) as old, Image.open(io.BytesIO(data)) as new:
        return pictures_match(np.asarray(old.convert("RGBA")), np.asarray(new.convert("RGBA")))


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write unless the file holds the same drawing, so a build on another machine leaves the
    committed files alone when only floating-point noise differs."""
    if path.exists():
        old = path.read_bytes()
        if old == data:
            return False
        if path.suffix == ".png" and _same_png(path, data):
            return False
        if path.suffix == ".svg" and svgs_match(old.decode("utf-8", "replace"), data.decode("utf-8")):
            return False
    path.write_bytes(data)
    return True


def write_drawings(entry: Entry, colours: dict[str, str], images_dir: Path) -> list[Path]:
    """Write images/<id>/side.png and drawing.svg; return the files that changed.

    Unchanged files are left alone (the same drawing, see `pictures_match`), so rebuilding
    touches nothing. An entry with
    no geometry has nothing to draw and returns [].
    """
    if entry.geometry is None:
        return []
    folder = Path(images_dir) / entry.id
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        folder / "side.png": png_bytes(render_side(entry, colours, view=entry.geometry.reference_view)),
        folder / "drawing.svg": render_svg(entry, colours).encode("utf-8"),
    }
    return [path for path, data in files.items() if _write_if_changed(path, data)]


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Noto Sans from the fontpkg wheel (a pinned dependency), else DejaVu, else Pillow's own."""
    candidates: list[Path] = []
    try:
        import fontpkg_noto_sans

        candidates.append(Path(fontpkg_noto_sans.__file__).parent / "files" / "NotoSans[wdth,wght].ttf")
    except ImportError:
        pass
    candidates.append(Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    for path in candidates:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _fit_text(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int
) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def contact_sheet(
    entries: Iterable[Entry], colours: dict[str, str], images_dir: Path, columns: int = 6
) -> Image.Image:
    """Every side view in a grid with its name: one picture to review the whole catalog.

    Uses images/<id>/side.png when it exists, else renders in memory; entries without geometry
    and without a side view are left out.
    """
    cell_w, cell_h, label_h, pad = 280, 150, 30, 14
    pictures: list[tuple[str, Image.Image]] = []
    for entry in entries:
        path = Path(images_dir) / entry.id / "side.png"
        if path.exists():
            with Image.open(path) as opened:
                picture = opened.convert("RGBA")
        elif entry.geometry is not None:
            picture = render_side(entry, colours, length_px=800, view=entry.geometry.reference_view)
        else:
            continue
        pictures.append((entry.name, picture))
    columns = max(1, columns)
    rows = max(1, math.ceil(len(pictures) / columns))
    sheet = Image.new("RGB", (pad + columns * (cell_w + pad), pad + rows * (cell_h + label_h + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(15)
    for i, (name, picture) in enumerate(pictures):
        x = pad + (i % columns) * (cell_w + pad)
        y = pad + (i // columns) * (cell_h + label_h + pad)
        thumb = picture.copy()
        thumb.thumbnail((cell_w, cell_h), Image.Resampling.LANCZOS)
        sheet.paste(thumb, (x + (cell_w - thumb.width) // 2, y + (cell_h - thumb.height) // 2), thumb)
        label = _fit_text(draw, name, font, cell_w)
        draw.text((x + cell_w / 2, y + cell_h + 6), label, fill="#111111", font=font, anchor="mt")
    return sheet
