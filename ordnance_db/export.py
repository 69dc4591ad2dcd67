"""Reference sheets and field booklets (PDF), and data exports (CSV, JSON), read from the database.

Why from the database and not the YAML: the database is the validated, built catalog that the app
and the CLI show, so an export always matches what people saw, and its footer can name the exact
catalog build (digest and date) it came from.

- `select_entries`: ids and/or a search `Query` -> entries, or an `ExportError`.
- `write_pdf` / `pdf_bytes`: one entry -> its one-page sheet; several -> a field booklet (cover,
  contents, one sheet per entry, index of every name in every script).
- `write_csv` / `csv_bytes`, `write_json` / `json_bytes`: flat table and full entries.
- `render_sheet_png`: a sheet as a PNG through PDFium (pypdfium2), for the docs.

Catalog text is data: it is never passed through anything that interprets markup (no fpdf2
markdown, no HTML). Files are written to a temporary name and moved into place, so a failed
export never leaves a half-written file. Run `python -m ordnance_db.export --docs` to refresh
the sheet pictures in docs/.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import logging
import math
import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Literal

import pypdfium2
from babel import Locale
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.errors import FPDFException
from fpdf.outline import OutlineSection
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ordnance_db import db, i18n, var_files
from ordnance_db.schema import Dimension, Entry, Guidance
from ordnance_db.search import RANGE_FILTERS, Query, Searcher
from ordnance_db.settings import IMAGES_DIR, ROOT, VAR_DIR

__all__ = [
    "CSV_COLUMNS",
    "ExportError",
    "csv_bytes",
    "describe_selection",
    "export_csv",
    "export_json",
    "json_bytes",
    "pdf_bytes",
    "render_sheet_png",
    "select_entries",
    "write_csv",
    "write_json",
    "write_pdf",
]

LOG = logging.getLogger(__name__)

Paper = Literal["A4", "Letter"]
PAPERS: tuple[str, ...] = ("A4", "Letter")


def N_(message: str) -> str:
    """Marks a module-level text for extraction into the `sheets` domain; translated where drawn."""
    return message


LICENCE = N_("Catalog text CC BY 4.0")
DISCLAIMER = N_("Identification aid — not for handling")
DOMAIN = "sheets"
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
WESTERN_DIGITS = frozenset({"DZ", "EH", "LY", "MA", "MR", "TN"})
"""Arabic sheets use Arabic-Indic digits (٠١٢) for the numbers the sheet itself writes (sizes, counts,
page and source numbers), as readers in the Levant, Iraq, Yemen and the Gulf expect; for a Maghreb
country (`--country` one of these) they keep Western digits (012), as written there. Designations,
telephone numbers, web addresses, dates and catalog text keep the digits they are written with,
because they must match the item's markings and the keypad."""


class ExportError(Exception):
    """An export that cannot be made, said in one sentence (unknown id, empty selection, bad path)."""


# --- selection ------------------------------------------------------------------------------


def select_entries(engine: Engine, ids: Sequence[str] = (), query: Query | None = None) -> list[Entry]:
    """Entries by id (in the order given) and/or by search; with neither, the whole catalog by name.

    With both, the ids are kept in their order and narrowed to those the query matches.
    """
    wanted = list(dict.fromkeys(ids))
    if wanted:
        entries = db.load_entries(engine, wanted)
        found = {e.id for e in entries}
        missing = [i for i in wanted if i not in found]
        if missing:
            plural = "ids" if len(missing) > 1 else "id"
            raise ExportError(
                f"unknown entry {plural} {', '.join(repr(m) for m in missing)}; "
                "try 'python -m ordnance_db search' to find the right one"
            )
        if query is not None:
            matching = {h.id for h in Searcher(engine).search(query).hits}
            entries = [e for e in entries if e.id in matching]
    else:
        hits = Searcher(engine).search(query or Query(sort="name")).hits
        entries = db.load_entries(engine, [h.id for h in hits])
    if not entries:
        raise ExportError("the selection is empty: no entry matches these ids and filters")
    return entries


def describe_selection(ids: Sequence[str] = (), query: Query | None = None, lang: str = "en") -> str:
    """The selection in words, for a booklet's cover: what was asked, so a reader can ask it again.

    In the booklet's language; ids, search text and filter values stay as typed (they are what a
    reader types to ask again)."""
    t = i18n.translations(lang, DOMAIN).gettext
    digits = (lambda text: text.translate(ARABIC_INDIC)) if lang == "ar" else (lambda text: text)
    parts: list[str] = []
    if ids:
        shown = ", ".join(list(ids)[:12])
        if len(ids) > 12:
            shown = t("{ids} and {count} more").format(ids=shown, count=digits(str(len(ids) - 12)))
        parts.append(t("entries {ids}").format(ids=shown))
    if query is not None:
        if query.text:
            parts.append(t("name matching “{text}”").format(text=query.text))
        for name, values in query.terms.items():
            if values:
                parts.append(f"{name}: {(' ' + t('or') + ' ').join(values)}")
        units = {r.name: r.unit for r in RANGE_FILTERS}
        for name, wanted in query.ranges.items():
            low = _num(wanted.low) if wanted.low is not None else ""
            high = _num(wanted.high) if wanted.high is not None else ""
            span = low if low == high else f"{low}–{high}"
            label = name if lang == i18n.SOURCE_LANGUAGE else t(name.capitalize())
            tolerance = digits(_num(query.tolerance * 100))
            parts.append(f"{label} {digits(span)} {t(units[name])} (±{tolerance} %)")
    return "; ".join(parts) if parts else t("the whole catalog")


# --- data exports -----------------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "names",
    "aliases",
    "category",
    "role",
    "origin",
    "length_mm",
    "length_basis",
    "diameter_mm",
    "diameter_basis",
    "weight_kg",
    "weight_basis",
    "span_mm",
    "span_basis",
    "actual_weight_kg",
    "actual_weight_basis",
    "shape",
    "stabilisation",
    "fin_count",
    "fuze_position",
    "colours",
    "marking_script",
    "marking_text",
    "mechanical",
    "hazards",
    "lookalikes",
    "sources",
)
"""Stable column order: add new columns at the end so people's spreadsheets keep working."""

_LIST_SEPARATOR = "; "
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _num(value: float) -> str:
    """A number as people write it: 1500, 82.5, 0.25."""
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _basis(dim: Dimension) -> str:
    """'source:key', 'reference:key', 'nominal', 'estimate:key': the basis and what it rests on."""
    return f"{dim.basis}:{dim.source}" if dim.source else dim.basis


def _spreadsheet_safe(cell: str) -> str:
    """A leading apostrophe on cells a spreadsheet would run as a formula (CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _csv_row(entry: Entry) -> list[str]:
    f = entry.features
    row: dict[str, str] = {
        "id": entry.id,
        "name": entry.name,
        "names": _LIST_SEPARATOR.join(f"{lang}: {text}" for lang, text in entry.names.items()),
        "aliases": _LIST_SEPARATOR.join(entry.aliases),
        "category": entry.category,
        "role": entry.role,
        "origin": _LIST_SEPARATOR.join(entry.origin),
        "shape": f.shape,
        "stabilisation": f.stabilisation,
        "fin_count": str(f.fin_count),
        "fuze_position": f.fuze_position,
        "colours": _LIST_SEPARATOR.join(f.colours),
        "marking_script": f.marking_script,
        "marking_text": _LIST_SEPARATOR.join(f.marking_text),
        "mechanical": _LIST_SEPARATOR.join(f.mechanical),
        "hazards": _LIST_SEPARATOR.join(entry.hazards),
        "lookalikes": _LIST_SEPARATOR.join(x.id for x in entry.lookalikes),
        "sources": _LIST_SEPARATOR.join(entry.sources),
    }
    for name in ("length", "diameter", "weight", "span", "actual_weight"):
        column = f"{name}_kg" if name.endswith("weight") else f"{name}_mm"
        dim: Dimension | None = getattr(entry.dimensions, column)
        row[column] = _num(dim.value) if dim else ""
        row[f"{name}_basis"] = _basis(dim) if dim else ""
    return [_spreadsheet_safe(row[c]) for c in CSV_COLUMNS]


def csv_bytes(entries: Iterable[Entry]) -> bytes:
    """The flat table as UTF-8 with a byte-order mark, so spreadsheet programs read Cyrillic right."""
    return _csv_text(entries).encode("utf-8-sig")


def _csv_text(entries: Iterable[Entry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(e) for e in entries)
    return buffer.getvalue()


def json_bytes(entries: Iterable[Entry]) -> bytes:
    """Full entries as a JSON list; each item validates back into an `Entry`."""
    documents = [e.model_dump(mode="json", exclude_none=True) for e in entries]
    return (json.dumps(documents, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_csv(entries: Iterable[Entry], target: str | os.PathLike[str] | IO[str]) -> Path | None:
    """Write the CSV to a path (atomically; returns it) or to an open text file (returns None)."""
    if hasattr(target, "write"):
        target.write(_csv_text(entries))  # type: ignore[union-attr]
        return None
    return _write_atomic(target, csv_bytes(entries))  # type: ignore[arg-type]


def write_json(entries: Iterable[Entry], target: str | os.PathLike[str] | IO[str]) -> Path | None:
    """Write the JSON to a path (atomically; returns it) or to an open text file (returns None)."""
    if hasattr(target, "write"):
        target.write(json_bytes(entries).decode("utf-8"))  # type: ignore[union-attr]
        return None
    return _write_atomic(target, json_bytes(entries))  # type: ignore[arg-type]


export_csv = write_csv
"""The name issue 6 uses; same function."""
export_json = write_json


def _write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write to a temporary file beside `path`, then rename: readers see the old file or the new one."""
    target = Path(path)
    if target.is_dir():
        raise ExportError(f"cannot write {target}: it is a folder, give a file name")
    folder = target.parent
    if not folder.is_dir():
        raise ExportError(f"cannot write {target}: the folder {folder} does not exist")
    temporary: str | None = None
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except OSError as exc:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        reason = (exc.strerror or str(exc)).lower()
        raise ExportError(f"cannot write {target}: {reason}") from exc
    return target


# --- fonts ------------------------------------------------------------------------------------

MAIN = "Noto Sans"
"""Also the first family the drawings' SVG asks for, so their text uses the same font."""
ARABIC = "Noto Sans Arabic"
CJK = "Noto Sans CJK"


@dataclass(frozen=True)
class _FontFiles:
    regular: Path
    bold: Path
    arabic: Path | None
    cjk: tuple[Path, int] | None


@lru_cache(maxsize=1)
def _font_files() -> _FontFiles:
    """Noto Sans, Noto Sans Arabic and Noto Sans SC, all from font wheels on the package index."""
    import fontpkg

    regular = Path(fontpkg.path(MAIN))
    try:
        arabic: Path | None = Path(fontpkg.path(ARABIC))
    except Exception:  # fontpkg raises its own errors when the family wheel is missing
        LOG.warning("Noto Sans Arabic is not installed (pip fontpkg-noto-sans-arabic): Arabic will not show")
        arabic = None
    cjk = _find_cjk_font()
    if cjk is None:
        LOG.warning("no Chinese font found (pip install pylopdf-fonts-zh-cn): Chinese names will not show")
    return _FontFiles(regular, _bold_instance(regular) or regular, arabic, cjk)


def _bold_instance(variable: Path) -> Path | None:
    """A static bold instance of a variable font, made once and cached under var/fonts.

    fpdf2 can instance variable fonts itself, but that costs seconds per document; the cache
    makes it a one-off per machine. var/ holds derived files only and is never committed.
    """
    try:
        stat = variable.stat()
    except OSError:
        return None
    key = hashlib.sha256(f"{variable}:{stat.st_size}:{stat.st_mtime_ns}:wght700".encode()).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9-]", "", variable.stem.split("[")[0]) or "font"
    name = f"{stem}-Bold-{key}.ttf"
    for folder in (VAR_DIR / "fonts", None):
        # Where var/ cannot be written, a private folder of this process: never a fixed shared
        # path in /tmp, whose contents another user could have put there.
        folder = folder or Path(tempfile.mkdtemp(prefix="ordnance-db-fonts-"))
        cached = folder / name
        if _usable_bold(cached):  # var/ is not trusted: a foreign or damaged file is made afresh
            return cached
        try:
            from fontTools.ttLib import TTFont
            from fontTools.varLib import instancer

            folder.mkdir(parents=True, exist_ok=True)
            font = TTFont(variable)
            axes = {a.axisTag: a.defaultValue for a in font["fvar"].axes}
            axes["wght"] = 700
            bold = instancer.instantiateVariableFont(font, axes)
            handle, temporary = tempfile.mkstemp(dir=folder, suffix=".ttf")
            os.close(handle)
            bold.save(temporary)
            os.replace(temporary, cached)
            return cached
        except Exception as exc:  # any failure only costs the bold weight
            LOG.warning("could not make a bold instance of %s in %s: %s", variable.name, folder, exc)
    return None


def _usable_bold(path: Path) -> bool:
    """Whether a cached file is what `_bold_instance` writes: an ordinary, static (not variable)
    TrueType font of bold weight, read by fontTools as data."""
    if not var_files.ordinary(path, 64 * 2**20):
        return False
    try:
        from fontTools.ttLib import TTFont

        with var_files.open_ordinary(path, 64 * 2**20) as handle:
            font = TTFont(handle)
            return "fvar" not in font and "glyf" in font and font["OS/2"].usWeightClass == 700
    except Exception:  # fontTools raises many kinds on a foreign file: all mean "make it afresh"
        return False


def _find_cjk_font() -> tuple[Path, int] | None:
    """(file, face index) of Noto Sans SC from the pylopdf-fonts-zh-cn wheel (SIL OFL 1.1).

    A font from a Python package, not the system, so a fresh machine with only Python renders
    Chinese names exactly as CI does.
    """
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        return None
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    return (path, 0) if path.is_file() else None


def _is_arabic(text: str) -> bool:
    return any(
        "\u0600" <= c <= "\u06ff" or "\u0750" <= c <= "\u077f" or "\ufb50" <= c <= "\ufeff" for c in text
    )


def _is_cjk(text: str) -> bool:
    return any(
        "\u3000" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or "\uff00" <= c <= "\uffef" for c in text
    )


# --- the document -----------------------------------------------------------------------------

PT = 25.4 / 72
"""Millimetres per typographic point."""
MARGIN = 12.0
FOOTER_H = 11.0

INK = (24, 28, 34)
MUTED = (92, 98, 108)
NAVY = (26, 50, 82)
RED = (164, 28, 34)
PALE_RED = (253, 241, 239)
AMBER = (146, 92, 0)
RULE = (196, 202, 210)
ZEBRA = (241, 244, 247)

Rgb = tuple[int, int, int]


class _Document(FPDF):
    """fpdf2 with our fonts, shaping for Arabic, and no automatic page breaks (we place every page)."""

    def __init__(self, paper: str, need_cjk: bool, lang: str = "en", rtl: bool = False) -> None:
        if paper not in PAPERS:
            raise ExportError(f"unknown paper size {paper!r}; choose A4 or Letter")
        super().__init__(unit="mm", format=paper)
        self.set_auto_page_break(False)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.c_margin = 0
        files = _font_files()
        self.add_font(MAIN, "", files.regular)
        self.add_font(MAIN, "B", files.bold)
        self.scripts = {MAIN}
        fallbacks = []
        if files.arabic is not None:
            self.add_font(ARABIC, "", files.arabic)
            self.scripts.add(ARABIC)
            fallbacks.append(ARABIC)
        if need_cjk and files.cjk is not None:
            path, index = files.cjk
            self.add_font(CJK, "", path, collection_font_number=index)
            self.scripts.add(CJK)
            fallbacks.append(CJK)
        if fallbacks:
            self.set_fallback_fonts(fallbacks, exact_match=False)
        self.set_lang(lang)
        self.rtl = rtl
        """Right to left: every position is mirrored (`mirror`) and start-aligned text is right-aligned."""
        self.shaping: tuple[bool, str | None] = (False, None)
        self.heights: dict[tuple[str, float, float, bool, float, str], float] = {}
        """Measured paragraph heights: fpdf2's line breaking is slow, and the safety panel and
        fitting passes measure the same paragraphs many times."""
        self.set_creator("ordnance_db")
        self.set_font(MAIN, size=9)

    def use(self, size: float, bold: bool = False, colour: Rgb = INK, family: str = MAIN) -> None:
        """Set font and colour.

        The empty text() works round an fpdf2 2.8 bug: when a line starts in a fallback font
        (Arabic, Chinese), fpdf2 sets the main font inside that line's q/Q block and then believes
        it is still set, so the next line starting in the main font has no font at all ("No font
        in show"). Setting it at page level first keeps the page's font state true.
        """
        if family not in self.scripts:
            family = MAIN
        self.set_font(family, "B" if bold and family == MAIN else "", size)
        self.set_text_color(*colour)
        if self.page and not self.current_font_is_set_on_page:
            self.text(self.l_margin, self.t_margin, "")

    def shape_for(self, text: str) -> None:
        """Shape with HarfBuzz only text that needs it (Arabic).

        fpdf2 re-shapes a growing line for every character while breaking lines, which made a
        67-sheet booklet take 40 s; Latin, Cyrillic and Chinese look the same unshaped. On a right
        to left sheet, Arabic paragraphs are laid out with a right-to-left base direction, so a
        line that starts with a number or a Latin designation still reads from the right.
        """
        needed = _is_arabic(text)
        state = (needed, "rtl" if needed and self.rtl else None)
        if state != self.shaping:
            if needed:
                self.set_text_shaping(True, direction=state[1])
            else:
                self.set_text_shaping(False)
            self.shaping = state

    def mirror(self, x: float, w: float) -> float:
        """The page position of a box laid out from the start edge: the same on a left to right
        page, reflected on a right to left one, so one layout serves both."""
        return self.w - x - w if self.rtl else x

    def cell(
        self, w: float | None = None, h: float | None = None, text: str = "", *args: Any, **kw: Any
    ) -> bool:
        self.shape_for(text)
        return bool(super().cell(w, h, text, *args, **kw))

    def multi_cell(self, w: float, h: float | None = None, text: str = "", *args: Any, **kw: Any) -> Any:
        self.shape_for(text)
        return super().multi_cell(w, h, text, *args, **kw)

    def get_string_width(self, s: str, normalized: bool = False, markdown: bool = False) -> float:
        self.shape_for(s)
        return float(super().get_string_width(s, normalized, markdown))

    def family_for(self, text: str) -> str:
        """The font to measure and draw a name in: exact widths need its own script's font."""
        if _is_arabic(text) and ARABIC in self.scripts:
            return ARABIC
        if _is_cjk(text) and CJK in self.scripts:
            return CJK
        return MAIN


@dataclass
class _Pen:
    """Draws, or only measures (dry) with the same calls, so a sheet can be fitted before drawing."""

    pdf: _Document
    dry: bool

    def text(
        self,
        x: float,
        y: float,
        w: float,
        text: str,
        size: float,
        *,
        bold: bool = False,
        colour: Rgb = INK,
        leading: float = 1.25,
        align: str = "L",
        link: str | None = None,
    ) -> float:
        """A wrapped paragraph; returns its height. `align` is logical: L is the start edge."""
        if not text:
            return 0.0
        if self.pdf.rtl:
            align = _FLIP.get(align, align)
        h = size * PT * leading
        if self.dry:
            key = (text, round(w, 3), size, bold, leading, align)
            cached = self.pdf.heights.get(key)
            if cached is None:
                self.pdf.use(size, bold, colour)
                cached = float(self.pdf.multi_cell(w, h, text, align=align, dry_run=True, output="HEIGHT"))
                self.pdf.heights[key] = cached
            return cached
        self.pdf.use(size, bold, colour)
        self.pdf.set_xy(self.pdf.mirror(x, w), y)
        return float(
            self.pdf.multi_cell(
                w, h, text, align=align, new_x=XPos.LEFT, new_y=YPos.NEXT, output="HEIGHT", link=link or None
            )
        )

    def rect(self, x: float, y: float, w: float, h: float, fill: Rgb | None, line: Rgb | None = None) -> None:
        if self.dry:
            return
        style = "".join(s for s, on in (("D", line), ("F", fill)) if on)
        if fill:
            self.pdf.set_fill_color(*fill)
        if line:
            self.pdf.set_draw_color(*line)
            self.pdf.set_line_width(0.25)
        self.pdf.rect(self.pdf.mirror(x, w), y, w, h, style=style)

    def rule(self, x: float, y: float, w: float, colour: Rgb = RULE, width: float = 0.3) -> None:
        if not self.dry:
            self.pdf.set_draw_color(*colour)
            self.pdf.set_line_width(width)
            x = self.pdf.mirror(x, w)
            self.pdf.line(x, y, x + w, y)

    def cell(
        self, x: float, y: float, w: float, h: float, text: str, align: str = "L", link: Any = None
    ) -> None:
        """One line at a logical position (mirrored on a right to left page), in the current font."""
        if self.dry:
            return
        if self.pdf.rtl:
            align = _FLIP.get(align, align)
        self.pdf.set_xy(self.pdf.mirror(x, w), y)
        self.pdf.cell(w, h, text, align=align, link=link or "")


_FLIP = {"L": "R", "R": "L"}


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word, with an ellipsis: long notes never push a sheet over."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + "…"


def _fit_width(pdf: _Document, text: str, width: float) -> str:
    """`text` shortened with an ellipsis to fit `width` in the current font (one-line cells)."""
    if pdf.get_string_width(text) <= width:
        return text
    while len(text) > 1 and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


@dataclass(frozen=True)
class _Fit:
    """How much of an entry a sheet shows; later levels trade detail for staying on one page."""

    size: float
    drawing_h: float
    max_chars: int
    role_chars: int
    max_items: int
    max_sources: int
    max_aliases: int


_FITS: tuple[_Fit, ...] = (
    _Fit(8.4, 64, 700, 500, 8, 12, 12),
    _Fit(8.0, 56, 420, 360, 6, 8, 8),
    _Fit(7.6, 48, 300, 260, 5, 6, 6),
    _Fit(7.2, 40, 200, 180, 4, 5, 5),
    _Fit(6.8, 32, 130, 120, 3, 4, 4),
    _Fit(6.4, 26, 80, 80, 2, 3, 3),
)


@dataclass
class _Context:
    """Everything a sheet needs besides its entry, read from the database once per document."""

    labels: dict[str, dict[str, str]]
    rgb: dict[str, str]
    sources: dict[str, dict[str, Any]]
    guidance: Guidance
    names: dict[str, str]
    digest: str
    built: str
    today: str
    images_dir: Path
    lang: str = "en"
    country: str | None = None
    booklet: bool = False
    drawings: dict[str, tuple[bytes, float, float] | None] = field(default_factory=dict)

    @classmethod
    def load(
        cls, engine: Engine, images_dir: Path | None = None, lang: str = "en", country: str | None = None
    ) -> _Context:
        raw = db.read_meta(engine, "guidance")
        if not raw:
            raise ExportError(
                "the catalog has no safety guidance (catalog/guidance.yaml), and no sheet is made without it"
            )
        vocabulary = db.load_vocabulary(engine)
        with Session(engine) as session:
            names = dict(session.execute(select(db.EntryRow.id, db.EntryRow.name)).all())
        return cls(
            labels={f: {t.id: t.label for t in terms} for f, terms in vocabulary.items()},
            rgb={t.id: t.rgb or "#888888" for t in vocabulary.get("colours", [])},
            sources=db.load_sources(engine),
            guidance=Guidance.model_validate(raw),
            names=names,
            digest=str(db.read_meta(engine, "digest") or "unknown")[:12],
            built=str(db.read_meta(engine, "built_at") or "")[:10],
            today=datetime.now(UTC).date().isoformat(),
            images_dir=images_dir or IMAGES_DIR,
            lang=lang,
            country=country,
        )

    def _(self, message: str, **values: Any) -> str:
        """`message` in the sheet's language (English when untranslated), with `{name}` values filled."""
        text = i18n.translations(self.lang, DOMAIN).gettext(message)
        return text.format(**values) if values else text

    @property
    def translated(self) -> bool:
        """Whether catalog text (in English) must be marked as untranslated on this sheet."""
        return self.lang != i18n.SOURCE_LANGUAGE

    def en(self, text: str) -> str:
        """Catalog text, which has no translation yet: marked as English on a sheet in another language."""
        return f"EN · {text}" if self.translated and text else text

    def digits(self, text: str) -> str:
        """Numbers the sheet writes itself, in the digits its readers expect (see `ARABIC_INDIC`)."""
        if self.lang == "ar" and self.country not in WESTERN_DIGITS:
            return text.translate(ARABIC_INDIC)
        return text

    def number(self, value: float) -> str:
        return self.digits(_num(value))

    def country_name(self, code: str) -> str:
        """A country's name in the sheet's language (CLDR, through Babel)."""
        return str(Locale.parse(self.lang).territories.get(code, code))

    def label(self, vocabulary: str, term: str) -> str:
        """A term's label from catalog/vocabulary.yaml, in the sheet's language (`sheets` domain)."""
        return self._(self.labels.get(vocabulary, {}).get(term, term))

    def source_short(self, key: str) -> str:
        """Publisher, title (year). URL: enough to find it again; unknown keys show as themselves."""
        source = self.sources.get(key)
        if source is None:
            return key
        year = str(source.get("date", ""))[:4]
        when = f" (accessed {year})" if source.get("accessed") else f" ({year})" if year else ""
        return f"{source['publisher']}, {source['title']}{when}. {source['url']}"

    def drawing(self, entry: Entry) -> tuple[bytes, float, float] | None:
        if entry.id not in self.drawings:
            self.drawings[entry.id] = _sheet_drawing(entry, self.rgb, self.images_dir)
        return self.drawings[entry.id]


# --- the drawing ------------------------------------------------------------------------------

SVG_NS = "http://www.w3.org/2000/svg"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ET.register_namespace("", SVG_NS)
_SUBSTITUTES = {"≈": "~"}
"""Characters Noto Sans lacks, in drawing labels (SVG text in fpdf2 has no font fallback)."""
SVG_LIMITS = """What fpdf2 2.8 SVG import gets wrong; how a drawing avoids it (or this module works round it):
- gradients in objectBoundingBox units come out as one flat colour: use gradientUnits="userSpaceOnUse"
  with absolute coordinates (rewritten here per shape);
- <text> is neither shaped nor given fallback fonts: Latin and Cyrillic only, no Arabic or Chinese, and
  only glyphs Noto Sans has (no "≈": it is replaced by "~" here);
- nothing is clipped to the viewBox: no full-page background rectangle (removed here);
- <title>, <desc> and <metadata> are logged as unsupported (removed here);
- whitespace in text collapses as in browsers: separate items with " · ", not runs of spaces.
"""


def _sheet_drawing(entry: Entry, rgb: dict[str, str], images_dir: Path) -> tuple[bytes, float, float] | None:
    """The entry's technical drawing as SVG ready for fpdf2, with its width and height in SVG units.

    images/<id>/drawing.svg when the build wrote it, else drawn now from the geometry. The title
    block is dropped (the sheet's header already names the item, shaped and in every script).
    """
    path = images_dir / entry.id / "drawing.svg"
    try:
        if path.exists():
            svg = path.read_text(encoding="utf-8")
        elif entry.geometry is not None:
            from ordnance_db.drawing import render_svg

            svg = render_svg(entry, rgb)
        else:
            return None
        return _prepare_svg(svg, entry)
    except Exception as exc:  # a drawing problem must not cost the sheet its safety content
        LOG.warning("%s: drawing left out of the sheet: %s", entry.id, exc)
        return None


def _prepare_svg(svg: str, entry: Entry) -> tuple[bytes, float, float]:
    """Adapt a drawing to what fpdf2's SVG import renders correctly (see `SVG_LIMITS`), cropped to
    what is drawn so it can be as large as the sheet allows."""
    root = ET.fromstring(svg)
    tag = f"{{{SVG_NS}}}"
    titles = {entry.name, *entry.names.values()}
    width, height = _svg_size(root)
    for parent in list(root.iter()):
        for child in list(parent):
            name = child.tag.removeprefix(tag)
            box = _element_box(child)
            if (
                name in ("title", "desc", "metadata")
                or (name == "text" and (child.get(XML_LANG) or (child.text or "").strip() in titles))
                or (name == "rect" and box is not None and box[1] <= 0 and box[3] >= height)
            ):
                parent.remove(child)  # title block, metadata and the page-size background
    for element in root.iter(f"{tag}text"):
        if element.text:
            for old, new in _SUBSTITUTES.items():
                element.text = element.text.replace(old, new)
    _gradients_to_user_space(root)
    x0, y0, x1, y1 = _drawn_extent(root, width, height)
    x0, y0, x1, y1 = x0 - 6, y0 - 6, x1 + 6, y1 + 6
    root.set("viewBox", f"{x0:.2f} {y0:.2f} {x1 - x0:.2f} {y1 - y0:.2f}")
    root.set("width", f"{x1 - x0:.2f}")
    root.set("height", f"{y1 - y0:.2f}")
    return ET.tostring(root, encoding="utf-8"), x1 - x0, y1 - y0


def _svg_size(root: ET.Element) -> tuple[float, float]:
    box = root.get("viewBox")
    if box:
        _, _, w, h = (float(v) for v in box.replace(",", " ").split())
        return w, h
    return float(root.get("width", "800").rstrip("px")), float(root.get("height", "400").rstrip("px"))


def _numbers(text: str | None) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text or "")]


def _element_box(element: ET.Element) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) of a polygon, polyline, line, rect or circle; None for anything else."""
    name = element.tag.rsplit("}", 1)[-1]
    get = element.get
    if name in ("polygon", "polyline"):
        values = _numbers(get("points"))
        xs, ys = values[0::2], values[1::2]
        return (min(xs), min(ys), max(xs), max(ys)) if xs and ys else None
    if name == "rect":
        x, y = float(get("x", 0)), float(get("y", 0))
        return x, y, x + float(get("width", 0)), y + float(get("height", 0))
    if name == "circle":
        cx, cy, r = float(get("cx", 0)), float(get("cy", 0)), float(get("r", 0))
        return cx - r, cy - r, cx + r, cy + r
    if name == "line":
        x1, y1, x2, y2 = (float(get(k, 0)) for k in ("x1", "y1", "x2", "y2"))
        return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)
    return None


def _gradients_to_user_space(root: ET.Element) -> None:
    """Rewrite bounding-box gradients as user-space ones, one per shape.

    fpdf2 2.8 maps objectBoundingBox gradients against the wrong box (shapes come out in one flat
    colour); userSpaceOnUse gradients render right, so each filled shape gets its own copy.
    """
    tag = f"{{{SVG_NS}}}"
    defs = root.find(f"{tag}defs")
    if defs is None:
        return
    gradients = {g.get("id"): g for g in defs if g.tag == f"{tag}linearGradient" and g.get("id")}
    made: dict[tuple[str, tuple[float, ...]], str] = {}
    for element in root.iter():
        match = re.fullmatch(r"url\(#([^)]+)\)", element.get("fill", ""))
        if not match or match[1] not in gradients:
            continue
        gradient = gradients[match[1]]
        if gradient.get("gradientUnits", "objectBoundingBox") != "objectBoundingBox":
            continue
        box = _element_box(element)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        key = (match[1], tuple(round(v, 2) for v in box))
        if key not in made:
            made[key] = f"{match[1]}-u{len(made)}"
            copy = ET.SubElement(defs, f"{tag}linearGradient", {"id": made[key]})
            copy.extend(list(gradient))

            def frac(name: str, default: float, source: ET.Element = gradient) -> float:
                value = source.get(name)
                if value is None:
                    return default
                return float(value[:-1]) / 100 if value.endswith("%") else float(value)

            copy.set("gradientUnits", "userSpaceOnUse")
            copy.set("x1", f"{x0 + frac('x1', 0) * (x1 - x0):.2f}")
            copy.set("y1", f"{y0 + frac('y1', 0) * (y1 - y0):.2f}")
            copy.set("x2", f"{x0 + frac('x2', 1) * (x1 - x0):.2f}")
            copy.set("y2", f"{y0 + frac('y2', 0) * (y1 - y0):.2f}")
        element.set("fill", f"url(#{made[key]})")


def _drawn_extent(root: ET.Element, width: float, height: float) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of what is drawn; text is measured at an average glyph width, generously."""
    xs: list[float] = []
    ys: list[float] = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "text":
            x, y = float(element.get("x", 0)), float(element.get("y", 0))
            size = float(element.get("font-size", 12))
            length = 0.58 * size * len(element.text or "")
            anchor = element.get("text-anchor", "start")
            before = {"start": 0.0, "middle": length / 2, "end": length}.get(anchor, 0.0)
            if "rotate" in element.get("transform", ""):
                xs += [x - 0.9 * size, x + 0.3 * size]
                ys += [y - length + before, y + before]
            else:
                xs += [x - before, x - before + length]
                ys += [y - 0.9 * size, y + 0.3 * size]
            continue
        box = _element_box(element)
        if box is not None:
            xs += [box[0], box[2]]
            ys += [box[1], box[3]]
    if not xs:
        return 0.0, 0.0, width, height
    return max(min(xs), 0.0), max(min(ys), 0.0), min(max(xs), width), min(max(ys), height)


# --- one sheet --------------------------------------------------------------------------------


def _sheet(pdf: _Document, ctx: _Context, entry: Entry, fit: _Fit, wide: bool, dry: bool) -> float:
    """Lay out one entry's sheet on the current page; returns the bottom of the content.

    `wide`: the drawing spans the page; otherwise it heads the left column, with the dimensions
    and hazards beside it.
    """
    pen = _Pen(pdf, dry)
    x, w = pdf.l_margin, pdf.epw
    y = _header(pen, ctx, entry, fit, x, pdf.t_margin, w)
    if entry.role:
        y += pen.text(x, y, w, ctx.en(_clip(entry.role, fit.role_chars)), fit.size, colour=MUTED) + 2.2
    gutter = 6.0
    left_w = round(w * 0.56, 1)
    right_x, right_w = x + left_w + gutter, w - left_w - gutter
    drawing = ctx.drawing(entry)
    left = y
    if drawing is not None and wide:
        y = left = _drawing(pen, drawing, x, y, w, fit.drawing_h) + 3
    elif drawing is not None:
        left = _drawing(pen, drawing, x, y, left_w, fit.drawing_h * 1.35) + 3
    numbers = _source_numbers(entry)
    left = _features(pen, ctx, entry, fit, x, left, left_w)
    right = _dimensions(pen, ctx, entry, numbers, fit, right_x, y, right_w)
    right = _hazards(pen, ctx, entry, fit, right_x, right, right_w)
    # Look-alikes go under whichever column leaves the shorter page: measured, then drawn.
    probe = _Pen(pdf, dry=True)
    under_left = _lookalikes(probe, ctx, entry, fit, x, left, left_w)
    under_right = _lookalikes(probe, ctx, entry, fit, right_x, right, right_w)
    if max(left, under_right) < max(under_left, right):
        right = _lookalikes(pen, ctx, entry, fit, right_x, right, right_w)
    else:
        left = _lookalikes(pen, ctx, entry, fit, x, left, left_w)
    y = max(left, right) + 1.5
    y = _safety(pen, ctx, fit.size, x, y, w, entry.category) + 2.5
    y = _sources(pen, ctx, numbers, fit, x, y, w)
    if not dry:
        _footer(pen, ctx, entry)
    return y


def _fit_sheet(pdf: _Document, ctx: _Context, entry: Entry) -> None:
    """Draw the sheet in the most detailed layout that fits one page (measured first, drawn once).

    Layouts with the drawing across the page come first, while it would fill three quarters of
    the width; then the drawing beside the dimensions, level by level.
    """
    limit = pdf.h - FOOTER_H - 1.5
    drawing = ctx.drawing(entry)
    candidates = [(fit, False) for fit in _FITS]
    if drawing is not None:
        _, svg_w, svg_h = drawing
        wide = [(f, True) for f in _FITS if min(pdf.epw, f.drawing_h * svg_w / svg_h) >= 0.75 * pdf.epw]
        candidates = wide + candidates
    for fit, wide_drawing in candidates:
        if _sheet(pdf, ctx, entry, fit, wide_drawing, dry=True) <= limit:
            break
        LOG.debug("%s: does not fit at %s (wide drawing: %s)", entry.id, fit, wide_drawing)
    else:
        LOG.warning("%s: sheet still too long at the smallest level; its end is cut off", entry.id)
    _sheet(pdf, ctx, entry, fit, wide_drawing, dry=False)


def _header(pen: _Pen, ctx: _Context, entry: Entry, fit: _Fit, x: float, y: float, w: float) -> float:
    pdf = pen.pdf
    category = ctx.label("categories", entry.category).upper()
    pdf.use(7.5, bold=True)
    pill_w = pdf.get_string_width(category) + 6
    pill_x = x + w - pill_w
    if not pen.dry:
        pdf.set_fill_color(*NAVY)
        pdf.rect(
            pdf.mirror(pill_x, pill_w), y + 1, pill_w, 5.6, style="F", round_corners=True, corner_radius=1.2
        )
        pdf.use(7.5, bold=True, colour=(255, 255, 255))
        pen.cell(pill_x, y + 1, pill_w, 5.6, category, align="C")
        pdf.use(7.5, colour=MUTED)
        origin = ctx._("Origin: {countries}", countries=", ".join(entry.origin))
        pen.cell(pill_x - 40, y + 7.6, pill_w + 40, 4, origin, align="R")
    name_w = w - pill_w - 4
    top = y
    y += pen.text(x, y, name_w, entry.name, 19, bold=True, leading=1.15)
    if entry.names:
        y += 0.6
        y = _script_names(pen, entry, x, y, name_w)
    y = max(y, top + 12)
    if entry.aliases:
        shown = entry.aliases[: fit.max_aliases]
        more = len(entry.aliases) - len(shown)
        aliases = " · ".join(shown)
        if more:
            aliases += " · " + ctx._("+{count} more", count=ctx.digits(str(more)))
        y += 0.8 + pen.text(x, y + 0.8, w, ctx._("Also called: {names}", names=aliases), 7.8, colour=MUTED)
    if ctx.translated:
        note = ctx._("EN: catalog text not yet translated, shown in English.")
        y += 0.8 + pen.text(x, y + 0.8, w, note, 7.8, bold=True, colour=AMBER)
    y += 1.6
    pen.rule(x, y, w, NAVY, 0.6)
    return y + 2.4


def _script_names(pen: _Pen, entry: Entry, x: float, y: float, w: float) -> float:
    """Each name in its own script's font (Arabic shaped, right to left) with its language code."""
    pdf = pen.pdf
    size, line_h = 13.0, 6.6
    cursor = x
    for lang, text in entry.names.items():
        family = pdf.family_for(text)
        pdf.use(size, family=family)
        text_w = pdf.get_string_width(text) + 0.5
        pdf.use(7, colour=MUTED)
        code_w = pdf.get_string_width(lang) + 1.5
        if cursor > x and cursor + text_w + code_w > x + w:
            cursor, y = x, y + line_h
        if not pen.dry:
            pdf.use(size, family=family)
            pen.cell(cursor, y, text_w, line_h, text)
            pdf.use(7, colour=MUTED)
            pen.cell(cursor + text_w + 0.6, y + 0.6, code_w, 3.2, lang)
        cursor += text_w + code_w + 5
    return y + line_h


def _drawing(
    pen: _Pen, drawing: tuple[bytes, float, float], x: float, y: float, w: float, max_h: float
) -> float:
    svg, svg_w, svg_h = drawing
    scale = min((w - 2) / svg_w, max_h / svg_h)
    draw_w, draw_h = svg_w * scale, svg_h * scale
    if not pen.dry:
        left = pen.pdf.mirror(x + (w - draw_w) / 2, draw_w)
        pen.pdf.image(io.BytesIO(svg), x=left, y=y, w=draw_w, h=draw_h)
    return y + draw_h


def _heading(
    pen: _Pen, x: float, y: float, w: float, text: str, colour: Rgb = NAVY, english: bool = False
) -> float:
    """A section heading; `english` marks a section of catalog text shown untranslated ("· EN")."""
    text = text.upper() + (" · EN" if english else "")
    h = pen.text(x, y, w, text, 7.6, bold=True, colour=colour)
    pen.rule(x, y + h + 0.2, w, colour if colour != NAVY else RULE, 0.25)
    return y + h + 1.4


def _definition(
    pen: _Pen, x: float, y: float, w: float, label: str, value: str, size: float, colour: Rgb = INK
) -> float:
    """A label in the margin column and its value beside it: quick to scan in the field."""
    label_w = 24.0
    pen.text(x, y, label_w, label, size - 0.6, bold=True, colour=MUTED)
    return y + pen.text(x + label_w, y, w - label_w, value, size, colour=colour) + 0.7


def _features(pen: _Pen, ctx: _Context, entry: Entry, fit: _Fit, x: float, y: float, w: float) -> float:
    f = entry.features
    size = fit.size
    t = ctx._
    y = _heading(pen, x, y, w, t("Key identification features"), english=ctx.translated)
    y = _definition(pen, x, y, w, t("Shape"), ctx.label("shapes", f.shape), size)
    stabilisation = ctx.label("stabilisation", f.stabilisation)
    if f.fin_count:
        stabilisation += " · " + t("{count} fins", count=ctx.digits(str(f.fin_count)))
    y = _definition(pen, x, y, w, t("Stabilisation"), stabilisation, size)
    y = _definition(pen, x, y, w, t("Fuze position"), ctx.label("fuze_positions", f.fuze_position), size)
    y = _colours(pen, ctx, f.colours, x, y, w, size)
    script = ctx.label("marking_scripts", f.marking_script)
    marking = f"{script}: " + " · ".join(f.marking_text) if f.marking_text else script
    y = _definition(pen, x, y, w, t("Markings"), _clip(marking, fit.max_chars), size)
    if f.mechanical:
        parts = ", ".join(ctx.label("mechanical", m) for m in f.mechanical)
        y = _definition(pen, x, y, w, t("Other features"), parts, size)
    if f.condition_notes:
        y = _definition(pen, x, y, w, t("Condition"), _clip(f.condition_notes, fit.max_chars), size)
    if entry.used_in:
        seen = list(dict.fromkeys(f"{u.country} {u.years}" for u in entry.used_in))
        y = _definition(pen, x, y, w, t("Reported in"), ", ".join(seen[: fit.max_items * 2]), size)
    for label, parties in ((t("Made by"), entry.producers), (t("Supplied by"), entry.suppliers)):
        if parties:
            text = "; ".join(p.name + (f" ({p.country})" if p.country else "") for p in parties)
            y = _definition(pen, x, y, w, label, _clip(text, fit.max_chars), size)
    if f.basis_note:
        note = _clip(f.basis_note, max(fit.max_chars // 2, 80))
        y = _definition(pen, x, y, w, t("Basis"), note, size - 0.6, colour=MUTED)
    elif not f.sources:
        reading = t("Our reading of public photographs.")
        y = _definition(pen, x, y, w, t("Basis"), reading, size - 0.6, colour=MUTED)
    return y


def _colours(
    pen: _Pen, ctx: _Context, colours: Sequence[str], x: float, y: float, w: float, size: float
) -> float:
    """Colour names with swatches, wrapping like text."""
    pdf = pen.pdf
    label_w = 24.0
    pen.text(x, y, label_w, ctx._("Colours"), size - 0.6, bold=True, colour=MUTED)
    line_h = size * PT * 1.25
    cursor, top = x + label_w, y
    swatch = size * PT * 0.8
    for colour in colours:
        label = ctx.label("colours", colour)
        pdf.use(size)
        item_w = swatch + 1.2 + pdf.get_string_width(label) + 3.5
        if cursor > x + label_w and cursor + item_w > x + w:
            cursor, top = x + label_w, top + line_h
        if not pen.dry:
            hex_rgb = ctx.rgb.get(colour, "#888888").lstrip("#")
            fill = (int(hex_rgb[0:2], 16), int(hex_rgb[2:4], 16), int(hex_rgb[4:6], 16))
            pen.rect(cursor, top + (line_h - swatch) / 2, swatch, swatch, fill, (110, 110, 110))
            pdf.use(size)
            pen.cell(cursor + swatch + 1.2, top, item_w - swatch - 1.2, line_h, label)
        cursor += item_w
    return top + line_h + 0.7


def _lookalikes(pen: _Pen, ctx: _Context, entry: Entry, fit: _Fit, x: float, y: float, w: float) -> float:
    if not entry.lookalikes:
        return y
    title = ctx._("Look-alikes — how to tell them apart")
    y = _heading(pen, x, y + 1.8, w, title, english=ctx.translated)
    shown = entry.lookalikes[: fit.max_items]
    for item in shown:
        name = ctx.names.get(item.id, item.id)
        y += pen.text(x, y, w, name, fit.size, bold=True)
        y += pen.text(x + 3, y, w - 3, _clip(item.how_to_tell, fit.max_chars), fit.size) + 1.0
    if len(entry.lookalikes) > len(shown):
        more = ctx._(
            "+{count} more in the catalog", count=ctx.digits(str(len(entry.lookalikes) - len(shown)))
        )
        y += pen.text(x, y, w, more, fit.size - 0.6, colour=MUTED)
    return y


def _source_numbers(entry: Entry) -> list[str]:
    """Sources in display order: those behind dimensions first (their numbers appear in the table),
    then the entry's own list, then any other cited source."""
    names = ("length_mm", "diameter_mm", "span_mm", "weight_kg", "actual_weight_kg")
    dims = [getattr(entry.dimensions, n) for n in names]
    keys = [d.source for d in dims if d is not None and d.source]
    keys += list(entry.sources)
    keys += sorted(entry.cited_sources() - set(keys))
    return list(dict.fromkeys(keys))


_BASES = {
    "source": N_("source"),
    "reference": N_("reference"),
    "nominal": N_("nominal"),
    "estimate": N_("estimate"),
}


def _dimensions(
    pen: _Pen, ctx: _Context, entry: Entry, numbers: list[str], fit: _Fit, x: float, y: float, w: float
) -> float:
    t = ctx._
    y = _heading(pen, x, y, w, t("Dimensions"))
    mm, kg = t("mm"), t("kg")
    rows = [
        (label, getattr(entry.dimensions, name), unit)
        for label, name, unit in (
            (t("Length"), "length_mm", mm),
            (t("Diameter"), "diameter_mm", mm),
            (t("Fin span"), "span_mm", mm),
            (t("Weight"), "weight_kg", kg),
            (t("Actual mass"), "actual_weight_kg", kg),
        )
    ]
    rows = [(label, dim, unit) for label, dim, unit in rows if dim is not None]
    if not rows:
        return y + pen.text(x, y, w, t("No dimensions recorded."), fit.size, colour=MUTED) + 1
    size = fit.size
    row_h = size * PT * 1.55
    label_w, value_w = w * 0.27, w * 0.28
    basis_w = w - label_w - value_w
    pdf = pen.pdf
    marked = False
    for i, (label, dim, unit) in enumerate(rows):
        if i % 2 == 0:
            pen.rect(x, y, w, row_h, ZEBRA)
        cited = ""
        if dim.source:
            number = numbers.index(dim.source) + 1 if dim.source in numbers else None
            cited = (f"[{ctx.digits(str(number))}] " if number else "") + dim.source
        if dim.basis == "source":
            basis, basis_colour = cited, MUTED
        else:
            basis_word = t(_BASES[dim.basis]) if dim.basis in _BASES else dim.basis
            basis, basis_colour, marked = f"{basis_word} {cited}".strip(), AMBER, True
        if not pen.dry:
            for text, left, width, bold, colour, align in (
                (label, x + 1, label_w - 1, True, MUTED, "L"),
                (f"{ctx.number(dim.value)} {unit}", x + label_w, value_w - 2, True, INK, "R"),
                (basis, x + label_w + value_w, basis_w - 1, False, basis_colour, "L"),
            ):
                pdf.use(size - (0.8 if text is basis else 0), bold, colour)
                pen.cell(left, y, width, row_h, _fit_width(pdf, text, width), align=align)
        y += row_h
    if marked:
        note = t(
            "reference: a commonly published figure, primary source not reviewed; nominal: the class "
            "in the name; estimate: worked out from photographs."
        )
        y += 0.8 + pen.text(x, y + 0.8, w, note, size - 1.4, colour=MUTED)
    return y + 1


def _bullets(pen: _Pen, items: Sequence[str], x: float, y: float, w: float, size: float) -> float:
    for item in items:
        pen.text(x, y, 3, "•", size)
        y += pen.text(x + 3, y, w - 3, item, size) + 0.7
    return y


def _hazards(pen: _Pen, ctx: _Context, entry: Entry, fit: _Fit, x: float, y: float, w: float) -> float:
    y = _heading(pen, x, y + 1.8, w, ctx._("Hazards"), RED, english=ctx.translated)
    shown = [_clip(h, fit.max_chars) for h in entry.hazards[: fit.max_items]]
    y = _bullets(pen, shown, x, y, w, fit.size)
    if len(entry.hazards) > len(shown):
        more = ctx._("+{count} more in the catalog", count=ctx.digits(str(len(entry.hazards) - len(shown))))
        y += pen.text(x + 3, y, w - 3, more, fit.size - 0.6)
    return y


def _safety(
    pen: _Pen,
    ctx: _Context,
    size: float,
    x: float,
    y: float,
    w: float,
    category: str | None = None,
) -> float:
    """The fixed safety panel, never shortened: only its type size follows the fit level.

    `category` adds that category's warnings; the reporting contacts are those of the sheet's
    country (`ctx.country`) and no other's.
    """
    size = max(size, 7.4)
    pad = 2.6
    inner_x, inner_w = x + pad + 1, w - 2 * pad - 1
    args = (ctx, size, inner_x, y + pad, inner_w, category)
    height = _safety_body(_Pen(pen.pdf, dry=True), *args) - y + pad
    if not pen.dry:
        pen.rect(x, y, w, height, PALE_RED)
        pen.rect(x, y, 1.4, height, RED)
        _safety_body(pen, *args)
    return y + height


GENERAL_REPORT = N_("Report it to the police, the emergency services or the national mine action authority.")
UNREVIEWED = N_(
    "This translation of the safety text is machine-drafted and not yet reviewed by a native mine-action "
    "speaker; when in doubt, follow local authorities."
)


def _contacts(ctx: _Context) -> tuple[str, list[str]]:
    """The reporting line for the sheet's country and the notes on its contacts (catalog text).

    Without a country: the general message and "choose your country", never a list of other
    countries' numbers; a country we have no contact for says so, with the general message.
    """
    t = ctx._
    if ctx.country is None:
        choose = t("Choose your country (export --country XX) to see its reporting contacts.")
        return f"{t(GENERAL_REPORT)} {choose}", []
    name = ctx.country_name(ctx.country)
    contacts = [c for c in ctx.guidance.contacts if c.country == ctx.country]
    if not contacts:
        return t("We have no reporting contact for {country} yet.", country=name) + " " + t(
            GENERAL_REPORT
        ), []
    line = "; ".join(f"{c.reach()} — {c.label}" for c in contacts)
    notes = [ctx.en(c.note) for c in contacts if c.note]
    return t("Report in {country} to: {contacts}", country=name, contacts=line), notes


def _safety_body(
    pen: _Pen,
    ctx: _Context,
    size: float,
    x: float,
    y: float,
    w: float,
    category: str | None,
) -> float:
    g = ctx.guidance
    t = ctx._
    _warning_sign(pen, x, y + 0.2, 4.6)
    y += pen.text(x + 6.5, y, w - 6.5, t(g.title), size + 1.8, bold=True, colour=RED) + 0.8
    half = (w - 5) / 2
    split = (len(g.panel) + 1) // 2
    panel = [t(item) for item in g.panel]
    y = max(
        _bullets(pen, panel[:split], x, y, half, size),
        _bullets(pen, panel[split:], x + half + 5, y, half, size),
    )
    warnings = [t(warning) for warning in g.category_warnings.get(category, [])] if category else []
    if warnings:
        label = ctx.label("categories", category or "")
        y += 0.4 + pen.text(x, y + 0.4, w, f"{label}: " + " ".join(warnings), size, bold=True, colour=RED)
    line, notes = _contacts(ctx)
    y += 0.6 + pen.text(x, y + 0.6, w, line, size, bold=True)
    for note in notes:
        y += 0.3 + pen.text(x, y + 0.3, w, note, size - 1.4, colour=MUTED)
    if ctx.translated and not safety_reviewed(ctx.lang, ctx.guidance):
        y += 0.6 + pen.text(x, y + 0.6, w, t(UNREVIEWED), size - 1.2, bold=True, colour=AMBER)
    standards = "; ".join(_standard_short(ctx, key) for key in g.standards)
    note = t("This panel follows, in our own words: {standards}.", standards=standards)
    y += 0.6 + pen.text(x, y + 0.6, w, note, size - 1.4, colour=MUTED)
    return y


REVIEWED = "review: reviewed"
"""How a translator comment in a `sheets.po` starts once a native mine-action speaker has checked
that safety text; until then it reads `review: machine-drafted, not yet reviewed ...`."""


@lru_cache(maxsize=8)
def review_status(lang: str) -> dict[str, str]:
    """Each safety text's review status in one language, from the `# review:` comments of its
    `sheets.po` (msgid -> status); texts without such a comment are missing from the result."""
    from babel.messages.pofile import read_po

    path = i18n.catalogue_path(lang, DOMAIN)
    if not path.is_file():
        return {}
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    status: dict[str, str] = {}
    for message in catalog:
        for comment in message.user_comments:
            if comment.startswith("review:") and isinstance(message.id, str):
                status[message.id] = comment
    return status


def safety_texts(guidance: Guidance) -> list[str]:
    """The texts whose translation carries a review status: the panel, its title and the warnings."""
    texts = [guidance.title, *guidance.panel, GENERAL_REPORT, UNREVIEWED]
    texts += [w for warnings in guidance.category_warnings.values() for w in warnings]
    return texts


def safety_reviewed(lang: str, guidance: Guidance) -> bool:
    """True only when every safety text of `lang` has been reviewed by a native speaker."""
    status = review_status(lang)
    return all(status.get(text, "").startswith(REVIEWED) for text in safety_texts(guidance))


def _standard_short(ctx: _Context, key: str) -> str:
    source = ctx.sources.get(key)
    if source is None:
        return key
    return f"{source['title']} ({str(source.get('date', ''))[:4]})"


def _warning_sign(pen: _Pen, x: float, y: float, size: float) -> None:
    if pen.dry:
        return
    pdf = pen.pdf
    pdf.set_fill_color(*RED)
    left = pdf.mirror(x, size)
    pdf.polygon([(left, y + size), (left + size / 2, y), (left + size, y + size)], style="F")
    pdf.use(size * 1.9, bold=True, colour=(255, 255, 255))
    pen.cell(x, y + size * 0.2, size, size * 0.8, "!", align="C")


def _sources(pen: _Pen, ctx: _Context, keys: list[str], fit: _Fit, x: float, y: float, w: float) -> float:
    y = _heading(pen, x, y, w, ctx._("Sources"))
    shown = keys[: fit.max_sources]
    size = fit.size - 1.2
    for number, key in enumerate(shown, start=1):
        url = ctx.sources.get(key, {}).get("url")
        pen.text(x, y, 6, f"[{ctx.digits(str(number))}]", size, colour=MUTED)
        y += pen.text(x + 6, y, w - 6, ctx.source_short(key), size, link=url) + 0.35
    if len(keys) > len(shown):
        more = ctx._("+{count} more in the catalog", count=ctx.digits(str(len(keys) - len(shown))))
        y += pen.text(x + 6, y, w - 6, more, size, colour=MUTED)
    return y


def _footer(pen: _Pen, ctx: _Context, entry: Entry | None) -> None:
    pdf = pen.pdf
    y = pdf.h - FOOTER_H + 2
    pen.rule(pdf.l_margin, y, pdf.epw, RULE, 0.3)
    t = ctx._
    left = t(
        "Catalog {digest} (built {built}) · printed {today}",
        digest=ctx.digest,
        built=ctx.built,
        today=ctx.today,
    )
    left += f" · {t(LICENCE)}"
    if entry is not None:
        left += f" · {entry.id}"
    if ctx.booklet:
        left += " · " + t("page {number}", number=ctx.digits(str(pdf.page_no())))
    disclaimer = t(DISCLAIMER)
    pdf.use(7.2, bold=True, colour=RED)
    disclaimer_w = pdf.get_string_width(disclaimer) + 1
    pen.cell(pdf.l_margin + pdf.epw - disclaimer_w, y + 1.1, disclaimer_w, 4, disclaimer, align="R")
    pdf.use(6.6, colour=MUTED)
    room = pdf.epw - disclaimer_w - 4
    pen.cell(pdf.l_margin, y + 1.2, room, 4, _fit_width(pdf, left, room))


# --- the booklet ------------------------------------------------------------------------------

_TOC_LINE = 5.2
_TOC_HEAD = 16.0


def _toc_capacity(pdf: FPDF) -> tuple[int, int]:
    """Lines on the first contents page (below the heading) and on each later one."""
    usable = pdf.h - pdf.t_margin - FOOTER_H - 4
    return int((usable - _TOC_HEAD) // _TOC_LINE), int(usable // _TOC_LINE)


def _toc_pages(pdf: FPDF, count: int) -> int:
    first, later = _toc_capacity(pdf)
    return 1 if count <= first else 1 + math.ceil((count - first) / later)


def _cover(pdf: _Document, ctx: _Context, entries: Sequence[Entry], selection: str) -> None:
    pen = _Pen(pdf, dry=False)
    t = ctx._
    x, w = pdf.l_margin, pdf.epw
    pdf.add_page()
    pdf.set_fill_color(*NAVY)
    pdf.rect(0, 0, pdf.w, 62, style="F")
    y = 18.0
    y += pen.text(x, y, w, t("UXO FIELD BOOKLET"), 11, bold=True, colour=(200, 212, 228))
    title = t("Unexploded ordnance identification reference")
    y += pen.text(x, y + 1, w, title, 22, bold=True, colour=(255, 255, 255))
    count = t(
        "Reference sheets: {count} · printed {today}", count=ctx.digits(str(len(entries))), today=ctx.today
    )
    pen.text(x, y + 4, w, count, 11, colour=(220, 228, 238))
    y = 72.0
    y = _heading(pen, x, y, w, t("Selection"))
    y += pen.text(x, y, w, selection[:1].upper() + selection[1:], 10) + 4
    categories: dict[str, int] = {}
    for entry in entries:
        categories[entry.category] = categories.get(entry.category, 0) + 1
    summary = ", ".join(
        f"{ctx.label('categories', c)} {ctx.digits(str(n))}" for c, n in sorted(categories.items())
    )
    y += pen.text(x, y, w, t("By category: {summary}.", summary=summary), 9, colour=MUTED) + 6
    y = _heading(pen, x, y, w, t("How to use this booklet"))
    usage = t(
        "Each sheet shows one item: its names in every script, a dimensioned drawing, the features that "
        "identify it, its hazards, the items it is confused with and how to tell them apart, and the "
        "sources behind every number. Numbers marked 'estimate' or 'nominal' are not stated by a source. "
        "The contents list the sheets; the index at the back finds an item by any of its names, in Latin, "
        "Cyrillic, Arabic or Chinese script."
    )
    y += pen.text(x, y, w, usage, 9.5) + 6
    _safety(pen, ctx, 9.6, x, y, w)
    pen.text(
        x,
        pdf.h - FOOTER_H - 14,
        w,
        t(
            "An identification aid only. It never shows how to handle, move or make safe an item: "
            "anything suspicious is left alone and reported."
        ),
        9,
        bold=True,
        colour=RED,
    )
    _footer(pen, ctx, None)


def _render_toc(ctx: _Context, categories: dict[str, str]) -> Callable[[FPDF, list[OutlineSection]], None]:
    def render(pdf: FPDF, outline: list[OutlineSection]) -> None:
        doc: _Document = pdf  # type: ignore[assignment]
        pen = _Pen(doc, dry=False)
        x, w = doc.l_margin, doc.epw
        first, later = _toc_capacity(doc)
        y = doc.t_margin
        pen.text(x, y, w, ctx._("Contents"), 20, bold=True, colour=NAVY)
        y += _TOC_HEAD
        left = first
        sections = [s for s in outline if s.level == 0]
        for section in sections:
            if left == 0:
                _footer(pen, ctx, None)
                doc.add_page()
                y, left = doc.t_margin, later
            category = categories.get(section.name, "")
            doc.use(9.5, bold=True, family=doc.family_for(section.name))
            name_w = doc.get_string_width(section.name)
            link = doc.add_link(page=section.page_number)
            pen.cell(x, y, name_w + 1, _TOC_LINE, section.name, link=link)
            doc.use(8, colour=MUTED)
            cat_w = doc.get_string_width(category) + 3
            pen.cell(x + name_w + 3, y, cat_w, _TOC_LINE, category)
            dots_x = x + name_w + cat_w + 5
            doc.set_draw_color(*RULE)
            doc.set_line_width(0.2)
            doc.set_dash_pattern(dash=0.4, gap=1.2)
            dots_w = x + w - 12 - dots_x
            dots_left = doc.mirror(dots_x, dots_w)
            doc.line(dots_left, y + _TOC_LINE * 0.72, dots_left + dots_w, y + _TOC_LINE * 0.72)
            doc.set_dash_pattern()
            doc.use(9.5, bold=True)
            pen.cell(x + w - 12, y, 12, _TOC_LINE, ctx.digits(str(section.page_number)), align="R")
            y += _TOC_LINE
            left -= 1
        _footer(pen, ctx, None)

    return render


_SCRIPT_ORDER = ("latin", "cyrillic", "arabic", "chinese")


def _script_of(text: str) -> str:
    if _is_arabic(text):
        return "arabic"
    if _is_cjk(text):
        return "chinese"
    if any("\u0400" <= c <= "\u04ff" for c in text):
        return "cyrillic"
    return "latin"


def _index(pdf: _Document, ctx: _Context, pages: list[tuple[Entry, int]]) -> None:
    """Every name, name in another script and alias, grouped by script, with its sheet's page."""
    found: dict[str, set[int]] = {}
    for entry, page in pages:
        for text in dict.fromkeys(entry.all_names()):
            found.setdefault(text, set()).add(page)
    items = sorted(found.items(), key=lambda kv: (_SCRIPT_ORDER.index(_script_of(kv[0])), kv[0].casefold()))
    pen = _Pen(pdf, dry=False)
    columns, gap, line_h = 3, 5.0, 4.3
    col_w = (pdf.epw - gap * (columns - 1)) / columns
    bottom = pdf.h - FOOTER_H - 2

    def new_page() -> float:
        pdf.add_page()
        return (
            pdf.t_margin
            + pen.text(
                pdf.l_margin, pdf.t_margin, pdf.epw, ctx._("Index of names"), 20, bold=True, colour=NAVY
            )
            + 3
        )

    top = new_page()
    column, y = 0, top
    script = None
    for text, page_set in items:
        needed = line_h * (3 if _script_of(text) != script else 1)
        if y + needed > bottom:
            column += 1
            y = top
            if column == columns:
                _footer(pen, ctx, None)
                top = new_page()
                column, y = 0, top
        x = pdf.l_margin + column * (col_w + gap)
        if _script_of(text) != script:
            script = _script_of(text)
            label = ctx.label("marking_scripts", script)
            y += 1.5 if y > top else 0
            pdf.use(8, bold=True, colour=NAVY)
            pen.cell(x, y, col_w, line_h, label.upper())
            pen.rule(x, y + line_h, col_w, RULE, 0.25)
            y += line_h + 0.6
        numbers = ctx.digits(
            "، ".join(str(p) for p in sorted(page_set))
            if pdf.rtl
            else ", ".join(str(p) for p in sorted(page_set))
        )
        pdf.use(8)
        numbers_w = pdf.get_string_width(numbers) + 2
        family = pdf.family_for(text)
        pdf.use(8, family=family)
        shown = _fit_width(pdf, text, col_w - numbers_w - 1)
        pen.cell(x, y, col_w - numbers_w, line_h, shown, link=pdf.add_link(page=min(page_set)))
        pdf.use(8, bold=True, colour=MUTED)
        pen.cell(x + col_w - numbers_w, y, numbers_w, line_h, numbers, align="R")
        y += line_h
    _footer(pen, ctx, None)


# --- public PDF API ---------------------------------------------------------------------------


def _needs_cjk(entries: Sequence[Entry]) -> bool:
    return any(_is_cjk(t) for e in entries for t in (*e.all_names(), *e.features.marking_text))


def pdf_bytes(
    engine: Engine,
    entries: Sequence[Entry],
    paper: Paper | str = "A4",
    selection: str | None = None,
    images_dir: Path | None = None,
    lang: str = "en",
    country: str | None = None,
) -> bytes:
    """One entry: its one-page reference sheet. Several: a field booklet.

    `selection` describes on the booklet's cover what was selected (see `describe_selection`).
    `lang` is the language of the sheet's own text (`sheets` domain; Arabic is right to left);
    `country` (ISO 3166 alpha-2) chooses the reporting contacts: without it the sheet gives the
    general message and asks the reader to choose, never another country's numbers.
    """
    if not entries:
        raise ExportError("the selection is empty: there is nothing to export")
    lang, country = check_language(lang), check_country(country)
    ctx = _Context.load(engine, images_dir, lang=lang, country=country)
    pdf = _Document(paper, _needs_cjk(entries), lang=lang, rtl=i18n.get_language(lang).direction == "rtl")
    try:
        if len(entries) == 1:
            entry = entries[0]
            pdf.set_title(ctx._("{name} — reference sheet", name=entry.name))
            pdf.add_page()
            _fit_sheet(pdf, ctx, entry)
        else:
            _booklet(
                pdf, ctx, entries, selection or ctx._("Entries: {count}", count=ctx.digits(str(len(entries))))
            )
        return bytes(pdf.output())
    except FPDFException as exc:
        raise ExportError(f"could not make the PDF: {exc}") from exc


def _booklet(pdf: _Document, ctx: _Context, entries: Sequence[Entry], selection: str) -> None:
    ctx.booklet = True
    pdf.set_title(ctx._("UXO field booklet"))
    _cover(pdf, ctx, entries, selection)
    pdf.add_page()
    categories = {e.name: ctx.label("categories", e.category) for e in entries}
    pdf.insert_toc_placeholder(_render_toc(ctx, categories), pages=_toc_pages(pdf, len(entries)))
    pages: list[tuple[Entry, int]] = []
    for number, entry in enumerate(entries):
        if number:  # the contents placeholder ends by opening the first sheet's page
            pdf.add_page()
        pdf.start_section(entry.name, level=0)
        pages.append((entry, pdf.page_no()))
        _fit_sheet(pdf, ctx, entry)
    _index(pdf, ctx, pages)


def write_pdf(
    engine: Engine,
    entries: Sequence[Entry],
    path: str | os.PathLike[str],
    paper: Paper | str = "A4",
    selection: str | None = None,
    lang: str = "en",
    country: str | None = None,
) -> Path:
    """Write a sheet (one entry) or a booklet (several) to `path`, atomically."""
    return _write_atomic(path, pdf_bytes(engine, entries, paper, selection, lang=lang, country=country))


def check_language(code: str) -> str:
    """A language the sheets ship in, or an `ExportError` naming those that exist."""
    codes = i18n.language_codes()
    if code not in codes:
        raise ExportError(f"no sheets in language {code!r}; choose one of {', '.join(codes)}")
    return code


def check_country(code: str | None) -> str | None:
    """An ISO 3166 alpha-2 country code (any case) as upper case, or an `ExportError`."""
    if code is None:
        return None
    upper = code.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", upper) or upper not in Locale.parse("en").territories:
        raise ExportError(f"{code!r} is not a country code; give two letters such as SY, IQ or UA")
    return upper


def render_sheet_png(
    engine: Engine,
    entry_id: str,
    out_png: str | os.PathLike[str],
    paper: Paper | str = "A4",
    dpi: int = 110,
    lang: str = "en",
    country: str | None = None,
) -> Path:
    """One sheet as a PNG, rendered by PDFium (pypdfium2, from PyPI: no system tool needed)."""
    entries = select_entries(engine, [entry_id])
    target = Path(out_png)
    if not target.parent.is_dir():
        raise ExportError(f"cannot write {target}: the folder {target.parent} does not exist")
    document = pypdfium2.PdfDocument(pdf_bytes(engine, entries, paper, lang=lang, country=country))
    try:
        picture = document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    _write_atomic(target, buffer.getvalue())
    return target


DOCS_SHEETS = ("ofab-250-270", "volcano-iram")
"""A Cyrillic-named and an Arabic-named entry: the two scripts a layout change is most likely to break."""
DOCS_TRANSLATED = (("ofab-250-270", "ar", "SY"), ("ofab-250-270", "uk", "UA"))
"""The README's sheets in another language: Arabic (right to left) for Syria, Ukrainian for Ukraine."""


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ordnance_db.export --docs`: refresh docs/sheet-<id>.png (and -<lang>-<country>.png)."""
    parser = argparse.ArgumentParser(prog="python -m ordnance_db.export", description=main.__doc__)
    parser.add_argument("--docs", action="store_true", help="render the sample sheets into docs/")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder for the PNGs (default: docs/)")
    parser.add_argument("ids", nargs="*", default=list(DOCS_SHEETS), help="entries to render")
    args = parser.parse_args(argv)
    if not args.docs:
        parser.print_help()
        return 2
    engine = db.get_engine()
    db.ensure_built(engine)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        for entry_id in args.ids:
            print(render_sheet_png(engine, entry_id, out / f"sheet-{entry_id}.png"))
        if args.ids == list(DOCS_SHEETS):
            for entry_id, lang, country in DOCS_TRANSLATED:
                target = out / f"sheet-{entry_id}-{lang}-{country}.png"
                print(render_sheet_png(engine, entry_id, target, lang=lang, country=country))
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
