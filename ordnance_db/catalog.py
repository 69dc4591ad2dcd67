"""Reading and checking the YAML catalog.

Every problem is collected with its file, line and column, so that a contributor sees all of them
at once, and nothing is ever constructed from a YAML tag: the loader builds plain values from the
composed node tree itself, refusing aliases (billion-laughs) and any non-standard tag.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ordnance_db.safety import scan_data
from ordnance_db.schema import ID_PATTERN, INTERNAL, Entry, Guidance, Photo, Source, Vocabulary
from ordnance_db.settings import ROOT

M = TypeVar("M", bound=BaseModel)

MAX_FILE_BYTES = 512 * 1024
"""A catalog file is a few kilobytes; anything this large is a mistake or an attack."""
SPECIAL_FILES = ("sources.yaml", "vocabulary.yaml", "guidance.yaml")
DERIVED_IMAGES = ("side.png", "drawing.svg")
"""Files the renderer writes under images/<id>/; they need no licence entry."""
PHOTOS_FILE = "photos.yaml"
"""images/<id>/photos.yaml: one row (`Photo`) per reference photo in that folder. Kept beside the
photos, not in the curated entry, so the photo commands can rewrite it without touching comments."""
REPOSITORY_IMAGES = ROOT / "images"
"""The repository's own images folder: published with the catalog, so never `internal` photos."""

Loc = tuple[str | int, ...]

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Invisible characters that reorder how text is displayed (the "Trojan Source" trick)."""
_BIDI_NAMES = {
    "\u202a": "left-to-right embedding",
    "\u202b": "right-to-left embedding",
    "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override",
    "\u202e": "right-to-left override",
    "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate",
    "\u2068": "first strong isolate",
    "\u2069": "pop directional isolate",
}
# What YAML itself refuses (NUL and other control characters), plus the bidirectional controls.
_REFUSED_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff\ud800-\udfff"
    + "".join(sorted(BIDI_CONTROLS))
    + "]"
)

try:  # libyaml's composer is several times faster; the pure one behaves the same.
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

_TAG = "tag:yaml.org,2002:"
_SCALARS = yaml.constructor.SafeConstructor()


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in one place."""

    path: Path
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{_display(self.path)}:{self.line}:{self.col}: {self.message}"


def _display(path: Path) -> str:
    """A path relative to the working folder when it lies inside it: shorter and clickable.

    Only the folder is resolved: a symlinked file is named as itself, not as its target.
    """
    try:
        return str((path.parent.resolve() / path.name).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class CatalogError(Exception):
    """The catalog has problems; `problems` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class YamlDoc:
    """Plain data from one YAML file, with the line and column of every key and item."""

    path: Path
    data: Any
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: Iterable[str | int]) -> tuple[int, int]:
        """The position of the deepest part of `loc` that exists in the file."""
        parts = tuple(loc)
        while parts and parts not in self.marks:
            parts = parts[:-1]
        return self.marks.get(parts, (1, 1))

    def problem(self, loc: Iterable[str | int], message: str) -> Problem:
        line, col = self.where(loc)
        return Problem(self.path, line, col, message)


class _YamlRefused(Exception):
    def __init__(self, mark: yaml.Mark | None, message: str) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark else 1
        self.col = mark.column + 1 if mark else 1


def _char_message(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char in BIDI_CONTROLS:
        return (
            f"invisible {_BIDI_NAMES[char]} character ({code}) is not allowed: "
            "it makes text display in a different order from the one it is stored in"
        )
    if char == "\0":
        return f"NUL byte ({code}) is not allowed in catalog text"
    return f"control character {code} is not allowed in catalog text"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def _refusal(path: Path, root: Path | None = None) -> str | None:
    """Why `path` must not be opened, decided with stat alone; None when it is an ordinary file.

    A FIFO would block the reader for ever and a device could be endless, so neither is opened.
    With `root`, a symbolic link that resolves outside that folder is refused too.
    """
    try:
        if root is not None and path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(root.resolve()):
                return f"is a symbolic link to {target}, outside the catalog folder: not followed"
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "is a broken symbolic link" if path.is_symlink() else "does not exist"
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on older Pythons
        return f"cannot be read: {getattr(exc, 'strerror', None) or exc}"
    if not stat.S_ISREG(mode):
        return f"is {_kind(mode)}, not an ordinary file: it is not opened"
    return None


def _read_regular(path: Path) -> bytes:
    """The bytes of an ordinary file, at most MAX_FILE_BYTES + 1; never blocks on a FIFO.

    O_NONBLOCK and the second check on the open descriptor close the gap between `_refusal`'s stat
    and the open, in case the file is swapped for a pipe in between.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not an ordinary file")
        chunks = []
        left = MAX_FILE_BYTES + 1
        while left > 0 and (chunk := os.read(fd, min(left, 65536))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_yaml(path: Path, root: Path | None = None) -> tuple[YamlDoc | None, list[Problem]]:
    """Parse one file safely; on failure return the problem instead of raising.

    With `root`, the file must stay inside that folder (a symlink out of it is refused).
    """
    refusal = _refusal(path, root)
    if refusal is not None:
        return None, [Problem(path, 1, 1, f"file {refusal}")]
    try:
        raw = _read_regular(path)
    except OSError as exc:
        return None, [Problem(path, 1, 1, f"cannot read file: {exc.strerror or exc}")]
    if len(raw) > MAX_FILE_BYTES:
        size = path.stat().st_size
        return None, [Problem(path, 1, 1, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        return None, [Problem(path, line, col, "file is not valid UTF-8 text")]
    bad = _REFUSED_CHARS.search(text)
    if bad is not None:  # found here, YAML would report NUL at 1:1 and let bidi controls through
        before = text[: bad.start()]
        line = before.count("\n") + 1
        col = bad.start() - (before.rfind("\n") + 1) + 1
        return None, [Problem(path, line, col, _char_message(bad.group()))]
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        return None, [Problem(path, line, col, f"YAML syntax error: {reason}")]
    except yaml.YAMLError as exc:
        return None, [Problem(path, 1, 1, f"YAML error: {exc}")]
    doc = YamlDoc(path, None)
    if node is None:
        return doc, []
    try:
        doc.data = _build(node, (), doc.marks, set())
    except _YamlRefused as exc:
        return None, [Problem(path, exc.line, exc.col, str(exc))]
    return doc, []


def _build(node: yaml.Node, loc: Loc, marks: dict[Loc, tuple[int, int]], seen: set[int]) -> Any:
    """Turn a composed node into plain Python values, recording where each part stands."""
    if id(node) in seen:
        raise _YamlRefused(node.start_mark, "YAML anchors and aliases (& and *) are not allowed")
    seen.add(id(node))
    marks.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        if node.tag != _TAG + "map":
            raise _YamlRefused(node.start_mark, f"YAML tag {node.tag!r} is not allowed")
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, (*loc, "<key>"), {}, seen)
            if not isinstance(key, str | int):
                raise _YamlRefused(key_node.start_mark, "mapping keys must be plain text")
            if key in result:
                raise _YamlRefused(key_node.start_mark, f"duplicate key {key!r}")
            marks[(*loc, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _build(value_node, (*loc, key), marks, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _TAG + "seq":
            raise _YamlRefused(node.start_mark, f"YAML tag {node.tag!r} is not allowed")
        return [_build(item, (*loc, i), marks, seen) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    tag = node.tag.removeprefix(_TAG)
    if tag == "str":
        bad = _REFUSED_CHARS.search(node.value)  # written as an escape such as "\u202E" or "\0"
        if bad is not None:
            raise _YamlRefused(node.start_mark, _char_message(bad.group()))
        return node.value
    if tag == "timestamp":  # dates stay text: the schema decides what a date is
        return node.value
    if tag == "null":
        return None
    if tag == "bool":
        return _SCALARS.construct_yaml_bool(node)
    if tag == "int":
        return _SCALARS.construct_yaml_int(node)
    if tag == "float":
        return _SCALARS.construct_yaml_float(node)
    raise _YamlRefused(node.start_mark, f"YAML tag {node.tag!r} is not allowed")


def _validate(model: type[M], doc: YamlDoc, loc: Loc = ()) -> tuple[M | None, list[Problem]]:
    """Validate `doc.data` (or the part at `loc`) and turn pydantic's errors into located problems."""
    data: Any = doc.data
    for part in loc:
        data = data[part]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [_problem_from_error(doc, loc, err) for err in exc.errors()]


def _problem_from_error(doc: YamlDoc, base: Loc, err: Any) -> Problem:
    loc: Loc = (*base, *(p for p in err["loc"] if p != "[key]"))
    dotted = ".".join(str(p) for p in loc) or "(file)"
    kind = err["type"]
    if kind == "extra_forbidden":
        message = f"unknown key {str(loc[-1])!r} in {'.'.join(map(str, loc[:-1])) or 'the entry'}"
    elif kind == "missing":
        message = f"missing required key {dotted!r}"
    else:
        reason = _number_message(kind, err.get("input"), err.get("ctx") or {})
        reason = reason or err["msg"].removeprefix("Value error, ")
        message = f"{dotted}: {reason}"
    return doc.problem(loc, message)


_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


def _number_message(kind: str, value: Any, ctx: dict[str, Any]) -> str | None:
    """A plain sentence for a number that is not one; None for every other kind of error."""
    if kind in _BOUNDS and isinstance(value, int | float):
        key, words = _BOUNDS[kind]
        bound = ctx.get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {words} {bound}, not {_short(value)}"
    if kind == "finite_number":
        return f"must be a finite number, not {value!r}"
    if kind not in ("float_type", "int_type"):
        return None
    wanted = "a whole number" if kind == "int_type" else "a number"
    if isinstance(value, bool):
        return (
            f"must be {wanted}, not {str(value).lower()} "
            "(YAML reads yes, no, on, off, true and false as true or false)"
        )
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return f"must be {wanted}, not the text {value!r}"
        if not math.isfinite(number):
            return f"must be a finite number, not {value!r}"
        hint = "YAML needs a decimal point and a sign in an exponent: 1.5e+3" if "e" in value.lower() else ""
        return f"must be {wanted}, not the text {value!r}: {hint or 'write it without quotes'}"
    if isinstance(value, int):
        return f"must be {wanted} of a sensible size, not {_short(value)}"
    if isinstance(value, float) and kind == "int_type":
        return f"must be a whole number, not {value!r}"
    return None


def _short(number: float) -> str:
    text = repr(number)
    return text if len(text) <= 20 else f"a {len(text)}-digit number"


@dataclass
class Catalog:
    """The validated catalog: entries by id, bibliography, vocabulary, guidance."""

    root: Path
    images_dir: Path
    entries: dict[str, Entry]
    sources: dict[str, Source]
    vocabulary: Vocabulary
    guidance: Guidance | None
    digest: str
    photos: dict[str, list[Photo]] = field(default_factory=dict)
    """Entry id -> its reference photos (images/<id>/photos.yaml), for entries that have any."""

    def photo_path(self, entry_id: str, photo: Photo) -> Path:
        """Where a photo's file is."""
        return self.images_dir / entry_id / photo.file

    def colours(self) -> dict[str, str]:
        """Colour id -> display RGB, for drawings and the matcher."""
        return {t.id: t.rgb or "#808080" for t in self.vocabulary.colours}


def _walk(root: Path) -> Iterator[Path]:
    """Every name under `root` that could be YAML (.yaml, .yml, any case), without following links.

    Folders whose name starts with "." or "_" are skipped; a symlinked folder is listed, not entered.
    """
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        keep = [d for d in dirs if not d.startswith((".", "_"))]
        dirs[:] = [d for d in keep if not (here / d).is_symlink()]
        linked = [d for d in keep if (here / d).is_symlink()]
        for name in sorted(files + linked):
            if name in linked or (
                not name.startswith((".", "_")) and Path(name).suffix.lower() in (".yaml", ".yml")
            ):
                yield here / name


def _listing(root: Path) -> tuple[list[Path], list[Problem]]:
    """The YAML files to read, and a problem for every other YAML-like name that is not read."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in _walk(root):
        if path.is_symlink() and path.resolve().is_dir():  # never entered; one pointing out is reported
            target = path.resolve()
            if not target.is_relative_to(root.resolve()):
                message = f"folder is a symbolic link to {target}, outside the catalog folder: not followed"
                problems.append(Problem(path, 1, 1, message))
        elif path.suffix != ".yaml":
            problems.append(
                Problem(path, 1, 1, f"{path.suffix!r} files are not read: rename it to {path.stem}.yaml")
            )
        else:
            files.append(path)
    return sorted(files), problems


def entry_files(root: Path) -> list[Path]:
    """Every entry file under the catalog folder (sub-folders allowed), in a stable order."""
    files, _ = _listing(root)
    return [p for p in files if not (p.parent == root and p.name in SPECIAL_FILES)]


def catalog_digest(root: Path, images_dir: Path | None = None) -> str:
    """A hash of every catalog file and photo list, names and bytes: the database is rebuilt when
    it changes. `images_dir` defaults, as in `check_catalog`, to images/ beside the catalog.

    Only ordinary files are opened: a FIFO, a device or a symlink out of the catalog folder is
    hashed by its name and why it is refused (validation then reports it), so the digest never
    blocks.
    """
    root = Path(root)
    images_dir = Path(images_dir) if images_dir is not None else root.parent / "images"
    h = hashlib.sha256()
    files = [(p, p.relative_to(root), root) for p in _walk(root)]
    files += [(p, Path("images", p.relative_to(images_dir)), None) for p in photo_lists(images_dir)]
    for path, name, inside in files:
        h.update(str(name).encode())
        h.update(b"\0")
        refusal = _refusal(path, inside)
        if refusal is None:
            try:
                h.update(_read_regular(path))
            except OSError as exc:
                h.update(f"unreadable: {exc}".encode())
        else:
            h.update(refusal.encode())
        h.update(b"\0")
    return h.hexdigest()


def photo_lists(images_dir: Path) -> list[Path]:
    """Every images/<id>/photos.yaml, in a stable order."""
    return sorted(Path(images_dir).glob(f"*/{PHOTOS_FILE}"))


def check_catalog(root: Path, images_dir: Path | None = None) -> tuple[Catalog | None, list[Problem]]:
    """Read and check every file; return the catalog (None if anything is wrong) and all problems."""
    root = Path(root)
    images_dir = Path(images_dir) if images_dir is not None else root.parent / "images"
    problems: list[Problem] = []
    if not root.is_dir():
        return None, [Problem(root, 1, 1, "catalog folder does not exist")]
    files, problems = _listing(root)

    vocabulary, vocab_problems = _read_special(root / "vocabulary.yaml", Vocabulary, root)
    problems += vocab_problems
    sources_doc, source_problems = read_yaml(root / "sources.yaml", root)
    problems += source_problems
    sources: dict[str, Source] = {}
    if sources_doc is not None:
        sources, more = _read_sources(sources_doc)
        problems += more
    guidance_doc: YamlDoc | None = None
    guidance: Guidance | None = None
    if (root / "guidance.yaml").exists() or (root / "guidance.yaml").is_symlink():
        guidance_doc, more = read_yaml(root / "guidance.yaml", root)
        problems += more
        if guidance_doc is not None:
            guidance, more = _validate(Guidance, guidance_doc)
            problems += more

    entries: dict[str, Entry] = {}
    docs: dict[str, YamlDoc] = {}
    for doc in (sources_doc, guidance_doc):
        problems += _check_safety(doc)
    for path in files:
        if path.parent == root and path.name in SPECIAL_FILES:
            continue
        doc, more = read_yaml(path, root)
        problems += more
        if doc is None:
            continue
        problems += _check_safety(doc)
        if not isinstance(doc.data, dict):
            problems.append(doc.problem((), "an entry file must be a mapping of keys to values"))
            continue
        entry, more = _validate(Entry, doc)
        problems += more
        if entry is None:
            continue
        if entry.id != path.stem:
            problems.append(
                doc.problem(("id",), f"id {entry.id!r} does not match the file name {path.stem!r}")
            )
        if entry.id in entries:
            problems.append(
                doc.problem(("id",), f"duplicate id {entry.id!r} (also in {docs[entry.id].path})")
            )
            continue
        entries[entry.id] = entry
        docs[entry.id] = doc

    if vocabulary is not None:
        for entry_id, entry in entries.items():
            problems += _check_terms(entry, docs[entry_id], vocabulary)
        if guidance is not None and guidance_doc is not None:
            known = {t.id for t in vocabulary.categories}
            for key in guidance.category_warnings:
                if key not in known:
                    problems.append(
                        guidance_doc.problem(("category_warnings", key), f"unknown category {key!r}")
                    )
    if sources_doc is not None:
        problems += _check_sources(docs, sources, sources_doc, guidance, guidance_doc)
    problems += _check_lookalikes(entries, docs)
    photos, more = read_photos(images_dir, set(entries))
    problems += more
    problems += _check_images(entries, docs, images_dir, photos)

    if problems or vocabulary is None or sources_doc is None:
        return None, sorted(set(problems))
    ordered = dict(sorted(entries.items()))
    digest = catalog_digest(root, images_dir)
    return Catalog(root, images_dir, ordered, sources, vocabulary, guidance, digest, photos), []


def load_catalog(root: Path, images_dir: Path | None = None) -> Catalog:
    """Load the catalog or raise CatalogError listing every problem."""
    catalog, problems = check_catalog(root, images_dir)
    if catalog is None:
        raise CatalogError(problems)
    return catalog


def _read_special(path: Path, model: type[M], root: Path) -> tuple[M | None, list[Problem]]:
    doc, problems = read_yaml(path, root)
    if doc is None:
        return None, problems
    return _validate(model, doc)


def _read_sources(doc: YamlDoc) -> tuple[dict[str, Source], list[Problem]]:
    if not isinstance(doc.data, dict):
        return {}, [doc.problem((), "sources.yaml must map source keys to sources")]
    sources: dict[str, Source] = {}
    problems: list[Problem] = []
    for key in doc.data:
        source, more = _validate(Source, doc, (key,))
        problems += more
        if not isinstance(key, str) or not _is_slug(key):
            problems.append(doc.problem((key,), f"source key {key!r} must be a lowercase slug"))
        elif source is not None:
            sources[key] = source
    return sources, problems


def _is_slug(text: str) -> bool:
    return re.match(ID_PATTERN, text) is not None


_TERM_FIELDS: tuple[tuple[Loc, str], ...] = (
    (("category",), "categories"),
    (("features", "shape"), "shapes"),
    (("features", "stabilisation"), "stabilisation"),
    (("features", "fuze_position"), "fuze_positions"),
    (("features", "marking_script"), "marking_scripts"),
    (("features", "colours"), "colours"),
    (("features", "mechanical"), "mechanical"),
)


def _iter_terms(entry: Entry) -> Iterator[tuple[Loc, str, str]]:
    """(location, vocabulary list, term) for every vocabulary term an entry uses."""
    data = entry.model_dump()
    for loc, vocab in _TERM_FIELDS:
        value: Any = data
        for part in loc:
            value = value[part]
        if isinstance(value, list):
            for i, term in enumerate(value):
                yield (*loc, i), vocab, term
        else:
            yield loc, vocab, value
    geometry = entry.geometry
    if geometry is not None:
        yield ("geometry", "body_colour"), "colours", geometry.body_colour
        if geometry.fins is not None and geometry.fins.colour is not None:
            yield ("geometry", "fins", "colour"), "colours", geometry.fins.colour
        for i, band in enumerate(geometry.bands):
            yield ("geometry", "bands", i, "colour"), "colours", band.colour
        for i, part in enumerate(geometry.parts):
            yield ("geometry", "parts", i, "colour"), "colours", part.colour


def _check_terms(entry: Entry, doc: YamlDoc, vocabulary: Vocabulary) -> list[Problem]:
    known = {name: {t.id for t in getattr(vocabulary, name)} for _, name in _TERM_FIELDS}
    problems = []
    for loc, vocab, term in _iter_terms(entry):
        if term not in known[vocab]:
            field_name = ".".join(str(p) for p in loc)
            problems.append(
                doc.problem(loc, f"{field_name}: unknown {vocab} term {term!r} (see vocabulary.yaml)")
            )
    return problems


def _check_sources(
    docs: dict[str, YamlDoc],
    sources: dict[str, Source],
    sources_doc: YamlDoc,
    guidance: Guidance | None,
    guidance_doc: YamlDoc | None,
) -> list[Problem]:
    problems: list[Problem] = []
    used: set[str] = set()
    for doc in docs.values():
        for loc, key in _source_refs(doc.data):
            used.add(key)
            if key not in sources:
                problems.append(doc.problem(loc, f"unknown source key {key!r} (not in sources.yaml)"))
            elif _is_reviewed_number(doc.data, loc) and _is_encyclopaedia(sources[key]):
                problems.append(
                    doc.problem(
                        loc,
                        f"{key!r} is an encyclopaedia, which quotes figures from elsewhere: "
                        "mark the number 'basis: reference' (a published figure whose primary source "
                        "we have not reviewed)",
                    )
                )
    if guidance is not None and guidance_doc is not None:
        for loc, key in _source_refs(guidance_doc.data, keys=("source", "standards")):
            used.add(key)
            if key not in sources:
                problems.append(
                    guidance_doc.problem(loc, f"unknown source key {key!r} (not in sources.yaml)")
                )
    if isinstance(sources_doc.data, dict):
        for key in sources_doc.data:
            if key in sources and key not in used:
                problems.append(sources_doc.problem((key,), f"source {key!r} is not cited by any entry"))
    return problems


def _is_encyclopaedia(source: Source) -> bool:
    return "wikipedia" in f"{source.url} {source.publisher}".lower()


def _is_reviewed_number(data: Any, loc: Loc) -> bool:
    """True for the `source` of a dimension whose basis is `source` (the default when a source is given)."""
    if len(loc) != 3 or loc[0] != "dimensions" or loc[2] != "source":
        return False
    value = data.get("dimensions", {}).get(loc[1]) if isinstance(data, dict) else None
    return isinstance(value, dict) and value.get("basis", "source") == "source"


def _source_refs(
    data: Any, loc: Loc = (), keys: tuple[str, ...] = ("source", "sources")
) -> Iterator[tuple[Loc, str]]:
    """Every source key cited in a file's data: `source:` values and `sources:` lists."""
    if isinstance(data, dict):
        for key, value in data.items():
            here = (*loc, key)
            if key in keys and isinstance(value, str) and _is_slug(value) and loc[:1] != ("images",):
                yield here, value
            elif key in keys and isinstance(value, list):
                yield from (((*here, i), v) for i, v in enumerate(value) if isinstance(v, str))
            else:
                yield from _source_refs(value, here, keys)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _source_refs(item, (*loc, i), keys)


def _check_safety(doc: YamlDoc | None) -> list[Problem]:
    """The catalog identifies and warns; text that reads like a procedure is refused."""
    if doc is None:
        return []
    return [
        doc.problem(loc, f"crosses the safety line ({reason}): identification and warnings only")
        for loc, reason in scan_data(doc.data)
    ]


def _check_lookalikes(entries: dict[str, Entry], docs: dict[str, YamlDoc]) -> list[Problem]:
    problems = []
    for entry_id, entry in entries.items():
        first: dict[str, int] = {}
        for i, alike in enumerate(entry.lookalikes):
            loc = ("lookalikes", i, "id")
            if alike.id in first:
                line, _ = docs[entry_id].where(("lookalikes", first[alike.id], "id"))
                problems.append(
                    docs[entry_id].problem(
                        loc, f"look-alike {alike.id!r} is listed twice (first at line {line}): merge them"
                    )
                )
                continue
            first[alike.id] = i
            if alike.id == entry_id:
                problems.append(docs[entry_id].problem(loc, "an entry cannot be its own look-alike"))
            elif alike.id not in entries:
                problems.append(
                    docs[entry_id].problem(loc, f"look-alike {alike.id!r} is not a catalog entry")
                )
            elif entry_id not in {a.id for a in entries[alike.id].lookalikes}:
                problems.append(
                    docs[entry_id].problem(
                        loc,
                        f"look-alike {alike.id!r} does not list {entry_id!r} back (they must be mutual)",
                    )
                )
    return problems


def read_photos(images_dir: Path, entry_ids: set[str]) -> tuple[dict[str, list[Photo]], list[Problem]]:
    """Every entry's photo list, checked: licence and attribution (by the model), the file is there
    and is an image, no photo listed twice or stored twice, and `internal` photos only outside the
    repository's own images folder."""
    images_dir = Path(images_dir)
    refusal = internal_refusal(images_dir)
    photos: dict[str, list[Photo]] = {}
    problems: list[Problem] = []
    seen: dict[str, Path] = {}  # sha-256 of the bytes -> first file with them
    for path in photo_lists(images_dir):
        entry_id = path.parent.name
        doc, more = read_yaml(path)
        problems += more
        if doc is None:
            continue
        problems += _check_safety(doc)
        if entry_id not in entry_ids:
            problems.append(doc.problem((), f"photos for {entry_id!r}, which is not a catalog entry"))
            continue
        data = doc.data if doc.data is not None else []
        if not isinstance(data, list):
            problems.append(doc.problem((), f"{PHOTOS_FILE} must be a list of photos (file, licence, ...)"))
            continue
        rows: list[Photo] = []
        for i in range(len(data)):
            photo, more = _validate(Photo, doc, (i,))
            problems += more
            if photo is None:
                continue
            file = path.parent / photo.file
            if any(p.file == photo.file for p in rows):
                problems.append(doc.problem((i, "file"), f"{photo.file} is listed twice"))
                continue
            problems += [doc.problem((i, "file"), m) for m in _photo_file_problems(file, seen)]
            if photo.licence == INTERNAL and refusal:
                problems.append(doc.problem((i, "licence"), refusal))
            rows.append(photo)
        if rows:
            photos[entry_id] = rows
    return photos, problems


def internal_refusal(images_dir: Path) -> str | None:
    """Why `internal` photos cannot be kept in `images_dir` (the repository's own), or None."""
    if Path(images_dir).resolve() != REPOSITORY_IMAGES.resolve():
        return None
    return (
        "an internal photo cannot be kept in the repository's images folder: "
        "set ORDNANCE_IMAGES_DIR to your organisation's own folder"
    )


def _photo_file_problems(file: Path, seen: dict[str, Path]) -> list[str]:
    """Why a listed photo file cannot be used (missing, not an image, a copy of another), if it cannot."""
    from ordnance_db.imaging import ImageRefused, photo_size  # here: the app's first page needs no decoders

    if not file.is_file():
        return [f"photo file {file} does not exist"]
    try:
        photo_size(file)
    except ImageRefused as exc:
        return [f"{file}: {exc}"]
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    if digest in seen:
        return [f"{file} is the same picture as {seen[digest]}"]
    seen[digest] = file
    return []


def _check_images(
    entries: dict[str, Entry], docs: dict[str, YamlDoc], images_dir: Path, photos: dict[str, list[Photo]]
) -> list[Problem]:
    problems = []
    root = images_dir.resolve()
    for entry_id, entry in entries.items():
        folder = images_dir / entry_id
        listed = {PHOTOS_FILE, *(p.file for p in photos.get(entry_id, []))}
        for i, image in enumerate(entry.images):
            path = folder / image.file
            listed.add(image.file)
            loc = ("images", i, "file")
            if not path.resolve().is_relative_to(root):
                problems.append(docs[entry_id].problem(loc, f"image {image.file!r} points outside images/"))
            elif not path.is_file():
                problems.append(docs[entry_id].problem(loc, f"image file {path} does not exist"))
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.name in DERIVED_IMAGES or path.name in listed or path.name.startswith("."):
                    continue
                problems.append(
                    docs[entry_id].problem(
                        ("images",),
                        f"{path} has no licence: add it with 'python -m ordnance_db photos add' "
                        "(licence, author and source)",
                    )
                )
    return problems
