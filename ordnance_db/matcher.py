"""Photo matching: ranked, explained, honestly-scored suggestions from a photo.

The matcher learns from synthetic photos of every entry's drawing (`scenes.py`), plus any licensed
photos in images/<id>/. A scikit-learn Pipeline scales the features, weights the three feature
groups, learns a metric with linear discriminant analysis and finds nearest neighbours. Scores are
calibrated on reference views held back during fitting, so "0.8" means about the same thing for
every photo. That calibration rests on renders of our own drawings, never on real photos, so a
suggestion from the drawings is always tentative (issue 15: 15 of 16 "confident" calls on real photos
were wrong). When the catalog in use has reference photos, `load_matcher` attaches the photo index and
entries with photos are ranked photo to photo (`PhotoMatcher.match` says how the two lists merge).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import joblib  # parallel feature extraction only: nothing is stored or loaded with it
import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController

from ordnance_db import drawing, features, imaging, index_file, photo_index, scenes
from ordnance_db.catalog import Catalog
from ordnance_db.features import (
    GROUPS,
    FoundObject,
    ImageFeatures,
    NoObjectFound,
    feature_layout,
    find_objects,
)
from ordnance_db.imaging import ANALYSIS_SIDE, ImageRefused, load_image, photo_size
from ordnance_db.index_file import IndexMismatch
from ordnance_db.photo_index import PhotoHit, PhotoIndex
from ordnance_db.settings import VAR_DIR

INDEX_FORMAT = "1"
VIEWS_PER_ENTRY = 36
"""Rendered views per entry. With the texture group's two HOGs a row has 1,216 columns (1,080 of
them texture); 24 views left the metric's within-class spread poorly estimated (README, Accuracy)."""
GROUP_WEIGHTS = {"shape": 1.0, "colour": 0.7, "texture": 1.0}
LDA_SHRINKAGE = 0.8
"""How far the learned metric's within-class covariance is pulled towards a multiple of the
identity (in the scaled, group-weighted space, where every group has its say). scikit-learn's
"auto" (Ledoit-Wolf towards each feature's own variance) fits the reference views' rendering
recipe, and photos scatter differently. Chosen on two held-out sets of other seeds (7 and 11), not
the reported one: top-1 0.719 -> 0.735 on them, top-5 0.937 -> 0.938 (README, Accuracy)."""
TOP_DEFAULT = 5
FILTER_MISMATCH_FACTOR = 0.5
"""A suggestion that contradicts the user's hints drops, but is not hidden: hints can be wrong."""
SIZE_TOLERANCE_LOG = 0.35
"""How far a stated length may be off (in natural-log units, about ±40 %) before it counts against."""
PHOTO_CONFIDENT_SIMILARITY: float | None = None
"""Photo-to-photo similarity at or above which a first suggestion compared with reference photos is
called confident ("Possible match found"). It may only be set from a measurement on real photos held
out from the references that gave at least 90 % precision (benchmarks/bench_real_photos.py); none
has been made on photos we may use, so it is None and every suggestion is tentative."""
CATEGORY_MAJORITY = 0.5
"""Share of the suggestions shown that must be of one category (strictly more) for the page to name it."""

Compared = Literal["photos", "drawing"]
"""What a suggestion was compared with: the entry's reference photos, or its drawing only."""
Tentative = Literal["drawings", "unmeasured", "below"]
"""Why a result is not confident: its first suggestion rests on drawings only; it rests on photos
but no threshold has been measured on real photos; or it is below the measured threshold."""


_THREADS = ThreadpoolController()
"""One photo's arithmetic is small: OpenMP's worker threads cost more to wake (up to 20 ms on two
busy cores) than they save, so matching runs them on one thread."""


class MatchRefused(ValueError):
    """The photo cannot be matched; the message is one sentence for a person."""


class GroupWeights(BaseEstimator, TransformerMixin):
    """Give each feature group the same total say, times its weight, whatever its number of columns."""

    def __init__(
        self, slices: dict[str, slice] | None = None, weights: dict[str, float] | None = None
    ) -> None:
        self.slices = slices
        self.weights = weights

    def fit(self, X: np.ndarray, y: object = None) -> GroupWeights:
        n = X.shape[1]
        self.factors_ = np.ones(n, dtype=np.float32)
        for group, part in (self.slices or {}).items():
            width = part.stop - part.start
            self.factors_[part] = (self.weights or {}).get(group, 1.0) / np.sqrt(max(width, 1))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "factors_"):
            raise RuntimeError("GroupWeights is not fitted yet")
        return (X * self.factors_).astype(np.float32)


def metric_pipeline(slices: dict[str, slice], n_classes: int) -> Pipeline:
    """Scaling, group weights, a learned metric (LDA), then nearest neighbours."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("weights", GroupWeights(slices, GROUP_WEIGHTS)),
            (
                "metric",
                LinearDiscriminantAnalysis(
                    solver="eigen", shrinkage=LDA_SHRINKAGE, n_components=min(64, max(1, n_classes - 1))
                ),
            ),
            ("neighbours", NearestNeighbors(algorithm="brute")),
        ]
    )


@dataclass(frozen=True)
class Suggestion:
    id: str
    name: str
    score: float
    """Photo-to-photo similarity (clipped to 0..1) when compared with photos, else the drawing
    matcher's calibrated probability; both times the hints' factor. The two are not one scale."""
    reasons: dict[str, float]
    tentative: bool
    compared_with: Compared = "drawing"
    photos: int = 0
    """How many reference photos of the entry it was compared with (0 for drawing only)."""
    best_photo: str | None = None
    """The entry's reference photo that matched best: a file name in images/<id>/."""

    @property
    def compared_text(self) -> str:
        """What it was compared with, in English for the command line ("3 photos", "drawing only");
        the page phrases it itself from `compared_with` and `photos`, through gettext."""
        if self.compared_with == "drawing":
            return "drawing only"
        return f"{self.photos} photo" + ("" if self.photos == 1 else "s")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "score": round(self.score, 3),
            "reasons": {k: round(v, 2) for k, v in self.reasons.items()},
            "tentative": self.tentative,
            "compared_with": {"kind": self.compared_with, "photos": self.photos, "text": self.compared_text},
            "best_photo": self.best_photo,
        }


MESSAGES: dict[Tentative | None, str] = {
    None: "Possible match found. This is a suggestion only: treat the item as dangerous.",
    "drawings": "No confident match: the suggestions rest on drawings only, never on photos of the "
    "item. They are tentative: treat the item as dangerous.",
    "unmeasured": "No confident match: no similarity threshold has been measured on real photos yet, "
    "so every suggestion is tentative. Treat the item as dangerous.",
    "below": "No confident match: the closest reference photo is below the threshold measured on "
    "real photos. The suggestions are tentative: treat the item as dangerous.",
}


@dataclass(frozen=True)
class MatchResult:
    confident: bool
    suggestions: list[Suggestion]
    box: tuple[int, int, int, int]
    """Where the object was found (or the crop box), in the loaded image's pixels."""
    size: tuple[int, int]
    """Size of the image that was analysed (box coordinates refer to it)."""
    tentative_because: Tentative | None = "drawings"
    """Why the result is not confident (None when it is)."""
    category: str | None = None
    """The category most suggestions share (a vocabulary term), when they do: the category can be
    more certain than the type."""

    @property
    def message(self) -> str:
        """The result in one English sentence (the page phrases the same through gettext)."""
        return MESSAGES[None if self.confident else self.tentative_because]


@dataclass(frozen=True)
class Measured:
    """What a photo's image work gave: per-entry distances and per-group similarities."""

    distances: np.ndarray
    per_group: dict[str, dict[str, float]]
    box: tuple[int, int, int, int]
    size: tuple[int, int]


@dataclass
class _Calibration:
    temperature: float = 1.0
    threshold: float = 0.5
    max_distance: float = np.inf
    group_sigma: dict[str, float] = field(default_factory=dict)
    precision: float = float("nan")
    coverage: float = float("nan")

    def __post_init__(self) -> None:  # read back from JSON, where infinity and NaN are None
        if self.max_distance is None:
            self.max_distance = np.inf
        self.precision = float("nan") if self.precision is None else self.precision
        self.coverage = float("nan") if self.coverage is None else self.coverage


@dataclass
class _References:
    raw: np.ndarray
    labels: np.ndarray
    hashes: np.ndarray


class PhotoMatcher:
    """Fitted on reference views; `match` ranks catalog entries for a photo."""

    def __init__(
        self, colours: dict[str, str], names: dict[str, str], lengths: dict[str, float | None]
    ) -> None:
        self.colours = colours
        self.names = names
        self.lengths = lengths
        self.categories: dict[str, str] = {}
        """Entry id -> category term: to say the category when the suggestions share one."""
        self.photo_index: PhotoIndex | None = None

    # -- fitting ---------------------------------------------------------------------------

    def fit(
        self,
        raw: np.ndarray,
        labels: Sequence[str],
        hashes: np.ndarray | None = None,
        alternates: Sequence[np.ndarray] | None = None,
        held: np.ndarray | None = None,
    ) -> PhotoMatcher:
        """Learn the metric on reference feature rows; calibrate on views held back for the purpose.

        `held` marks the rows held back (default: every fifth row of each entry). `alternates[i]`
        are the other rows a photo of view i would be matched with (its other nose direction and
        other outlines); held-back views are scored with them, as a photo is.
        """
        labels_arr = np.asarray(labels)
        self.features_ = ImageFeatures(self.colours).fit()
        self.slices_ = feature_layout(len(self.features_.palette_.names))
        self.entries_ = np.array(sorted(set(labels_arr)))
        held = _holdout_mask(labels_arr) if held is None else np.asarray(held, dtype=bool)
        trial = metric_pipeline(self.slices_, len(self.entries_)).fit(raw[~held], labels_arr[~held])
        extra = [alternates[i] for i in np.flatnonzero(held)] if alternates is not None else None
        self.calibration_ = _calibrate(
            trial, raw[~held], labels_arr[~held], raw[held], labels_arr[held], self, extra
        )
        self.pipeline_ = metric_pipeline(self.slices_, len(self.entries_)).fit(raw, labels_arr)
        self.references_ = _References(
            raw.astype(np.float32),
            labels_arr,
            hashes if hashes is not None else np.zeros(len(raw), np.uint64),
        )
        self._prepare()
        return self

    def _prepare(self) -> None:
        """Derived arrays kept in memory for fast matching (not stored in the index file)."""
        self._ref_weighted = self.pipeline_[:2].transform(self.references_.raw)
        members = [np.flatnonzero(self.references_.labels == e) for e in self.entries_]
        # entries x views table of reference rows (-1 pads): per-entry minima without a Python loop
        self._ref_table = np.full((len(members), max(len(m) for m in members)), -1)
        for k, rows in enumerate(members):
            self._ref_table[k, : len(rows)] = rows

    # -- matching --------------------------------------------------------------------------

    def match(
        self,
        image: Image.Image,
        *,
        top: int = TOP_DEFAULT,
        crop: tuple[int, int, int, int] | None = None,
        allowed: set[str] | None = None,
        length_mm: float | None = None,
        only_fitting: bool = False,
    ) -> MatchResult:
        """Rank entries for a photo (already loaded by `imaging.load_image`).

        With reference photos attached (`photo_index`), the entries that have photos are ranked by
        photo-to-photo similarity and the others by the drawing matcher (`rank` merges the two).
        The photo side sees the user's crop when there is one, else the whole photo: reference
        photos are whole pictures, and finding the object is what fails most on real photos, so
        when nothing stands out the photo side still answers, with the box on the whole picture.
        """
        hits: list[PhotoHit] = []
        whole = (0, 0, *image.size)
        try:
            region = whole if crop is None else features._clip_box(crop, image.size)
        except NoObjectFound as exc:
            raise MatchRefused(str(exc)) from exc
        index = getattr(self, "photo_index", None)
        if index is not None and len(index):
            hits = index.query(image.crop(region).convert("RGB"))
        try:
            measured: Measured | None = self.measure(image, crop)
        except MatchRefused:
            if not hits:
                raise
            measured = None
        return self.rank(
            measured,
            top=top,
            allowed=allowed,
            length_mm=length_mm,
            hits=hits,
            size=image.size,
            box=region,
            only_fitting=only_fitting,
        )

    def measure(self, image: Image.Image, crop: tuple[int, int, int, int] | None = None) -> Measured:
        """The image work of a match (find the object, features, distances), done once: `rank`
        can then apply different hints to it (evaluation ranks each photo with and without a
        length)."""
        try:
            outlines = find_objects(image, crop)
        except NoObjectFound as exc:
            raise MatchRefused(str(exc)) from exc
        rows = self.features_.transform_both_ways(outlines)
        with _THREADS.limit(limits=1, user_api="openmp"):
            distances, per_group = self._distances(rows)
        return Measured(distances, per_group, outlines[0].box, image.size)

    def rank(
        self,
        measured: Measured | None,
        *,
        top: int = TOP_DEFAULT,
        allowed: set[str] | None = None,
        length_mm: float | None = None,
        hits: Sequence[PhotoHit] = (),
        size: tuple[int, int] | None = None,
        box: tuple[int, int, int, int] | None = None,
        only_fitting: bool = False,
    ) -> MatchResult:
        """Scores, hints, the merge of photo and drawing suggestions, and the confident call.

        How the lists merge, and why: a photo-to-photo similarity and the drawing matcher's
        probability are not one scale, and no real-photo measurement puts them on one, so they are
        never sorted together. Each list is ranked on its own (entries with reference photos by
        their best photo's similarity, entries without by the drawings) and the two are interleaved,
        the photo list first: on real photos, photo-to-photo put the right type first about 7 times
        in 10 (leave-one-out, issue 15) where the drawings did 2 times in 43, and a photo of an entry
        the library has no photo of can only be found by the drawings, so neither list hides the other.

        Hints: an entry that contradicts them (`allowed`: category, colour...) is dropped with
        `only_fitting`, and otherwise is never first while one that fits is shown.
        Confident only when the first suggestion rests on photos and its similarity reaches
        PHOTO_CONFIDENT_SIMILARITY (None until measured on real photos): drawings alone never are.
        """
        photo_ids = {h.entry_id for h in hits}
        photo_side: list[tuple[float, str, dict[str, float], PhotoHit | None]] = []
        for hit in hits:
            factor, hint_reasons = self._hint_factor(hit.entry_id, allowed, length_mm)
            similarity = max(0.0, hit.similarity)
            photo_side.append((similarity * factor, hit.entry_id, {"photo": similarity} | hint_reasons, hit))
        drawing_side: list[tuple[float, str, dict[str, float], PhotoHit | None]] = []
        if measured is not None:
            distances, per_group = measured.distances, measured.per_group
            probabilities = _softmax(-0.5 * (distances / self.calibration_.temperature) ** 2)
            for entry, p in zip(self.entries_, probabilities, strict=True):
                if str(entry) in photo_ids:
                    continue
                factor, hint_reasons = self._hint_factor(str(entry), allowed, length_mm)
                reasons = {g: float(v) for g, v in per_group[str(entry)].items()} | hint_reasons
                drawing_side.append((float(p) * factor, str(entry), reasons, None))
        for side in (photo_side, drawing_side):
            side.sort(key=lambda s: (-s[0], s[1]))
            if allowed is not None and only_fitting:
                side[:] = [s for s in side if s[1] in allowed]
        pairs = itertools.zip_longest(photo_side, drawing_side)
        merged = [s for pair in pairs for s in pair if s is not None]
        if allowed is not None:  # a contradicting entry is never first while one that fits is shown
            fitting = next((i for i, s in enumerate(merged) if s[1] in allowed), None)
            if fitting:
                merged.insert(0, merged.pop(fitting))
        if not merged:
            raise MatchRefused("No catalog entry fits your hints: show all entries, or change the hints.")
        first_hit = merged[0][3]
        because: Tentative | None
        if first_hit is None:
            because = "drawings"
        elif PHOTO_CONFIDENT_SIMILARITY is None:
            because = "unmeasured"
        elif first_hit.similarity < PHOTO_CONFIDENT_SIMILARITY:
            because = "below"
        else:
            because = None
        confident = because is None
        ranked = [
            Suggestion(
                entry,
                self.names.get(entry, entry),
                score,
                reasons,
                tentative=not (confident and i == 0),
                compared_with="photos" if hit is not None else "drawing",
                photos=hit.photos if hit is not None else 0,
                best_photo=hit.photo_file if hit is not None else None,
            )
            for i, (score, entry, reasons, hit) in enumerate(merged[: max(1, top)])
        ]
        if measured is not None:
            box, analysed = measured.box, measured.size
        else:  # nothing stood out: the photo side saw the user's box, or the whole picture
            analysed = size or (0, 0)
            box = box or (0, 0, *analysed)
        category = None if confident else shared_category(ranked, getattr(self, "categories", {}))
        return MatchResult(confident, ranked, box, analysed, because, category)

    def _distances(self, rows: np.ndarray) -> tuple[np.ndarray, dict[str, dict[str, float]]]:
        """Per entry: the mean distance of its two nearest reference rows (a rendered view, or a
        view's better-fitting second outline), each over the query's rows (both nose directions of
        each outline), and per-group similarities to the nearest one, for the explanation."""
        z = self.pipeline_[:-1].transform(rows)
        knn: NearestNeighbors = self.pipeline_[-1]
        # every reference view's distance (unsorted: sorting 1,600 neighbours costs more than it tells)
        dist, idx = knn.radius_neighbors(z, radius=np.inf)
        nearest = np.full(len(self.references_.labels), np.inf)
        source_row = np.zeros(len(nearest), dtype=int)
        for r in range(len(rows)):  # best over the two nose directions, per reference view
            better = dist[r] < nearest[idx[r]]
            nearest[idx[r][better]] = dist[r][better]
            source_row[idx[r][better]] = r
        weighted = self.pipeline_[:2].transform(rows)
        table = self._ref_table
        d = np.where(table >= 0, nearest[table], np.inf)
        two = np.argpartition(d, 1, axis=1)[:, :2] if d.shape[1] > 2 else np.argsort(d, axis=1)[:, :2]
        two_d = np.take_along_axis(d, two, axis=1)
        finite = np.where(np.isfinite(two_d), two_d, two_d[:, :1])  # an entry with a single view
        best = finite.mean(axis=1)
        closest = table[np.arange(len(table)), two[np.arange(len(table)), two_d.argmin(axis=1)]]
        gap = weighted[source_row[closest]] - self._ref_weighted[closest]
        similarity = {
            g: np.exp(-0.5 * (np.linalg.norm(gap[:, s], axis=1) / self.calibration_.group_sigma[g]) ** 2)
            for g, s in self.slices_.items()
        }
        groups = {
            str(entry): {g: float(similarity[g][k]) for g in self.slices_}
            for k, entry in enumerate(self.entries_)
        }
        return best, groups

    def _hint_factor(
        self, entry: str, allowed: set[str] | None, length_mm: float | None
    ) -> tuple[float, dict[str, float]]:
        factor, reasons = 1.0, {}
        if allowed is not None:
            fits = entry in allowed
            factor *= 1.0 if fits else FILTER_MISMATCH_FACTOR
            reasons["hints"] = 1.0 if fits else 0.0
        if length_mm is not None and length_mm > 0:
            known = self.lengths.get(entry)
            if known:
                size = float(np.exp(-0.5 * (np.log(length_mm / known) / SIZE_TOLERANCE_LOG) ** 2))
                factor *= max(size, 0.2)
                reasons["size"] = size
            else:
                factor *= 0.7
        return factor, reasons

    def attach_photos(self, index: PhotoIndex | None) -> PhotoMatcher:
        """Match entries that have reference photos photo to photo (None: drawings only)."""
        self.photo_index = index
        return self

    def hash_baseline(self, image: Image.Image, top: int = TOP_DEFAULT) -> list[str]:
        """Entries ranked by the nearest perceptual hash of a reference view: the baseline to beat."""
        query = np.uint64(_phash(image))
        xor = np.bitwise_xor(self.references_.hashes, query)
        distance = np.array([bin(int(v)).count("1") for v in xor])
        order: list[str] = []
        for i in np.argsort(distance, kind="stable"):
            label = str(self.references_.labels[i])
            if label not in order:
                order.append(label)
            if len(order) == top:
                break
        return order

    # -- persistence -----------------------------------------------------------------------
    # The index is plain arrays and JSON in one .npz file, read with allow_pickle=False: a file
    # in var/ is data, never code. Constructor parameters are rebuilt from the JSON; only the
    # fitted attributes of the scaler, the group weights and the metric are stored, and the
    # nearest-neighbour step (brute force: it keeps the transformed references) is refitted.

    def save(self, path: Path, digest: str) -> None:
        """Write the fitted matcher to `path` (atomically) as arrays plus a JSON header."""
        arrays: dict[str, np.ndarray] = {
            "references.raw": self.references_.raw,
            "references.labels": self.references_.labels.astype(str),
            "references.hashes": self.references_.hashes.astype(np.uint64),
            "entries": self.entries_.astype(str),
        }
        fitted: dict[str, dict[str, Any]] = {}
        for name, step in self.pipeline_.steps[:-1]:
            fitted[name] = {}
            for key, value in _fitted_attributes(step).items():
                if isinstance(value, np.ndarray):
                    arrays[f"{name}.{key}"] = value
                else:
                    fitted[name][key] = value
        header = {
            "format": INDEX_FORMAT,
            "digest": digest,
            "colours": self.colours,
            "names": self.names,
            "lengths": self.lengths,
            "lookalikes": getattr(self, "lookalikes", {}),
            "categories": self.categories,
            "calibration": _calibration_json(self.calibration_),
            "fitted": fitted,
        }
        index_file.write(path, arrays, header)

    @classmethod
    def load(cls, path: Path, digest: str) -> PhotoMatcher:
        """Read a matcher saved by `save`; IndexMismatch if it is foreign, damaged or out of date."""
        arrays, header = index_file.read(path, INDEX_FORMAT)
        if header.get("digest") != digest:
            raise IndexMismatch("built from another catalog or code")
        try:
            matcher = cls(header["colours"], header["names"], header["lengths"])
            matcher.lookalikes = header["lookalikes"]
            matcher.categories = header["categories"]
            matcher.features_ = ImageFeatures(matcher.colours).fit()
            matcher.slices_ = feature_layout(len(matcher.features_.palette_.names))
            matcher.entries_ = arrays.pop("entries")
            matcher.calibration_ = _Calibration(**header["calibration"])
            matcher.references_ = _References(
                arrays.pop("references.raw"), arrays.pop("references.labels"), arrays.pop("references.hashes")
            )
            matcher.pipeline_ = metric_pipeline(matcher.slices_, len(matcher.entries_))
            for name, step in matcher.pipeline_.steps[:-1]:
                for key, value in header["fitted"][name].items():
                    setattr(step, key, value)
                for key in [k for k in arrays if k.startswith(f"{name}.")]:
                    setattr(step, key.removeprefix(f"{name}."), arrays.pop(key))
            refs = matcher.references_
            if refs.raw.ndim != 2 or not len(refs.raw) == len(refs.labels) == len(refs.hashes):
                raise IndexMismatch("reference arrays of different lengths")
            if not set(refs.labels.tolist()) == set(matcher.entries_.tolist()):
                raise IndexMismatch("reference labels do not match the entries")
            matcher.pipeline_.steps[-1][1].fit(matcher.pipeline_[:-1].transform(refs.raw))
            matcher._prepare()
        except IndexMismatch:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise IndexMismatch(f"inconsistent: {exc}") from exc
        return matcher


def _fitted_attributes(step: BaseEstimator) -> dict[str, Any]:
    """What `fit` set on a scikit-learn step: public names ending in "_" and private "_names"."""
    out: dict[str, Any] = {}
    for key, value in vars(step).items():
        if not (key.endswith("_") or key.startswith("_")) or key.startswith("__"):
            continue
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError(f"{type(step).__name__}.{key} holds Python objects: not storable safely")
            out[key] = value
        elif isinstance(value, np.generic):
            out[key] = value.item()
        elif value is None or isinstance(value, bool | int | float | str):
            out[key] = value
        else:
            raise TypeError(f"{type(step).__name__}.{key} is a {type(value).__name__}: not storable safely")
    return out


def _calibration_json(calibration: _Calibration) -> dict[str, Any]:
    """Calibration as JSON (JSON has no NaN or infinity: they travel as None and come back)."""
    out = dataclasses.asdict(calibration)
    for key in ("max_distance", "precision", "coverage"):
        value = float(out[key])
        out[key] = value if np.isfinite(value) else None
    return out


def shared_category(suggestions: Sequence[Suggestion], categories: dict[str, str]) -> str | None:
    """The category more than half of the suggestions are of (at least two of them), else None.

    Suggestions that disagree on the type can agree on the category ("most suggestions are
    anti-personnel mines"), which already tells a person which hazards and look-alikes to read.
    """
    counted = Counter(categories[s.id] for s in suggestions if s.id in categories)
    if not counted:
        return None
    category, count = counted.most_common(1)[0]
    return category if count >= 2 and count > CATEGORY_MAJORITY * len(suggestions) else None


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


HOLDOUT_EVERY = 5
BETTER_OUTLINE_OVERLAP = 0.1
"""A rendered view's alternative outline is learned too when its box fits the object's true box
this much better (intersection over union) than the usual outline's."""


def _holdout_mask(labels: np.ndarray, every: int = HOLDOUT_EVERY) -> np.ndarray:
    """Every fifth view of each entry is held back for calibration."""
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        mask[np.flatnonzero(labels == label)[::every]] = True
    return mask


def _calibrate(
    pipeline: Pipeline,
    raw_fit: np.ndarray,
    labels_fit: np.ndarray,
    raw_held: np.ndarray,
    labels_held: np.ndarray,
    matcher: PhotoMatcher,
    alternates_held: Sequence[np.ndarray] | None = None,
) -> _Calibration:
    """Temperature by log-loss, threshold for 90 % precision, per-group scales, from held-back views."""
    entries = np.array(sorted(set(labels_fit)))
    z_fit = pipeline[:-1].transform(raw_fit)
    z_held = pipeline[:-1].transform(raw_held)
    dist = pairwise_distances(z_held, z_fit)
    if alternates_held is not None:  # the nearest over all the rows the view would be matched with
        for i, rows in enumerate(alternates_held):
            if len(rows):
                dist[i] = np.minimum(
                    dist[i], pairwise_distances(pipeline[:-1].transform(rows), z_fit).min(axis=0)
                )
    per_entry = np.stack(
        [np.sort(dist[:, labels_fit == e], axis=1)[:, :2].mean(axis=1) for e in entries], axis=1
    )
    truth = np.searchsorted(entries, labels_held)
    correct_d = per_entry[np.arange(len(truth)), truth]

    best_t, best_loss = 1.0, np.inf
    for t in np.geomspace(0.05, 20, 60):
        logits = -0.5 * (per_entry / t) ** 2
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        loss = -logp[np.arange(len(truth)), truth].mean()
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    logits = -0.5 * (per_entry / best_t) ** 2
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    top = probs.argmax(axis=1)
    top_p = probs.max(axis=1)
    right = top == truth
    threshold, precision, coverage = 1.0, float("nan"), 0.0
    for candidate in np.linspace(0.05, 0.95, 91):
        accepted = top_p >= candidate
        if accepted.sum() >= max(5, 0.05 * len(truth)) and right[accepted].mean() >= 0.9:
            threshold, precision, coverage = (
                float(candidate),
                float(right[accepted].mean()),
                float(accepted.mean()),
            )
            break

    w_fit = pipeline[:2].transform(raw_fit)
    w_held = pipeline[:2].transform(raw_held)
    nearest_same = [
        np.flatnonzero(labels_fit == label)[dist[i, labels_fit == label].argmin()]
        for i, label in enumerate(labels_held)
    ]
    slices = feature_layout(len(ImageFeatures(matcher.colours).fit().palette_.names))
    sigma = {
        g: float(np.percentile(np.linalg.norm(w_held[:, s] - w_fit[nearest_same][:, s], axis=1), 90)) + 1e-6
        for g, s in slices.items()
    }
    return _Calibration(
        temperature=best_t,
        threshold=threshold,
        max_distance=float(np.percentile(correct_d, 99)) * 1.5,
        group_sigma=sigma,
        precision=precision,
        coverage=coverage,
    )


def _phash(image: Image.Image) -> int:
    import imagehash

    return int(str(imagehash.phash(image.convert("RGB"))), 16)


# -- reference set and index ---------------------------------------------------------------------


class _EntryReferences(NamedTuple):
    rows: np.ndarray
    hashes: list[int]
    alternates: list[np.ndarray]
    """Per row: the other rows a photo of that view would be matched with (held-back rows only)."""
    held: list[bool]
    """Per row: held back for calibration."""


def _entry_references(
    entry_json: str, colours: dict[str, str], photos: list[str], count: int
) -> _EntryReferences:
    """One entry's reference rows, rendered and described (runs in a worker).

    Every fifth view is held back for calibration and scored as a photo would be, with all its
    outlines. For a rendered view the object's true box is known, so when the usual outline's box
    is clearly off (a straw or a shadow joined it) and an alternative outline's box fits better,
    that outline is learned as well: a photo's alternative outlines then have a clean view to meet.
    """
    from ordnance_db.schema import Entry

    entry = Entry.model_validate_json(entry_json)
    extractor = ImageFeatures(colours).fit()
    objects: list[FoundObject] = []
    alternates: list[list[FoundObject]] = []  # for held-back views: every outline, learned one first
    hashes: list[int] = []
    held: list[bool] = []
    # (picture, where the object truly is): known for the rendered scenes, not for photos
    pictures: list[tuple[Image.Image, tuple[int, int, int, int] | None]] = [
        (scene.image, scene.box) for scene in scenes.scenes(entry, colours, count, seed=1, recipe="reference")
    ]
    for path in photos:
        try:
            photo = load_image(path, max_side=ANALYSIS_SIDE)
        except ImageRefused:
            continue
        pictures += [(photo, None), (photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), None)]
    views = 0
    for picture, truth in pictures:
        held_back = views % HOLDOUT_EVERY == 0
        try:
            outlines = find_objects(picture, alternatives=held_back or truth is not None)
        except NoObjectFound:
            continue
        views += 1
        objects.append(outlines[0])
        alternates.append(outlines if held_back else [])
        hashes.append(_phash(picture))
        held.append(held_back)
        if truth is not None and not held_back:
            overlaps = [_box_overlap(o.box, truth) for o in outlines]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= overlaps[0] + BETTER_OUTLINE_OVERLAP:
                objects.append(outlines[best])
                alternates.append([])
                hashes.append(hashes[-1])
                held.append(False)
    empty = np.zeros((0, extractor.n_features_out_), np.float32)
    if not objects:
        return _EntryReferences(empty, [], [], [])
    # all the rows a photo of the view would be matched with, but the one it is fitted with
    alternate_rows = [extractor.transform_both_ways(objs)[1:] if objs else empty for objs in alternates]
    return _EntryReferences(extractor.transform(objects), hashes, alternate_rows, held)


def _box_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def index_digest(catalog: Catalog) -> str:
    """What the index depends on: catalog, licensed photos, and the code that draws and describes."""
    h = hashlib.sha256(f"{INDEX_FORMAT}:{VIEWS_PER_ENTRY}:{catalog.digest}".encode())
    for module in (drawing, scenes, features, imaging):
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    for entry_id, photos in catalog.photos.items():
        for photo in photos:
            path = catalog.photo_path(entry_id, photo)
            h.update(f"{entry_id}/{photo.file}".encode())
            h.update(path.read_bytes() if path.exists() else b"")
    return h.hexdigest()


class _Counted:
    """An iterator that knows its length, so a progress display can show n/N."""

    def __init__(self, items: Iterable[Any], total: int) -> None:
        self.items, self.total = items, total

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)


def build_matcher(
    catalog: Catalog,
    *,
    views: int = VIEWS_PER_ENTRY,
    n_jobs: int = 2,
    progress: Callable[[Iterable[Any], str], Iterable[Any]] | None = None,
) -> PhotoMatcher:
    """Render the reference set, extract features (in parallel) and fit the matcher."""
    colours = catalog.colours()
    entries = [e for e in catalog.entries.values() if e.geometry is not None or e.id in catalog.photos]
    if len(entries) < 2:
        raise MatchRefused("Photo matching needs at least two entries with a drawing or a photo.")
    jobs = (
        joblib.delayed(_entry_references)(
            e.model_dump_json(),
            colours,
            [str(catalog.photo_path(e.id, p)) for p in catalog.photos.get(e.id, [])],
            views,
        )
        for e in entries
    )
    results = joblib.Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    if progress is not None:
        results = progress(_Counted(results, len(entries)), "building match index")
    rows, labels, hashes, alternates, held = [], [], [], [], []
    for entry, refs in zip(entries, results, strict=True):
        rows.append(refs.rows)
        labels += [entry.id] * len(refs.rows)
        hashes += refs.hashes
        alternates += refs.alternates
        held += refs.held
    names = {e.id: e.name for e in catalog.entries.values()}
    lengths = {
        e.id: (e.dimensions.length_mm.value if e.dimensions.length_mm else None)
        for e in catalog.entries.values()
    }
    matcher = PhotoMatcher(colours, names, lengths)
    matcher.lookalikes = {e.id: [a.id for a in e.lookalikes] for e in catalog.entries.values()}
    matcher.categories = {e.id: e.category for e in catalog.entries.values()}
    hash_array = np.array(hashes, dtype=np.uint64)
    return matcher.fit(np.concatenate(rows), labels, hash_array, alternates, np.array(held, dtype=bool))


def index_path(var_dir: Path = VAR_DIR) -> Path:
    return Path(var_dir) / "match-index.npz"


def load_matcher(
    catalog: Catalog, var_dir: Path = VAR_DIR, **build_options: Any
) -> tuple[PhotoMatcher, bool]:
    """The stored matcher if it was built from exactly this catalog and code; else build and save it.

    Returns (matcher, built); `built` is about the drawing index. The file is plain arrays, checked
    before use; anything foreign, damaged or out of date is rebuilt. Written atomically, so
    concurrent app processes never read half a file. When the catalog has reference photos (any
    licence, a deployment's `internal` ones included), the photo index (`photo_index.load_index`,
    var/photo-index.npz) is loaded or built the same way and attached.
    """
    digest = index_digest(catalog)
    path = index_path(var_dir)
    matcher: PhotoMatcher | None = None
    if path.exists():
        with contextlib.suppress(IndexMismatch):
            matcher = PhotoMatcher.load(path, digest)
    built = matcher is None
    if matcher is None:
        matcher = build_matcher(catalog, **build_options)
        matcher.save(path, digest)
    if catalog.photos:
        index, _ = photo_index.load_index(catalog, var_dir, progress=build_options.get("progress"))
        matcher.attach_photos(index)
    return matcher, built


def match_photo(
    matcher: PhotoMatcher,
    source: bytes | str | os.PathLike[str],
    **options: Any,
) -> MatchResult:
    """Load (safely, metadata dropped) and match one photo; every refusal is a MatchRefused sentence.

    A `crop` box is in the original photo's pixels; it is scaled onto the reduced analysis image.
    Other options go to `PhotoMatcher.match` (top, allowed, length_mm, only_fitting).
    """
    try:
        image = load_image(source, max_side=ANALYSIS_SIDE)
        crop = options.pop("crop", None)
        if crop is not None:
            width, _ = photo_size(source)
            factor = image.width / width
            crop = tuple(round(v * factor) for v in crop)
    except ImageRefused as exc:
        raise MatchRefused(str(exc)) from exc
    return matcher.match(image, crop=crop, **options)


__all__ = [
    "GROUPS",
    "MESSAGES",
    "PHOTO_CONFIDENT_SIMILARITY",
    "IndexMismatch",
    "MatchRefused",
    "MatchResult",
    "PhotoMatcher",
    "Suggestion",
    "build_matcher",
    "load_matcher",
    "match_photo",
    "shared_category",
]
