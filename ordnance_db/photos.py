"""Reference photos in the images folder in use: add, import from a folder, remove.

Every photo goes through `imaging.load_image`, the one door for images (bounded, refused with a
sentence, EXIF orientation applied, nothing of the file's metadata kept), and is stored as a fresh
JPEG with its long side at most `STORED_SIDE`: no EXIF, GPS, XMP, ICC profile or comment survives.
The user's own file is only read. A command writes everything it was asked to or nothing: each
problem is collected first, then files and photo lists are written under temporary names and renamed,
and if anything fails half-way what was already written is put back.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import ValidationError
from unidecode import unidecode

from ordnance_db.catalog import PHOTOS_FILE, internal_refusal, photo_lists, read_yaml
from ordnance_db.imaging import ImageRefused, encode_jpeg, load_image
from ordnance_db.safety import scan_data
from ordnance_db.schema import INTERNAL, Photo

STORED_SIDE = 1024
"""Long side of a stored photo: enough to recognise an item, small enough to keep in a repository."""
STORED_QUALITY = 85
CSV_FILE = "photos.csv"
CSV_REQUIRED = ("file", "licence", "author", "source")
CSV_COLUMNS = (*CSV_REQUIRED, "view", "condition", "shows")
PICTURE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif"})
_HEADER = "# Reference photos in this folder, one row each (written by python -m ordnance_db photos).\n"


class PhotoError(ValueError):
    """A photo command did not run: `problems` lists every reason, and nothing was changed."""

    def __init__(self, problems: list[str], summary: str) -> None:
        self.problems = problems
        super().__init__(summary)


class _Refused(ValueError):
    """One photo cannot be stored; the message is a sentence."""


@dataclass(frozen=True)
class Stored:
    """A photo as stored: the entry, its row, and the bytes written to images/<id>/<file>."""

    entry_id: str
    photo: Photo
    data: bytes


def unknown_entry(entry_id: str, entry_ids: Collection[str]) -> str:
    """A sentence for an id that is not in the catalog, naming the nearest ones."""
    near = difflib.get_close_matches(entry_id, sorted(entry_ids), n=3, cutoff=0.6)
    hint = f"nearest: {', '.join(near)}" if near else "see 'python -m ordnance_db search'"
    return f"{entry_id!r} is not a catalog entry ({hint})"


def add_photos(
    images_dir: Path,
    entry_ids: Collection[str],
    entry_id: str,
    files: Sequence[Path],
    meta: dict[str, str | None],
) -> list[Stored]:
    """Store `files` as photos of `entry_id`, each with the same licence, author, source, etc."""
    if entry_id not in entry_ids:
        raise PhotoError([unknown_entry(entry_id, entry_ids)], "nothing was added")
    plan = _Plan(Path(images_dir))
    problems = []
    for path in files:
        try:
            plan.add(entry_id, Path(path), meta)
        except _Refused as exc:
            problems.append(f"{path}: {exc}")
    if problems:
        raise PhotoError(problems, "nothing was added")
    return plan.commit()


def import_folder(directory: Path, images_dir: Path, entry_ids: Collection[str]) -> list[Stored]:
    """Import DIR/<entry-id>/* described by DIR/photos.csv; any bad row and nothing is imported.

    All or nothing, so that a corrected CSV can simply be imported again (no half-imported folder
    whose second run would find duplicates). Every problem names its CSV line.
    """
    directory = Path(directory)
    csv_path = directory / CSV_FILE
    summary = "nothing was imported; correct the problems and run the import again"
    rows, problems = _read_csv(csv_path)
    plan = _Plan(Path(images_dir))
    described: dict[str, int] = {}  # file as written in the CSV -> its line
    for line, row in rows:
        where = f"{CSV_FILE} line {line}"
        name = row.get("file") or ""
        if name in described:
            problems.append((line, f"{where}: {name} is already on line {described[name]}"))
            continue
        described[name] = line
        relative = PurePosixPath(name.replace("\\", "/"))
        if len(relative.parts) != 2 or ".." in relative.parts or relative.is_absolute():
            problems.append(
                (line, f"{where}: file must be <entry-id>/<photo> inside {directory}, not {name!r}")
            )
            continue
        entry_id = relative.parts[0]
        if entry_id not in entry_ids:
            problems.append((line, f"{where}: {unknown_entry(entry_id, entry_ids)}"))
            continue
        meta = {key: row.get(key) for key in CSV_COLUMNS if key != "file"}
        try:
            plan.add(entry_id, directory / relative, meta)
        except _Refused as exc:
            problems.append((line, f"{where}: {name}: {exc}"))
    for path in sorted(directory.glob("*/*")):
        relative_name = path.relative_to(directory).as_posix()
        if path.suffix.lower() in PICTURE_SUFFIXES and relative_name not in described:
            problems.append((0, f"{relative_name} has no row in {CSV_FILE} (every photo needs its licence)"))
    if problems:
        raise PhotoError([text for _line, text in sorted(problems)], summary)
    return plan.commit()


def remove_photo(images_dir: Path, entry_ids: Collection[str], entry_id: str, file: str) -> Path:
    """Delete a stored photo and its row; return the path it had."""
    if entry_id not in entry_ids:
        raise PhotoError([unknown_entry(entry_id, entry_ids)], "nothing was removed")
    list_path = Path(images_dir) / entry_id / PHOTOS_FILE
    rows = _read_rows(list_path)
    kept = [r for r in rows if r.get("file") != file]
    if len(kept) == len(rows):
        listed = ", ".join(str(r.get("file")) for r in rows) or "none"
        raise PhotoError([f"{entry_id} has no photo {file!r} (its photos: {listed})"], "nothing was removed")
    photo_path = list_path.parent / file
    with _all_or_nothing() as changes:
        if kept:
            changes.write(list_path, _dump_rows(kept))
        else:
            changes.delete(list_path)
        if photo_path.exists():
            changes.delete(photo_path)
    return photo_path


def _read_csv(path: Path) -> tuple[list[tuple[int, dict[str, str | None]]], list[tuple[int, str]]]:
    """(line, row) for every usable row of photos.csv, values stripped, blanks as None; and
    (line, problem) for the others."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return [], [(0, f"{path} does not exist: the folder needs a {CSV_FILE} ({', '.join(CSV_COLUMNS)})")]
    except UnicodeDecodeError:
        return [], [(0, f"{path} is not UTF-8 text (save it as CSV UTF-8)")]
    except OSError as exc:
        return [], [(0, f"{path} cannot be read: {exc.strerror or exc}")]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if not header:
        return [], [
            (1, f"{CSV_FILE} is empty: its first line must name the columns {', '.join(CSV_COLUMNS)}")
        ]
    missing = [c for c in CSV_REQUIRED if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    problems: list[tuple[int, str]] = []
    if missing:
        problems.append((1, f"{CSV_FILE} line 1: missing column(s) {', '.join(missing)}"))
    if unknown:
        known = ", ".join(CSV_COLUMNS)
        problems.append((1, f"{CSV_FILE} line 1: unknown column(s) {', '.join(unknown)} (columns: {known})"))
    if problems:
        return [], problems
    reader.fieldnames = header
    rows = []
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:
                problems.append((line, f"{CSV_FILE} line {line}: more values than columns"))
                continue
            row = {k: (v.strip() or None) if isinstance(v, str) else None for k, v in raw.items()}
            if not any(row.values()):
                continue  # a blank line
            empty = [c for c in CSV_REQUIRED if not row.get(c)]
            if empty:
                problems.append((line, f"{CSV_FILE} line {line}: {', '.join(empty)} is empty"))
                continue
            rows.append((line, row))
    except csv.Error as exc:
        problems.append((reader.line_num, f"{CSV_FILE} line {reader.line_num}: {exc}"))
    return rows, problems


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an existing photos.yaml as plain data (empty if there is none)."""
    if not path.exists():
        return []
    doc, problems = read_yaml(path)
    if doc is None or not isinstance(doc.data, list | None):
        reasons = [str(p) for p in problems] or [f"{path} is not a list of photos"]
        raise PhotoError(reasons, f"correct {path} first (python -m ordnance_db validate)")
    return [row for row in doc.data or [] if isinstance(row, dict)]


def _dump_rows(rows: list[dict[str, Any]]) -> bytes:
    body = yaml.safe_dump(rows, allow_unicode=True, sort_keys=False, width=100)
    return (_HEADER + body).encode("utf-8")


def _file_name(source: Path) -> str:
    """A plain ASCII file name from the user's file name: 'Міна PMN (1).HEIC' -> 'mina-pmn-1.jpg'."""
    stem = re.sub(r"[^a-z0-9]+", "-", unidecode(source.stem).lower()).strip("-")[:80].strip("-")
    return f"{stem or 'photo'}.jpg"


def _sentences(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        parts.append(message if not where or message.startswith(f"{where} ") else f"{where}: {message}")
    return "; ".join(parts)


@dataclass
class _Plan:
    """Photos prepared for one command: checked, encoded and named, not yet written."""

    images_dir: Path
    stored: list[Stored] = field(default_factory=list)
    _seen: dict[str, str] = field(default_factory=dict)  # sha-256 of stored bytes -> where
    _rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for list_path in photo_lists(self.images_dir):
            for row in _read_rows(list_path):
                path = list_path.parent / str(row.get("file"))
                if path.is_file():
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                    self._seen[digest] = f"{list_path.parent.name}/{path.name}"

    def add(self, entry_id: str, source: Path, meta: dict[str, str | None]) -> None:
        """Check, decode, strip and encode one photo; raise _Refused with a sentence."""
        rows = self._existing(entry_id)
        name = self._free_name(entry_id, _file_name(source), rows)
        try:
            photo = Photo.model_validate({"file": name, **{k: v for k, v in meta.items() if v is not None}})
        except ValidationError as exc:
            raise _Refused(_sentences(exc)) from None
        if photo.licence == INTERNAL and (refusal := internal_refusal(self.images_dir)):
            raise _Refused(refusal)
        crossing = [reason for _loc, reason in scan_data(photo.model_dump())]
        if crossing:
            raise _Refused(f"crosses the safety line ({crossing[0]}): say what the photo shows, nothing more")
        try:
            data = encode_jpeg(load_image(source, max_side=STORED_SIDE), quality=STORED_QUALITY)
        except ImageRefused as exc:
            raise _Refused(str(exc)) from None
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._seen:
            raise _Refused(f"the same picture is already stored as {self._seen[digest]}")
        self._seen[digest] = f"{entry_id}/{name}"
        self.stored.append(Stored(entry_id, photo, data))

    def commit(self) -> list[Stored]:
        """Write every photo, then every photo list; undo all of it if any write fails."""
        with _all_or_nothing() as changes:
            for item in self.stored:
                changes.write(self.images_dir / item.entry_id / item.photo.file, item.data)
            for entry_id in dict.fromkeys(item.entry_id for item in self.stored):
                added = [i.photo.model_dump(exclude_none=True) for i in self._of(entry_id)]
                rows = _dump_rows(self._rows[entry_id] + added)
                changes.write(self.images_dir / entry_id / PHOTOS_FILE, rows)
        return self.stored

    def _of(self, entry_id: str) -> list[Stored]:
        return [item for item in self.stored if item.entry_id == entry_id]

    def _existing(self, entry_id: str) -> list[dict[str, Any]]:
        if entry_id not in self._rows:
            self._rows[entry_id] = _read_rows(self.images_dir / entry_id / PHOTOS_FILE)
        return self._rows[entry_id]

    def _free_name(self, entry_id: str, name: str, rows: list[dict[str, Any]]) -> str:
        """`name`, or name-2, name-3... if the folder or this command already uses it."""
        folder = self.images_dir / entry_id
        taken = {str(r.get("file")) for r in rows} | {i.photo.file for i in self._of(entry_id)}
        stem, suffix = name.rsplit(".", 1)
        candidate, n = name, 1
        while candidate in taken or (folder / candidate).exists():
            n += 1
            candidate = f"{stem}-{n}.{suffix}"
        return candidate


class _Changes:
    """Files written or deleted so far, with what they held before, so all of it can be undone."""

    def __init__(self) -> None:
        self.done: list[tuple[Path, bytes | None]] = []

    def write(self, path: Path, data: bytes) -> None:
        old = path.read_bytes() if path.exists() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, data)
        self.done.append((path, old))

    def delete(self, path: Path) -> None:
        old = path.read_bytes()
        path.unlink()
        self.done.append((path, old))

    def undo(self) -> None:
        for path, old in reversed(self.done):
            if old is None:
                path.unlink(missing_ok=True)
            else:
                _write_atomic(path, old)


@contextlib.contextmanager
def _all_or_nothing() -> Iterator[_Changes]:
    changes = _Changes()
    try:
        yield changes
    except BaseException:
        changes.undo()
        raise


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path` and rename it into place: never half a file."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".photo-", suffix=".tmp")
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
