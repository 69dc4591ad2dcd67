"""Finding the object in a photo and describing it with simple, explainable features.

Three feature groups, each meaningful on its own so a suggestion can say why it was made:
- shape: the silhouette in a canonical pose (principal axis horizontal): aspect ratio, width
  profile along the axis, solidity, extent, Hu moments;
- colour: the share of the object's pixels nearest each vocabulary colour, and a coarse chroma
  histogram in CIELAB (a perceptual colour space);
- texture: a histogram of oriented gradients (HOG) of the canonical grey-level crop.

`ImageFeatures` follows scikit-learn's transformer API, so it composes in a Pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color, measure, morphology
from skimage.feature import hog
from skimage.filters import apply_hysteresis_threshold, threshold_otsu
from sklearn.base import BaseEstimator, TransformerMixin

SEGMENT_SIDE = 320
"""Segmentation runs at this size: plenty for a silhouette, and fast."""
CANON_SIZE = (96, 40)
"""Canonical crop (width, height) for HOG: long axis horizontal."""
PROFILE_BINS = 40
COLOUR_BINS = 10
"""Axial bins of the colour profile: painted bands and two-tone bodies sit at fixed places."""
HYSTERESIS_LOW = 0.6
"""Share of the Otsu threshold down to which the object may grow from its distinct core."""
MIN_OBJECT_FRACTION = 0.004
"""Below this share of the photo, nothing distinct was found."""


_DISK1 = morphology.disk(1).astype(bool)
_DISK3 = morphology.disk(3).astype(bool)


class NoObjectFound(ValueError):
    """The photo shows nothing that stands out from its surroundings."""


@dataclass(frozen=True)
class FoundObject:
    """The object cut out of a photo and turned so its long axis is horizontal."""

    rgb: np.ndarray
    """float32 RGB in 0..1, (h, w, 3), background pixels set to the object's mean colour."""
    mask: np.ndarray
    """bool (h, w): the object's pixels."""
    box: tuple[int, int, int, int]
    """Where the object was found, in the input image's pixels (x0, y0, x1, y1)."""

    def flipped(self) -> FoundObject:
        """The same object with its ends swapped: the nose may point either way."""
        return FoundObject(self.rgb[:, ::-1], self.mask[:, ::-1], self.box)


def find_object(image: Image.Image, crop: tuple[int, int, int, int] | None = None) -> FoundObject:
    """Segment the most distinct object and bring it to a canonical pose.

    The object differs from the ground around it: pixels far (in colour and local texture) from
    what lines the photo's border are foreground; morphology cleans the mask and the largest
    component wins. A user's crop box overrides the search area; if nothing stands out inside
    it, the whole box is taken as the object.
    """
    offset = (0, 0)
    if crop is not None:
        x0, y0, x1, y1 = _clip_box(crop, image.size)
        image = image.crop((x0, y0, x1, y1))
        offset = (x0, y0)
    rgb_image = image.convert("RGB")
    scale = SEGMENT_SIDE / max(rgb_image.size)
    small = rgb_image.resize(
        (max(8, round(rgb_image.width * scale)), max(8, round(rgb_image.height * scale))),
        Image.Resampling.BILINEAR,
    )
    rgb = np.asarray(small, dtype=np.float32) / 255.0
    try:
        mask = _segment(rgb)
    except NoObjectFound:
        if crop is None:
            raise
        mask = np.ones(rgb.shape[:2], dtype=bool)
    ys, xs = np.nonzero(mask)
    box = (
        offset[0] + int(xs.min() / scale),
        offset[1] + int(ys.min() / scale),
        offset[0] + int(np.ceil((xs.max() + 1) / scale)),
        offset[1] + int(np.ceil((ys.max() + 1) / scale)),
    )
    rgb_canon, mask_canon = _canonical(rgb, mask)
    return FoundObject(rgb_canon, mask_canon, box)


def _clip_box(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    x0, x1 = sorted((max(0, min(size[0], x0)), max(0, min(size[0], x1))))
    y0, y1 = sorted((max(0, min(size[1], y0)), max(0, min(size[1], y1))))
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise NoObjectFound("The crop box is too small or outside the photo.")
    return x0, y0, x1, y1


def _segment(rgb: np.ndarray) -> np.ndarray:
    """Foreground mask: colour and texture contrast to the border, Otsu, morphology, largest part."""
    lab = color.rgb2lab(rgb)
    h, w = lab.shape[:2]
    band = max(2, round(0.06 * min(h, w)))
    border = np.zeros((h, w), dtype=bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True

    # Colour: distance to the nearest of a few typical border colours, in units of their spread.
    samples = lab[border][:: max(1, border.sum() // 600)]
    centres = _border_centres(samples)
    distance = np.min(np.linalg.norm(lab[:, :, None, :] - centres[None, None], axis=-1), axis=-1)
    spread = np.median(distance[border]) + 1.0

    # Texture: local standard deviation of lightness compared with the border's.
    light = lab[..., 0]
    mean = ndimage.uniform_filter(light, 5)
    local_std = np.sqrt(np.maximum(ndimage.uniform_filter(light * light, 5) - mean * mean, 0))
    texture = np.abs(local_std - np.median(local_std[border])) / (np.median(local_std[border]) + 1.0)

    score = distance / spread + 0.35 * texture
    score = ndimage.gaussian_filter(score, 1.0)
    if np.mean(score > 4.0) < MIN_OBJECT_FRACTION:
        raise NoObjectFound("Nothing in the photo stands out from its surroundings.")
    threshold = max(threshold_otsu(score), 2.5)
    # Hysteresis: clearly distinct pixels seed the object; it grows into connected, less distinct
    # ones (the shaded underside of a dark object on dark ground).
    mask = apply_hysteresis_threshold(score, HYSTERESIS_LOW * threshold, threshold)
    mask = ndimage.binary_opening(mask, _DISK1)
    mask = ndimage.binary_closing(mask, _DISK3, border_value=0)
    mask = ndimage.binary_fill_holes(mask)
    labels = measure.label(mask)
    if labels.max() == 0:
        raise NoObjectFound("Nothing in the photo stands out from its surroundings.")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    mask = labels == int(np.argmax(sizes))
    mask = _trim_thin_attachments(mask)
    if mask.mean() < MIN_OBJECT_FRACTION:
        raise NoObjectFound("Nothing in the photo stands out from its surroundings.")
    return mask


def _trim_thin_attachments(mask: np.ndarray) -> np.ndarray:
    """Cut off sticks, wires and grass lying across the object: anything much thinner than its body.

    An opening with a disk a fifth of the body's thickness removes them; the largest part is kept.
    The opening is done with two distance transforms, whose cost does not grow with the radius.
    """
    inside = ndimage.distance_transform_edt(mask)
    radius = 0.2 * float(inside.max())
    if radius < 2:
        return mask
    eroded = inside > radius
    opened = ndimage.distance_transform_edt(~eroded) <= radius
    labels = measure.label(opened)
    if labels.max() == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _border_centres(samples: np.ndarray, k: int = 4, rounds: int = 6) -> np.ndarray:
    """A tiny, deterministic k-means: the ground's few typical colours."""
    order = np.argsort(samples[:, 0])
    centres = samples[order[np.linspace(0, len(order) - 1, k).astype(int)]].copy()
    for _ in range(rounds):
        nearest = np.argmin(np.linalg.norm(samples[:, None] - centres[None], axis=-1), axis=1)
        for i in range(k):
            members = samples[nearest == i]
            if len(members):
                centres[i] = members.mean(axis=0)
    return centres


def _canonical(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate so the principal axis is horizontal, then crop to the object."""
    props = measure.regionprops(mask.astype(np.uint8))[0]
    angle = -np.degrees(props.orientation) + 90.0  # skimage: angle between row axis and major axis
    y0, x0, y1, x1 = props.bbox  # rotate only the object's neighbourhood: far less work
    mask, rgb = mask[y0:y1, x0:x1], rgb[y0:y1, x0:x1]
    # Pillow's rotate is C code on 8-bit data: several times faster than ndimage.rotate on floats.
    mask_r = (
        np.asarray(
            Image.fromarray(mask.astype(np.uint8) * 255).rotate(angle, Image.Resampling.BILINEAR, expand=True)
        )
        > 127
    )
    rgb_img = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    rgb_r = (
        np.asarray(rgb_img.rotate(angle, Image.Resampling.BILINEAR, expand=True), dtype=np.float32) / 255.0
    )
    ys, xs = np.nonzero(mask_r)
    if len(ys) == 0:
        return rgb, mask
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    mask_c = mask_r[y0:y1, x0:x1]
    rgb_c = np.clip(rgb_r[y0:y1, x0:x1], 0, 1).astype(np.float32)
    if mask_c.shape[0] > mask_c.shape[1]:  # keep the long axis horizontal
        mask_c, rgb_c = mask_c.T, rgb_c.transpose(1, 0, 2)
    fill = rgb_c[mask_c].mean(axis=0) if mask_c.any() else np.zeros(3, np.float32)
    rgb_c = np.where(mask_c[..., None], rgb_c, fill)
    return rgb_c.astype(np.float32), mask_c


# -- features -------------------------------------------------------------------------------------


def shape_features(obj: FoundObject) -> np.ndarray:
    mask = obj.mask
    h, w = mask.shape
    heights = mask.sum(axis=0).astype(np.float32)
    profile = _resample(heights / max(heights.max(), 1.0), PROFILE_BINS)
    rows = np.arange(h, dtype=np.float32)[:, None]
    filled = np.maximum(heights, 1)
    centre = (mask * rows).sum(axis=0) / filled
    offset = _resample(np.abs(centre - centre.mean()) / max(h, 1), PROFILE_BINS // 2)
    props = measure.regionprops(mask.astype(np.uint8))[0]
    hu = props.moments_hu
    hu_log = -np.sign(hu) * np.log10(np.abs(hu) + 1e-12)
    ends = np.array([profile[:4].mean(), profile[-4:].mean(), profile[8:16].mean()])
    flare = np.array([max(ends[0], ends[1]) / (ends[2] + 0.05), min(ends[0], ends[1]) / (ends[2] + 0.05)])
    scalars = np.array(
        [np.log(w / max(h, 1)), props.solidity, props.extent, props.eccentricity, *flare], dtype=np.float32
    )
    return np.concatenate([scalars, profile, offset, hu_log[:4]]).astype(np.float32)


def _resample(values: np.ndarray, bins: int) -> np.ndarray:
    x = np.linspace(0, len(values) - 1, bins)
    return np.interp(x, np.arange(len(values)), values).astype(np.float32)


class ColourPalette:
    """Maps pixels to the nearest vocabulary colour, in CIELAB."""

    def __init__(self, colours: dict[str, str]) -> None:
        self.names = sorted(colours)
        rgb = np.array([[int(colours[n][i : i + 2], 16) / 255 for i in (1, 3, 5)] for n in self.names])
        self.lab = color.rgb2lab(rgb[None].astype(np.float32))[0]

    def shares(self, obj: FoundObject) -> np.ndarray:
        pixels = color.rgb2lab(obj.rgb[obj.mask][None])[0]
        if len(pixels) == 0:
            return np.zeros(len(self.names), np.float32)
        if len(pixels) > 4000:
            pixels = pixels[:: len(pixels) // 4000]
        nearest = np.argmin(np.linalg.norm(pixels[:, None] - self.lab[None], axis=-1), axis=1)
        return (np.bincount(nearest, minlength=len(self.names)) / len(pixels)).astype(np.float32)


def colour_features(obj: FoundObject, palette: ColourPalette) -> np.ndarray:
    lab = color.rgb2lab(obj.rgb)
    pixels = lab[obj.mask] if obj.mask.any() else np.zeros((1, 3))
    hist, _, _ = np.histogram2d(pixels[:, 1], pixels[:, 2], bins=4, range=[[-40, 40], [-40, 60]])
    hist = hist.ravel() / max(len(pixels), 1)
    light = np.histogram(pixels[:, 0], bins=4, range=(0, 100))[0] / max(len(pixels), 1)
    # Colour along the axis: where bands and differently painted parts sit.
    columns = np.array_split(np.arange(obj.mask.shape[1]), COLOUR_BINS)
    profile = np.zeros((COLOUR_BINS, 3), np.float32)
    mean = pixels.mean(axis=0)
    for i, cols in enumerate(columns):
        part = lab[:, cols][obj.mask[:, cols]]
        profile[i] = (part.mean(axis=0) if len(part) else mean) - mean
    return np.concatenate([palette.shares(obj), hist, light, profile.ravel() / 20.0]).astype(np.float32)


def texture_features(obj: FoundObject) -> np.ndarray:
    grey = obj.rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    canon = Image.fromarray((grey * 255).astype(np.uint8)).resize(CANON_SIZE, Image.Resampling.BILINEAR)
    return hog(
        np.asarray(canon, dtype=np.float32) / 255.0,
        orientations=9,
        pixels_per_cell=(8, 8),
        cells_per_block=(1, 1),
        feature_vector=True,
    ).astype(np.float32)


GROUPS = ("shape", "colour", "texture")
SHAPE_DIMS = 6 + PROFILE_BINS + PROFILE_BINS // 2 + 4
TEXTURE_DIMS = (CANON_SIZE[0] // 8) * (CANON_SIZE[1] // 8) * 9


def feature_layout(n_colours: int) -> dict[str, slice]:
    """Which columns of the feature matrix belong to which group."""
    colour_dims = n_colours + 16 + 4 + 3 * COLOUR_BINS
    return {
        "shape": slice(0, SHAPE_DIMS),
        "colour": slice(SHAPE_DIMS, SHAPE_DIMS + colour_dims),
        "texture": slice(SHAPE_DIMS + colour_dims, SHAPE_DIMS + colour_dims + TEXTURE_DIMS),
    }


class ImageFeatures(BaseEstimator, TransformerMixin):
    """FoundObject list -> feature matrix; `group_slices_` says which columns belong to which group.

    Stateless apart from remembering the layout, but it follows the fit/transform contract so a
    Pipeline can hold it.
    """

    def __init__(self, colours: dict[str, str] | None = None) -> None:
        self.colours = colours

    def fit(self, X: list[FoundObject] | None = None, y: object = None) -> ImageFeatures:
        """Nothing to learn from the objects: the layout depends only on the colour vocabulary."""
        self.palette_ = ColourPalette(self.colours or {"grey": "#808080"})
        self.group_slices_ = feature_layout(len(self.palette_.names))
        self.n_features_out_ = self.group_slices_["texture"].stop
        return self

    def _one(self, obj: FoundObject) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return shape_features(obj), colour_features(obj, self.palette_), texture_features(obj)

    def transform(self, X: list[FoundObject]) -> np.ndarray:
        if not hasattr(self, "palette_"):
            raise RuntimeError("ImageFeatures is not fitted yet: call fit first")
        return np.stack([np.concatenate(self._one(obj)) for obj in X])
