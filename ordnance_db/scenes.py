"""Synthetic photographs: an entry's drawing placed on procedural ground, for matching and testing.

No licensed photograph exists for most entries, so the matcher learns from the drawings seen the
way a phone sees an object lying on the ground: at any angle and scale, under different light,
partly covered, on soil, grass or concrete. Two recipes share the machinery but not their
grounds, occluders or degradations: `reference` builds the matcher's reference set, `heldout`
builds the evaluation set, so evaluation measures generalisation, not memory.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from ordnance_db.drawing import render_side
from ordnance_db.schema import Entry

Recipe = Literal["reference", "heldout"]
SCENE_SIZE = (480, 360)

# Ground palettes: (base RGB, variation amplitude, speckle RGB)
GROUNDS: dict[str, tuple[tuple[int, int, int], float, tuple[int, int, int]]] = {
    # reference recipe
    "soil": ((112, 86, 62), 22.0, (70, 52, 38)),
    "grass": ((84, 110, 58), 26.0, (120, 140, 70)),
    "concrete": ((150, 148, 142), 14.0, (110, 108, 104)),
    "gravel": ((128, 122, 112), 30.0, (180, 176, 168)),
    "dry-earth": ((160, 130, 96), 18.0, (120, 96, 70)),
    # held-out recipe: never seen by the matcher when it learns
    "sand": ((196, 172, 128), 14.0, (170, 146, 104)),
    "asphalt": ((72, 72, 74), 12.0, (110, 110, 112)),
    "rubble": ((138, 126, 116), 34.0, (92, 80, 72)),
    "leaves": ((98, 80, 44), 30.0, (150, 110, 40)),
    "snow": ((226, 228, 232), 8.0, (200, 204, 212)),
}
RECIPE_GROUNDS: dict[str, tuple[str, ...]] = {
    "reference": ("soil", "grass", "concrete", "gravel", "dry-earth"),
    "heldout": ("sand", "asphalt", "rubble", "leaves", "snow"),
}


@dataclass(frozen=True)
class Scene:
    """One synthetic photograph and where the object is in it."""

    image: Image.Image
    box: tuple[int, int, int, int]
    """Bounding box of the object's own pixels in the image (x0, y0, x1, y1)."""


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    """Value noise: random values on a coarse grid, upsampled smoothly (cheap and natural-looking)."""
    h, w = shape
    small = rng.standard_normal((max(2, h // scale + 2), max(2, w // scale + 2))).astype(np.float32)
    img = Image.fromarray(small, mode="F").resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def ground(kind: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A procedural ground texture as float32 RGB (H, W, 3) in 0..255."""
    base, amplitude, speckle = GROUNDS[kind]
    w, h = size
    field = 0.6 * _smooth_noise(rng, (h, w), 60) + 0.3 * _smooth_noise(rng, (h, w), 12)
    field += 0.25 * rng.standard_normal((h, w)).astype(np.float32)
    tint = rng.uniform(-12, 12, 3).astype(np.float32)
    rgb = np.asarray(base, np.float32) + tint + amplitude * field[..., None]
    spots = rng.random((h, w)) < 0.02
    rgb[spots] = 0.5 * rgb[spots] + 0.5 * np.asarray(speckle, np.float32)
    if kind == "grass":  # blades: short dark and light strokes
        rgb += 10 * np.sin(np.arange(w, dtype=np.float32)[None, :, None] * 0.9 + field[..., None] * 3)
    return np.clip(rgb, 0, 255)


def _colour_schemes(entry: Entry) -> list[str]:
    """Body colours to render: the drawing's own, then the other colours the entry is found in."""
    assert entry.geometry is not None
    schemes = [entry.geometry.body_colour]
    for colour in entry.features.colours:
        if colour not in schemes and colour not in ("copper", "black", "red", "yellow") and len(schemes) < 3:
            schemes.append(colour)
    return schemes


def item_pictures(entry: Entry, colours: dict[str, str], length_px: int = 360) -> list[Image.Image]:
    """RGBA drawings of the entry in each of its colour schemes (and both views of flat items)."""
    geometry = entry.geometry
    if geometry is None:
        return []
    pictures = []
    for body in _colour_schemes(entry):
        variant = entry.model_copy(update={"geometry": geometry.model_copy(update={"body_colour": body})})
        pictures.append(render_side(variant, colours, length_px, view=geometry.reference_view))
        if geometry.form == "outline" and len(geometry.top) >= 3 and geometry.reference_view == "side":
            pictures.append(render_side(variant, colours, length_px, view="top"))
    return pictures


def _perspective(img: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """A slight camera tilt: move the corners a little and warp."""
    w, h = img.size
    jitter = strength * min(w, h)
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(x + rng.uniform(-jitter, jitter), y + rng.uniform(-jitter, jitter)) for x, y in src]
    coeffs = _perspective_coeffs(dst, src)
    return img.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR)


def _perspective_coeffs(dst: list[tuple[float, float]], src: list[tuple[int, int]]) -> list[float]:
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.asarray(rows, dtype=np.float64)
    b = np.asarray([c for point in src for c in point], dtype=np.float64)
    return np.linalg.solve(a, b).tolist()


def _occluders(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    box: tuple[int, int, int, int],
    recipe: Recipe,
    palette: tuple[int, int, int],
) -> None:
    """Things lying on or across the object.

    Reference: clods of earth and straws or wires. Held-out: sticks and leaves, never drawn for
    the reference set, so evaluation meets occluders the matcher has not seen.
    """
    x0, y0, x1, y1 = box
    for _ in range(int(rng.integers(0, 4))):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        size = rng.uniform(0.08, 0.22) * max(x1 - x0, y1 - y0)
        angle = rng.uniform(0, math.pi)
        dx, dy = math.cos(angle) * size * 1.6, math.sin(angle) * size * 1.6
        if recipe == "reference":
            if rng.random() < 0.5:  # a clod of earth
                shade = tuple(int(np.clip(c + rng.uniform(-25, 25), 0, 255)) for c in palette)
                points = [
                    (
                        cx + size * math.cos(a) * rng.uniform(0.5, 1.0),
                        cy + size * math.sin(a) * rng.uniform(0.5, 1.0),
                    )
                    for a in np.linspace(0, 2 * math.pi, 9)[:-1]
                ]
                draw.polygon(points, fill=shade)
            else:  # a straw or a piece of wire
                tone = (200, 180, 110) if rng.random() < 0.5 else (60, 60, 60)
                draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=tone, width=int(rng.integers(1, 4)))
        elif rng.random() < 0.5:  # a stick
            draw.line(
                [(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=(92, 70, 44), width=max(2, int(size / 5))
            )
        else:  # a leaf
            draw.ellipse([cx - size / 2, cy - size / 4, cx + size / 2, cy + size / 4], fill=(120, 96, 40))


def compose(item: Image.Image, rng: np.random.Generator, recipe: Recipe) -> Scene:
    """Place one RGBA drawing on the ground as a phone photo of it might look."""
    width, height = SCENE_SIZE
    kind = str(rng.choice(RECIPE_GROUNDS[recipe]))
    background = ground(kind, SCENE_SIZE, rng)

    picture = item
    if rng.random() < 0.5:
        picture = picture.transpose(Image.Transpose.FLIP_TOP_BOTTOM)  # seen from the other side
    target = (
        rng.uniform(0.45, 0.85) * min(width, height) * max(1.0, picture.width / max(picture.height, 1)) ** 0.5
    )
    scale = target / max(picture.width, picture.height)
    size = (max(8, int(picture.width * scale)), max(8, int(picture.height * scale)))
    picture = picture.resize(size, Image.Resampling.BILINEAR)
    picture = picture.rotate(float(rng.uniform(0, 360)), resample=Image.Resampling.BILINEAR, expand=True)
    picture = _perspective(picture, rng, 0.06 if recipe == "reference" else 0.09)
    limit = 0.92 * min(width / picture.width, height / picture.height, 1.0)
    if limit < 1.0:
        picture = picture.resize((max(8, int(picture.width * limit)), max(8, int(picture.height * limit))))

    # lighting on the object: brightness, contrast and a colour cast
    rgb, alpha = picture.convert("RGB"), picture.getchannel("A")
    rgb = ImageEnhance.Brightness(rgb).enhance(float(rng.uniform(0.7, 1.25)))
    rgb = ImageEnhance.Contrast(rgb).enhance(float(rng.uniform(0.8, 1.2)))
    cast = np.asarray(rgb, np.float32) * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    rgb = Image.fromarray(np.clip(cast, 0, 255).astype(np.uint8))

    x = int(rng.integers(0, max(1, width - picture.width)))
    y = int(rng.integers(0, max(1, height - picture.height)))
    scene = Image.fromarray(background.astype(np.uint8))
    shadow = alpha.filter(ImageFilter.GaussianBlur(6)).point(lambda v: int(v * 0.45))
    offset = (int(rng.integers(2, 10)), int(rng.integers(2, 10)))
    scene.paste((20, 18, 16), (x + offset[0], y + offset[1]), shadow)
    scene.paste(rgb, (x, y), alpha)
    box = (x, y, x + picture.width, y + picture.height)
    ax0, ay0, ax1, ay1 = alpha.point(lambda v: 255 if v > 127 else 0).getbbox() or (0, 0, *alpha.size)
    tight = (x + ax0, y + ay0, x + ax1, y + ay1)
    base, _, _ = GROUNDS[kind]
    _occluders(ImageDraw.Draw(scene), rng, box, recipe, base)
    scene = ImageEnhance.Brightness(scene).enhance(float(rng.uniform(0.85, 1.15)))  # overall exposure

    scene = _degrade(scene, rng, recipe)
    if recipe == "heldout":
        scene, (left, top) = _loose_crop(scene, box, rng)
        tight = (tight[0] - left, tight[1] - top, tight[2] - left, tight[3] - top)
    return Scene(scene, tight)


# (probability, low, high) of blur radius, noise sigma and JPEG quality: mild for the reference
# set, harsher and different for the held-out set.
_DEGRADATION = {
    "reference": {"blur": (0.3, 0.3, 0.9), "noise": (0.3, 1.0, 4.0), "jpeg": (0.5, 60, 95)},
    "heldout": {"blur": (0.6, 0.3, 1.6), "noise": (0.6, 2.0, 9.0), "jpeg": (1.0, 30, 85)},
}


def _degrade(scene: Image.Image, rng: np.random.Generator, recipe: Recipe) -> Image.Image:
    """Camera faults: blur, sensor noise, JPEG compression."""
    plan = _DEGRADATION[recipe]
    p, low, high = plan["blur"]
    if rng.random() < p:
        scene = scene.filter(ImageFilter.GaussianBlur(float(rng.uniform(low, high))))
    p, low, high = plan["noise"]
    if rng.random() < p:
        noisy = np.asarray(scene, np.float32) + rng.normal(0, rng.uniform(low, high), (*scene.size[::-1], 3))
        scene = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    p, low, high = plan["jpeg"]
    if rng.random() < p:
        buffer = io.BytesIO()
        scene.save(buffer, "JPEG", quality=int(rng.integers(low, high)))
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            scene = decoded.convert("RGB")
    return scene


def _loose_crop(
    scene: Image.Image, box: tuple[int, int, int, int], rng: np.random.Generator
) -> tuple[Image.Image, tuple[int, int]]:
    """Crop the photo (never the object) as a person framing it differently would; return the shift."""
    x0, y0, x1, y1 = box
    margin = 12
    left = int(rng.integers(0, max(1, x0 - margin + 1))) if x0 > margin else 0
    top = int(rng.integers(0, max(1, y0 - margin + 1))) if y0 > margin else 0
    right = scene.width - (
        int(rng.integers(0, max(1, scene.width - x1 - margin + 1))) if scene.width - x1 > margin else 0
    )
    bottom = scene.height - (
        int(rng.integers(0, max(1, scene.height - y1 - margin + 1))) if scene.height - y1 > margin else 0
    )
    if right - left < 64 or bottom - top < 64:
        return scene, (0, 0)
    return scene.crop((left, top, right, bottom)), (left, top)


def scenes(entry: Entry, colours: dict[str, str], count: int, seed: int, recipe: Recipe) -> Iterator[Scene]:
    """`count` synthetic photos of one entry, cycling through its colour schemes and views."""
    pictures = item_pictures(entry, colours)
    if not pictures:
        return
    rng = np.random.default_rng([seed, *entry.id.encode()])
    for i in range(count):
        yield compose(pictures[i % len(pictures)], rng, recipe)
