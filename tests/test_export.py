"""Reference sheets, booklets and data exports, read back the way people and tools read them.

PDFs are read with both pypdf and poppler's pdftotext. Latin and Cyrillic are checked with both.
Arabic is checked with pdftotext only: poppler reorders right-to-left runs into logical order
(the order the letters are typed and searched in), while pypdf returns the words of a mixed or
multi-word line in visual order (e.g. "القسام صاروخ" for "صاروخ القسام"). fpdf2 positions shaped
Arabic glyphs one by one, so pdftotext may put a space inside a word ("ق سام"); comparisons
therefore ignore whitespace and bidi control marks.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from ordnance_db import db, export
from ordnance_db.catalog import load_catalog
from ordnance_db.export import (
    CSV_COLUMNS,
    DISCLAIMER,
    LICENCE,
    ExportError,
    csv_bytes,
    describe_selection,
    json_bytes,
    pdf_bytes,
    render_sheet_png,
    select_entries,
    write_csv,
    write_json,
    write_pdf,
)
from ordnance_db.schema import Entry, Guidance
from ordnance_db.search import Query
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR
from tests.conftest import make_entry

_INVISIBLE = re.compile(r"[\s\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def squash(text: str) -> str:
    """Text without whitespace or bidi marks: wrapping and glyph-by-glyph placement don't matter."""
    return _INVISIBLE.sub("", text)


def pdftotext_pages(data: bytes, tmp_path: Path) -> list[str]:
    """Pages as poppler reads them; a system tool, so a skip without it unless CI is set."""
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but pdftotext is missing: .ci/run must install poppler-utils")
        pytest.skip("poppler's pdftotext is not installed (apt-get install poppler-utils)")
    path = tmp_path / "read.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    # poppler wraps the lines of a page it reads as right to left (an index page of Arabic and
    # Hebrew names) in bidi embedding marks; they are its reading, not the page's text.
    out = re.sub("[\u202a-\u202e\u2066-\u2069]", "", out)
    return out.split("\f")[: len(PdfReader(io.BytesIO(data)).pages)]


def pypdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


# --- sheets -----------------------------------------------------------------------------------

SHEETS = ["ofab-250-270", "volcano-iram", "qassam-type-rocket", "type-72"]


@pytest.mark.parametrize("entry_id", SHEETS)
def test_sheet_is_one_page_with_names_safety_and_sources(
    catalog_engine: Engine, guidance: Guidance, entry_id: str, tmp_path: Path
) -> None:
    entry = select_entries(catalog_engine, [entry_id])[0]
    data = pdf_bytes(catalog_engine, [entry])
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    poppler = squash(pdftotext_pages(data, tmp_path)[0])
    pypdf = squash(pypdf_pages(data)[0])
    sources = db.load_sources(catalog_engine)
    expected = [entry.name, guidance.title, *guidance.panel, DISCLAIMER, LICENCE]
    expected += [sources[key]["url"] for key in entry.sources]
    expected += [t for t in entry.names.values() if re.search("[\u0400-\u04ff]", t)]
    for text in expected:
        assert squash(text) in poppler, text
    for text in [entry.name, guidance.title, DISCLAIMER]:
        assert squash(text) in pypdf, text
    for warning in guidance.category_warnings.get(entry.category, []):
        assert squash(warning) in poppler


@pytest.mark.parametrize(
    ("entry_id", "arabic"),
    [("volcano-iram", "بركان"), ("qassam-type-rocket", "قسام"), ("qassam-type-rocket", "صاروخ القسام")],
)
def test_arabic_extracts_in_logical_order(
    catalog_engine: Engine, entry_id: str, arabic: str, tmp_path: Path
) -> None:
    data = pdf_bytes(catalog_engine, select_entries(catalog_engine, [entry_id]))
    text = squash(pdftotext_pages(data, tmp_path)[0])
    assert squash(arabic) in text
    assert squash(arabic)[::-1] not in text  # not mirrored into visual order


def test_cyrillic_reads_back_with_both_extractors(catalog_engine: Engine, tmp_path: Path) -> None:
    data = pdf_bytes(catalog_engine, select_entries(catalog_engine, ["ofab-250-270"]))
    assert "ОФАБ-250-270" in pdftotext_pages(data, tmp_path)[0]
    assert "ОФАБ-250-270" in pypdf_pages(data)[0]


def test_sheet_says_how_each_number_is_known(catalog_engine: Engine, tmp_path: Path) -> None:
    data = pdf_bytes(catalog_engine, select_entries(catalog_engine, ["mk-84"]))
    text = squash(pdftotext_pages(data, tmp_path)[0])
    assert "Weight907kgnominal[1]" in text
    assert "Actualmass945kg[1]foldertekno" in text
    assert "reference:acommonlypublishedfigure" in text


def test_sheet_for_syria_shows_syrian_contacts_only(catalog_engine: Engine, tmp_path: Path) -> None:
    data = pdf_bytes(catalog_engine, select_entries(catalog_engine, ["ofab-250-270"]), country="SY")
    text = squash(pdftotext_pages(data, tmp_path)[0])
    assert squash("Report in Syria to: https://t.me/s/SyriaDefence — Syrian Civil Defence") in text
    assert squash("State Emergency Service of Ukraine") not in text


def test_sheet_without_a_country_gives_the_general_message_and_no_numbers(
    catalog_engine: Engine, guidance: Guidance, tmp_path: Path
) -> None:
    """An item used in Syria and Ukraine: without --country, neither country's contacts (issue 18)."""
    data = pdf_bytes(catalog_engine, select_entries(catalog_engine, ["ofab-250-270"]))
    text = squash(pdftotext_pages(data, tmp_path)[0])
    assert squash(export.GENERAL_REPORT) in text
    assert squash("Choose your country") in text
    for contact in guidance.contacts:
        assert squash(f"{contact.reach()} — {contact.label}") not in text, contact.label


def test_sheet_names_producer_and_supplier(catalog_engine: Engine, tmp_path: Path) -> None:
    data = pdf_bytes(catalog_engine, select_entries(catalog_engine, ["cbu-58"]))
    text = squash(pdftotext_pages(data, tmp_path)[0])
    for text_on_sheet in ("Made by", "Honeywell Corporation (US)", "Supplied by", "United States (US)"):
        assert squash(text_on_sheet) in text, text_on_sheet


def test_chinese_name_is_drawn(catalog_engine: Engine, tmp_path: Path) -> None:
    data = pdf_bytes(catalog_engine, select_entries(catalog_engine, ["type-72"]))
    assert "72式" in squash(pdftotext_pages(data, tmp_path)[0])


def test_drawing_is_vector_not_a_picture(catalog_engine: Engine) -> None:
    data = pdf_bytes(catalog_engine, select_entries(catalog_engine, ["ofab-250-270"]))
    page = PdfReader(io.BytesIO(data)).pages[0]
    xobjects = page["/Resources"].get("/XObject", {})
    assert all(xobjects[name].get_object().get("/Subtype") != "/Image" for name in xobjects)
    content = page.get_contents().get_data().decode("latin-1")
    assert content.count(" re") + content.count(" l\n") + content.count(" c ") > 20  # paths drawn


def test_letter_paper(catalog_engine: Engine) -> None:
    data = pdf_bytes(catalog_engine, select_entries(catalog_engine, ["rbk-500-series"]), paper="Letter")
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    assert [round(float(v)) for v in reader.pages[0].mediabox[2:]] == [612, 792]


def test_unknown_paper_is_an_export_error(catalog_engine: Engine) -> None:
    with pytest.raises(ExportError, match="paper"):
        pdf_bytes(catalog_engine, select_entries(catalog_engine, ["pmn"]), paper="A3")


@pytest.fixture(scope="module")
def long_catalog(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The real catalog plus one entry with far more text than a page holds, and markup-like text.

    Added to the validated catalog in memory (the validator would rightly ask for mutual
    look-alikes and cited sources), then built into the database like any catalog.
    """
    catalog = load_catalog(CATALOG_DIR, IMAGES_DIR)
    words = "Keep well away from it and report it to the authorities straight away. "
    long_entry = make_entry(
        "very-long-entry",
        name="VERY-LONG-1",
        names={"ru": "ОЧЕНЬ-ДЛИННЫЙ-1", "ar": "طويل جدا", "zh": "很长的一号"},
        aliases=[f"Long alias number {i}" for i in range(40)],
        role="**not bold** <b>not html</b> [not a link](x) " + words * 40,
        hazards=[words * 50 for _ in range(12)],
        lookalikes=[{"id": i, "how_to_tell": words * 50} for i in list(catalog.entries)[:10]],
        sources=list(catalog.sources)[:25],
    )
    long_entry["dimensions"]["length_mm"]["source"] = list(catalog.sources)[30]
    long_entry["features"]["condition_notes"] = words * 50
    long_entry["features"]["marking_text"] = [f"MARK-{i}" for i in range(20)]
    entries = {**catalog.entries, "very-long-entry": Entry.model_validate(long_entry)}
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('long') / 'long.sqlite'}")
    db.build_database(dataclasses.replace(catalog, entries=entries, digest="long-entry-test"), engine)
    return engine


def test_overlong_entry_still_fits_one_page(long_catalog: Engine, guidance: Guidance, tmp_path: Path) -> None:
    data = pdf_bytes(long_catalog, select_entries(long_catalog, ["very-long-entry"]))
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    page = pdftotext_pages(data, tmp_path)[0]
    text = squash(page)
    assert "moreinthecatalog" in text  # sources, hazards and look-alikes were shortened, and say so
    for line in (guidance.title, *guidance.panel, DISCLAIMER):
        assert squash(line) in text  # the safety panel and footer are never cut
    assert "**notbold**<b>nothtml</b>[notalink](x)" in text  # catalog text is data, not markup


# --- booklet ----------------------------------------------------------------------------------


def check_booklet(data: bytes, entries: list[Entry], tmp_path: Path) -> tuple[list[str], int]:
    """Cover, contents, one page per entry in order, then the index; returns page texts and the
    number of contents pages."""
    reader = PdfReader(io.BytesIO(data))
    pages = pdftotext_pages(data, tmp_path)
    outline = [(o.title, reader.get_destination_page_number(o)) for o in reader.outline]  # type: ignore[union-attr]
    toc = outline[0][1] - 1  # the first sheet follows the cover and the contents
    assert toc >= 1
    assert outline == [(e.name, 1 + toc + i) for i, e in enumerate(entries)]
    assert "UXO FIELD BOOKLET" in pages[0]
    assert pages[1].lstrip().startswith("Contents")
    contents = squash("".join(pages[1 : 1 + toc]))
    sheets = pages[1 + toc : 1 + toc + len(entries)]
    index = pages[1 + toc + len(entries) :]
    for entry, page in zip(entries, sheets, strict=True):
        assert squash(entry.name) in contents
        assert squash(page).startswith(squash(entry.name))
        assert DISCLAIMER in page
    assert index and all(p.lstrip().startswith("Index of names") for p in index)
    assert len(reader.pages) == 1 + toc + len(entries) + len(index)
    return pages, toc


def test_booklet_has_cover_contents_sheets_and_index(catalog_engine: Engine, tmp_path: Path) -> None:
    entries = select_entries(catalog_engine, ["ofab-250-270", "volcano-iram", "type-72", "pmn"])
    selection = describe_selection([e.id for e in entries])
    data = pdf_bytes(catalog_engine, entries, selection=selection)
    pages, toc = check_booklet(data, entries, tmp_path)
    assert squash(selection).lower() in squash(pages[0]).lower()
    index = "".join(pages[1 + toc + len(entries) :])
    for entry in entries:
        for name in entry.all_names():
            if re.search("[\u0600-\u06ff]", name):
                # Arabic with digits is laid out by the bidi algorithm (أوفاب-250-270 shows as
                # 270-250-أوفاب, read right to left); pdftotext returns that visual order, so
                # check the words and the numbers, not their order.
                for part in re.findall("[\u0600-\u06ff]+|\\d+", name):
                    assert squash(part) in squash(index), (name, part)
            else:
                assert squash(name) in squash(index), name


@pytest.mark.slow
def test_booklet_of_the_whole_catalog(catalog_engine: Engine, tmp_path: Path) -> None:
    entries = select_entries(catalog_engine)
    assert len(entries) >= 67
    check_booklet(pdf_bytes(catalog_engine, entries, selection=describe_selection()), entries, tmp_path)


def test_missing_chinese_font_still_renders_with_a_warning(
    catalog_engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(export, "_find_cjk_font", lambda: None)
    export._font_files.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="ordnance_db.export"):
            data = pdf_bytes(catalog_engine, select_entries(catalog_engine, ["type-72"]))
    finally:
        export._font_files.cache_clear()
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    assert "Type 72" in pdftotext_pages(data, tmp_path)[0]
    assert any("Chinese" in r.getMessage() for r in caplog.records)


def test_sheet_png_for_the_docs(catalog_engine: Engine, tmp_path: Path) -> None:
    out = render_sheet_png(catalog_engine, "volcano-iram", tmp_path / "sheet.png", dpi=40)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_pdf_writes_atomically(catalog_engine: Engine, tmp_path: Path) -> None:
    target = write_pdf(catalog_engine, select_entries(catalog_engine, ["pmn", "pmn-2"]), tmp_path / "b.pdf")
    assert target.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.pdf"]


# --- data exports -----------------------------------------------------------------------------


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith("\ufeff".encode())  # byte-order mark: spreadsheets then read UTF-8
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_round_trips_with_stable_columns(catalog_engine: Engine) -> None:
    entries = select_entries(catalog_engine)
    data = csv_bytes(entries)
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(header) == CSV_COLUMNS
    rows = {r["id"]: r for r in read_csv(data)}
    assert list(rows) == [e.id for e in entries]
    ofab = rows["ofab-250-270"]
    assert ofab["names"] == "ru: ОФАБ-250-270; uk: ОФАБ-250-270; ar: أوفاب-250-270"
    assert (ofab["length_mm"], ofab["length_basis"]) == ("1460", "estimate")
    assert (ofab["weight_kg"], ofab["weight_basis"]) == ("250", "nominal:funmyua-2024-ofab-250-kharkiv")
    mk84 = rows["mk-84"]
    assert (mk84["actual_weight_kg"], mk84["actual_weight_basis"]) == ("945", "source:foldertekno-2025-mk-84")
    assert ofab["colours"] == "grey; dark-green"
    assert ofab["fin_count"] == "4"
    assert rows["qassam-type-rocket"]["names"] == "ar: قسام"


def test_csv_guards_against_formula_injection(catalog_engine: Engine) -> None:
    entry = select_entries(catalog_engine, ["pmn"])[0]
    risky = entry.model_copy(
        update={"name": '=HYPERLINK("http://x")', "aliases": ["+1", "-2"], "role": "@SUM(A1)"}
    )
    row = read_csv(csv_bytes([risky]))[0]
    assert row["name"] == '\'=HYPERLINK("http://x")'
    assert row["aliases"] == "'+1; -2"
    assert row["role"] == "'@SUM(A1)"
    assert row["id"] == "pmn"


def test_csv_and_json_to_open_files(catalog_engine: Engine) -> None:
    entries = select_entries(catalog_engine, ["pmn", "pom-2"])
    text, js = io.StringIO(newline=""), io.StringIO()
    assert write_csv(entries, text) is None
    assert write_json(entries, js) is None
    assert [r["id"] for r in csv.DictReader(io.StringIO(text.getvalue()))] == ["pmn", "pom-2"]
    assert [d["id"] for d in json.loads(js.getvalue())] == ["pmn", "pom-2"]


def test_json_round_trips_into_entries(catalog_engine: Engine, tmp_path: Path) -> None:
    entries = select_entries(catalog_engine)
    assert [Entry.model_validate(d) for d in json.loads(json_bytes(entries))] == entries
    path = write_json(entries[:3], tmp_path / "e.json")
    assert path is not None
    assert [Entry.model_validate(d) for d in json.loads(path.read_text(encoding="utf-8"))] == entries[:3]


# --- selection and errors ---------------------------------------------------------------------


def test_selection_by_ids_keeps_their_order(catalog_engine: Engine) -> None:
    ids = ["volcano-iram", "ofab-250-270", "volcano-iram"]
    assert [e.id for e in select_entries(catalog_engine, ids)] == ["volcano-iram", "ofab-250-270"]


def test_selection_by_query_and_by_both(catalog_engine: Engine) -> None:
    rockets = select_entries(catalog_engine, query=Query.build(category="rocket"))
    assert rockets and all(e.category == "rocket" for e in rockets)
    both = select_entries(catalog_engine, ["ofab-250-270", "9m22u-grad"], Query.build(category="rocket"))
    assert [e.id for e in both] == ["9m22u-grad"]
    assert "category: rocket" in describe_selection((), Query.build(category="rocket"))
    assert describe_selection() == "the whole catalog"


def one_line(exc: pytest.ExceptionInfo[ExportError]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


def test_unknown_ids_are_named(catalog_engine: Engine) -> None:
    with pytest.raises(ExportError) as exc:
        select_entries(catalog_engine, ["ofab-250-270", "no-such-thing", "nor-this"])
    message = one_line(exc)
    assert "'no-such-thing'" in message and "'nor-this'" in message


def test_empty_selection(catalog_engine: Engine) -> None:
    with pytest.raises(ExportError) as exc:
        select_entries(catalog_engine, query=Query.build("zzzzqqqqxxxx"))
    assert "empty" in one_line(exc)
    with pytest.raises(ExportError) as exc:
        select_entries(catalog_engine, ["ofab-250-270"], Query.build(category="rocket"))
    assert "empty" in one_line(exc)
    with pytest.raises(ExportError):
        pdf_bytes(catalog_engine, [])


@pytest.fixture
def two_entries(catalog_engine: Engine) -> list[Entry]:
    return select_entries(catalog_engine, ["pmn", "pom-2"])


def test_missing_folder(two_entries: list[Entry], tmp_path: Path) -> None:
    with pytest.raises(ExportError) as exc:
        write_csv(two_entries, tmp_path / "nowhere" / "x.csv")
    assert "does not exist" in one_line(exc)


def test_path_is_a_folder(two_entries: list[Entry], tmp_path: Path) -> None:
    with pytest.raises(ExportError) as exc:
        write_json(two_entries, tmp_path)
    assert "folder" in one_line(exc)


def test_permission_denied_leaves_nothing_half_written(
    two_entries: list[Entry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old contents", encoding="utf-8")

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(export.os, "replace", refuse)
    with pytest.raises(ExportError) as exc:
        write_csv(two_entries, target)
    assert "permission denied" in one_line(exc)
    assert target.read_text(encoding="utf-8") == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # the temporary file is gone
