"""Photo-to-photo matching: a query photo against the entries' own reference photos.

Every reference photo listed in `images/<id>/photos.yaml` (any licence, `internal` included: an
organisation's own library is matched against, only never exported) is described once by the image
embedding (`ordnance_db.embedding`). A query photo is described the same way and every entry is scored
by its nearest reference photo (cosine similarity of unit vectors), so a suggestion can show the
reference photo that matched best and say how many photos the entry has.

Why the nearest photo rather than an average of the entry's photos: the photos of one entry show it
from different sides and in different states (intact, remnant, a marking); the query resembles one of
them, not their mean. Measured on real photos (leave-one-out, `benchmarks/bench_real_photos.py`).

The index is plain arrays and JSON in one .npz file read with `allow_pickle=False`, as the match
index: a file in var/ is data, never code. It records a digest of the photos, the model and this
code, and is rebuilt when any of them changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ordnance_db import embedding, index_file
from ordnance_db.catalog import Catalog
from ordnance_db.imaging import ImageRefused, load_image
from ordnance_db.index_file import IndexMismatch
from ordnance_db.settings import VAR_DIR

INDEX_FORMAT = 1
REFERENCE_SIDE = 512
"""Long side a reference photo is decoded at: the network sees 224 px, so more is wasted time."""


@dataclass(frozen=True)
class PhotoHit:
    """One entry's score for a query photo."""

    entry_id: str
    photo_file: str
    """The entry's reference photo that matched best: a file name in images/<entry_id>/."""
    similarity: float
    """Cosine similarity of the query and that photo, -1..1 (1: the same picture)."""
    photos: int
    """How many reference photos the entry has (what the suggestion was compared with)."""


class PhotoIndex:
    """Embedded reference photos of catalog entries; `query` ranks the entries for a photo."""

    def __init__(self, vectors: np.ndarray, entry_ids: Sequence[str], files: Sequence[str]) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or not len(vectors) == len(entry_ids) == len(files):
            raise ValueError("one vector, entry id and file per reference photo")
        self.vectors = vectors
        self.entry_ids = np.asarray(entry_ids, dtype=str)
        self.files = np.asarray(files, dtype=str)
        self.entries, self._column = np.unique(self.entry_ids, return_inverse=True)
        self.counts = np.bincount(self._column, minlength=len(self.entries))

    def __len__(self) -> int:
        return len(self.vectors)

    # -- building --------------------------------------------------------------------------

    @classmethod
    def from_files(
        cls,
        photos: Mapping[str, Sequence[Path]],
        *,
        progress: Callable[[Iterable[Any], str], Iterable[Any]] | None = None,
    ) -> PhotoIndex:
        """Embed `photos` (entry id -> its photo files). A file that cannot be read is skipped,
        as the catalog check reports it; the index holds only photos it could describe."""
        listed = [(entry_id, Path(path)) for entry_id, paths in photos.items() for path in paths]
        if progress is not None:
            listed = list(progress(listed, "describing reference photos"))
        kept: list[tuple[str, Path]] = []

        def images() -> Iterator[Image.Image]:
            for entry_id, path in listed:
                try:
                    image = load_image(path, max_side=REFERENCE_SIDE)
                except ImageRefused:
                    continue
                kept.append((entry_id, path))
                yield image

        vectors = embedding.embed(images())
        return cls(vectors, [e for e, _ in kept], [p.name for _, p in kept])

    @classmethod
    def build(
        cls,
        catalog: Catalog,
        *,
        progress: Callable[[Iterable[Any], str], Iterable[Any]] | None = None,
    ) -> PhotoIndex:
        """Embed every reference photo of the catalog's entries (any licence, internal included)."""
        photos = {
            entry_id: [catalog.photo_path(entry_id, p) for p in rows]
            for entry_id, rows in sorted(catalog.photos.items())
        }
        return cls.from_files(photos, progress=progress)

    # -- querying --------------------------------------------------------------------------

    def query(self, image: Image.Image, top: int | None = None) -> list[PhotoHit]:
        """Every entry with photos, best first (or the best `top`), each with its best photo."""
        if not len(self):
            return []
        return self.rank(embedding.embed([image])[0], top)

    def rank(self, vector: np.ndarray, top: int | None = None, exclude: int | None = None) -> list[PhotoHit]:
        """Entries ranked for an embedded query; `exclude` leaves one reference photo out (a
        leave-one-out benchmark asks with a photo that is itself a reference)."""
        similarity = self.vectors @ np.asarray(vector, dtype=np.float32)
        if exclude is not None:
            similarity[exclude] = -np.inf
        best = np.full(len(self.entries), -1, dtype=np.intp)
        # Sorted ascending, so the last write per entry is its most similar photo.
        order = np.argsort(similarity, kind="stable")
        best[self._column[order]] = order
        scores = np.where(best >= 0, similarity[best], -np.inf)
        ranked = [j for j in np.argsort(-scores, kind="stable") if np.isfinite(scores[j])]
        return [
            PhotoHit(
                entry_id=str(self.entries[j]),
                photo_file=str(self.files[best[j]]),
                similarity=float(scores[j]),
                photos=int(self.counts[j]),
            )
            for j in ranked[:top]
        ]

    # -- persistence -----------------------------------------------------------------------

    def save(self, path: Path, digest: str) -> None:
        """Write the index to `path` atomically: arrays plus a JSON header, no pickles."""
        header = {"format": INDEX_FORMAT, "digest": digest, "model": embedding.MODEL_SHA256}
        arrays = {"vectors": self.vectors, "entry_ids": self.entry_ids, "files": self.files}
        index_file.write(path, arrays, header)

    @classmethod
    def load(cls, path: Path, digest: str) -> PhotoIndex:
        """Read an index written by `save`; IndexMismatch if it is foreign, damaged or out of date."""
        arrays, header = index_file.read(path, INDEX_FORMAT)
        try:
            vectors, entry_ids, files = arrays["vectors"], arrays["entry_ids"], arrays["files"]
        except KeyError as exc:
            raise IndexMismatch(f"unreadable: {exc}") from exc
        if header.get("digest") != digest or header.get("model") != embedding.MODEL_SHA256:
            raise IndexMismatch("built from other photos, model or code")
        if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[1] != embedding.DIMENSIONS:
            raise IndexMismatch("vectors of another shape")
        try:
            return cls(vectors, entry_ids.tolist(), files.tolist())
        except ValueError as exc:
            raise IndexMismatch(f"inconsistent: {exc}") from exc


def index_digest(catalog: Catalog) -> str:
    """What the index depends on: every reference photo's bytes, the model and the code."""
    h = hashlib.sha256(f"{INDEX_FORMAT}:{REFERENCE_SIDE}:{embedding.MODEL_SHA256}".encode())
    h.update(Path(embedding.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    for entry_id, rows in sorted(catalog.photos.items()):
        for photo in rows:
            path = catalog.photo_path(entry_id, photo)
            h.update(f"{entry_id}/{photo.file}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"missing")
    return h.hexdigest()


def index_path(var_dir: Path = VAR_DIR) -> Path:
    return Path(var_dir) / "photo-index.npz"


def load_index(catalog: Catalog, var_dir: Path = VAR_DIR, **build_options: Any) -> tuple[PhotoIndex, bool]:
    """The stored index if it was built from exactly these photos, model and code; else build and
    save it. Returns (index, built)."""
    digest = index_digest(catalog)
    path = index_path(var_dir)
    if path.exists():
        try:
            return PhotoIndex.load(path, digest), False
        except IndexMismatch:
            pass
    index = PhotoIndex.build(catalog, **build_options)
    index.save(path, digest)
    return index, True


__all__ = ["IndexMismatch", "PhotoHit", "PhotoIndex", "index_digest", "index_path", "load_index"]
