"""Measuring the matcher on a folder of labelled photos, against a perceptual-hash baseline.

DIR/<entry-id>/*.jpg|jpeg|png|webp: every photo is matched; a refused photo counts as a miss, so
the figures cannot look better by quietly skipping hard cases.

Every photo is ranked twice: as it is, and with the approximate length a person could give (the
catalog length times a factor between 0.7 and 1.3, fixed per photo); the image work is done once.
Several entries have drawings that differ only in size (Mk 82 and Mk 84, FAB-250 and FAB-500): the
second figure shows how much telling the matcher the size helps.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ordnance_db.imaging import ANALYSIS_SIDE, ImageRefused, load_image
from ordnance_db.matcher import MatchRefused, PhotoMatcher

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
SIZE_ERROR = 0.3
"""The stated length is off by up to this share, as a rough guess by eye would be."""


class EvaluationError(ValueError):
    """The folder is not laid out as DIR/<entry-id>/photos."""


@dataclass
class EvalReport:
    top: int
    photos: int = 0
    top1: int = 0
    topk: int = 0
    refused: int = 0
    baseline_top1: int = 0
    baseline_topk: int = 0
    sized_top1: int = 0
    sized_topk: int = 0
    """The same, with an approximate length given (see the module docstring)."""
    confident: int = 0
    confident_right: int = 0
    lookalike_errors: int = 0
    """Wrong first suggestions that the catalog itself lists as a look-alike of the true item."""
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)

    def rate(self, count: int) -> float:
        return count / self.photos if self.photos else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "photos": self.photos,
            "top": self.top,
            "top1_accuracy": round(self.rate(self.top1), 3),
            f"top{self.top}_accuracy": round(self.rate(self.topk), 3),
            "refused": self.refused,
            "baseline_top1_accuracy": round(self.rate(self.baseline_top1), 3),
            f"baseline_top{self.top}_accuracy": round(self.rate(self.baseline_topk), 3),
            "with_length_top1_accuracy": round(self.rate(self.sized_top1), 3),
            f"with_length_top{self.top}_accuracy": round(self.rate(self.sized_topk), 3),
            "top1_errors_that_are_declared_lookalikes": self.lookalike_errors,
            "confident_share": round(self.rate(self.confident), 3),
            "confident_precision": round(self.confident_right / self.confident, 3)
            if self.confident
            else None,
            "confusions": [
                {"true": a, "predicted": b, "count": n} for (a, b), n in self.confusions.most_common(15)
            ],
        }


def labelled_photos(directory: Path, known: set[str]) -> list[tuple[str, Path]]:
    """(entry id, photo) pairs; an unknown entry folder is an error, not a silent skip."""
    directory = Path(directory)
    if not directory.is_dir():
        raise EvaluationError(f"{directory} is not a folder")
    pairs = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        if folder.name not in known:
            raise EvaluationError(f"{folder.name!r} is not a catalog entry id (folder {folder})")
        pairs += [(folder.name, p) for p in sorted(folder.iterdir()) if p.suffix.lower() in PHOTO_SUFFIXES]
    if not pairs:
        raise EvaluationError(f"no photos found under {directory} (expected DIR/<entry-id>/*.jpg)")
    return pairs


def evaluate(matcher: PhotoMatcher, directory: Path, top: int = 5) -> EvalReport:
    report = EvalReport(top=top)
    for truth, path in labelled_photos(directory, set(matcher.names)):
        report.photos += 1
        try:
            image = load_image(path, max_side=ANALYSIS_SIDE)
            measured = matcher.measure(image)
        except (ImageRefused, MatchRefused):
            report.refused += 1
            continue
        result = matcher.rank(measured, top=top)
        ranked = [s.id for s in result.suggestions]
        report.top1 += ranked[0] == truth
        report.topk += truth in ranked[:top]
        if ranked[0] != truth:
            report.confusions[(truth, ranked[0])] += 1
            report.lookalike_errors += ranked[0] in matcher.lookalikes.get(truth, [])
        if result.confident:
            report.confident += 1
            report.confident_right += ranked[0] == truth
        length = matcher.lengths.get(truth)
        if length:
            sized = [
                s.id
                for s in matcher.rank(measured, top=top, length_mm=length * _guess_factor(path)).suggestions
            ]
        else:
            sized = ranked
        report.sized_top1 += sized[0] == truth
        report.sized_topk += truth in sized[:top]
        baseline = matcher.hash_baseline(image, top)
        report.baseline_top1 += baseline[0] == truth
        report.baseline_topk += truth in baseline
    return report


def _guess_factor(path: Path) -> float:
    """A fixed pseudo-random factor in [1 - SIZE_ERROR, 1 + SIZE_ERROR] for this photo."""
    unit = int.from_bytes(hashlib.sha256(path.name.encode() + path.parent.name.encode()).digest()[:8]) / 2**64
    return 1 - SIZE_ERROR + 2 * SIZE_ERROR * unit
