"""Sheets and booklets in Arabic and Ukrainian, with one country's reporting contacts (issues 16, 18).

Read back with poppler's pdftotext, which returns right-to-left runs in logical order (the order
Arabic is typed and searched in); fpdf2 places shaped Arabic glyphs one by one, so comparisons
ignore whitespace and bidi marks (see tests/test_export.py).
"""

from __future__ import annotations

import html
import io
import re
import subprocess
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from pypdf import PdfReader
from sqlalchemy.engine import Engine

from ordnance_db import export, i18n
from ordnance_db.cli import main as cli_main
from ordnance_db.export import ExportError, pdf_bytes, select_entries
from ordnance_db.i18n_extract import template
from ordnance_db.schema import Guidance
from tests.test_export import pdftotext_pages, squash

ARABIC_DIGITS = re.compile("[\u0660-\u0669]")


@pytest.fixture(scope="module")
def arabic_sheet(catalog_engine: Engine) -> bytes:
    return pdf_bytes(
        catalog_engine, select_entries(catalog_engine, ["ofab-250-270"]), lang="ar", country="SY"
    )


def _text(data: bytes, tmp_path: Path, page: int = 0) -> str:
    return squash(pdftotext_pages(data, tmp_path)[page])


def words_in(paragraph: str, text: str) -> bool:
    """Nine in ten Arabic words of `paragraph` (and every one of a short text) are in `text`.

    Why not the paragraph: poppler's bidi reading moves punctuation between the lines of a
    wrapped right-to-left paragraph, and it orders glyphs by position, so a word whose final
    letter overhangs the one before comes out with the two swapped (الطريق read as الطرقي, on a
    sheet that shows الطريق).
    """
    words = re.findall("[\u0621-\u064a\u0660-\u0669]+", paragraph)
    found = sum(w in text for w in words)
    return bool(words) and found >= (len(words) if len(words) < 5 else 0.9 * len(words))


def shown_contacts(guidance: Guidance, text: str, other_than: str | None = None) -> list[str]:
    """Contacts of countries other than `other_than` whose "number — organisation" is on the page
    (a contact that is part of one of that country's own lines is not counted)."""
    own = [squash(f"{c.reach()} — {c.label}") for c in guidance.contacts if c.country == other_than]
    shown = []
    for contact in guidance.contacts:
        line = squash(f"{contact.reach()} — {contact.label}")
        if contact.country != other_than and line in text and not any(line in o for o in own):
            shown.append(f"{contact.country}: {contact.label}")
    return shown


def tr(lang: str, message: str) -> str:
    return i18n.translations(lang, export.DOMAIN).gettext(message)


def test_cli_writes_the_arabic_sheet_for_syria(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command issue 16 names, run as a user runs it."""
    out = tmp_path / "ofab-ar.pdf"
    assert cli_main(["export", "--pdf", str(out), "ofab-250-270", "--lang", "ar", "--country", "SY"]) == 0
    assert "wrote reference sheet" in capsys.readouterr().out
    data = out.read_bytes()
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    text = _text(data, tmp_path)
    assert squash("أهم علامات التعرف") in text
    assert squash("Syrian Civil Defence") in text


def test_arabic_sheet_words_contacts_and_digits(
    arabic_sheet: bytes, guidance: Guidance, tmp_path: Path
) -> None:
    text = _text(arabic_sheet, tmp_path)
    for message in ("Key identification features", "Dimensions", "Hazards", "Sources", guidance.title):
        arabic = tr("ar", message)
        assert arabic != message and re.search("[\u0600-\u06ff]", arabic)
        assert words_in(arabic, text), message
    for item in guidance.panel:
        assert words_in(tr("ar", item), text), item
    assert squash("https://t.me/s/SyriaDefence — Syrian Civil Defence") in text
    assert words_in(tr("ar", "Aircraft bomb"), text)  # vocabulary labels are translated too
    assert squash("سوريا") in text  # the country, named in Arabic (CLDR)
    assert not shown_contacts(guidance, text, other_than="SY")
    assert "State Emergency Service of Ukraine" not in text
    # Sizes in Arabic-Indic digits for Syria (1460 mm -> ١٤٦٠), designations unchanged.
    assert squash("١٤٦٠") in text
    assert "OFAB-250-270" in text
    # Catalog text without a translation is shown in English and marked so.
    assert words_in(tr("ar", "EN: catalog text not yet translated, shown in English."), text)
    assert squash("EN · Soviet/Russian unguided") in text
    # The review status of the safety text is on the sheet.
    assert words_in(tr("ar", export.UNREVIEWED), text)


def _word_boxes(data: bytes, tmp_path: Path) -> list[tuple[str, float, float]]:
    """(word, xMin, xMax) in points for every word poppler finds on the first page."""
    path = tmp_path / "boxes.pdf"
    path.write_bytes(data)
    pdftotext_pages(data, tmp_path)  # skips (or fails under CI) when poppler is missing
    xml = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.findall(
        r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', xml
    )
    return [(html.unescape(word), float(x0), float(x1)) for x0, x1, word in found]


def test_arabic_sheet_is_laid_out_right_to_left(
    arabic_sheet: bytes, catalog_engine: Engine, tmp_path: Path
) -> None:
    """The page is mirrored: the item's name starts at the right margin and the source list's
    numbers stand at the right edge on the Arabic sheet, at the left on the English one."""
    width = 595.28  # A4 in points
    english = pdf_bytes(catalog_engine, select_entries(catalog_engine, ["ofab-250-270"]), country="SY")
    en_boxes, ar_boxes = _word_boxes(english, tmp_path), _word_boxes(arabic_sheet, tmp_path)
    en_title = next(b for b in en_boxes if b[0] == "OFAB-250-270")
    ar_title = next(b for b in ar_boxes if b[0] == "OFAB-250-270")
    assert en_title[1] < 40 and ar_title[2] > width - 40
    en_first_source = [b for b in en_boxes if b[0] == "[1]"][-1]
    ar_first_source = [b for b in ar_boxes if b[0] in ("]١[", "[١]")][-1]
    assert en_first_source[1] < 40 and ar_first_source[2] > width - 40


def test_arabic_reads_in_logical_order(arabic_sheet: bytes, tmp_path: Path) -> None:
    """Shaped with a right-to-left base direction: poppler reads the words in typing order."""
    text = _text(arabic_sheet, tmp_path)
    heading = squash(tr("ar", "If you find something that might be explosive"))
    assert heading in text
    assert heading[::-1] not in text


def test_maghreb_keeps_western_digits(catalog_engine: Engine, tmp_path: Path) -> None:
    data = pdf_bytes(
        catalog_engine, select_entries(catalog_engine, ["ofab-250-270"]), lang="ar", country="LY"
    )
    text = _text(data, tmp_path)
    assert "1460" in text
    assert not ARABIC_DIGITS.search(text.split(squash(tr("ar", "Sources")))[0])


def test_ukrainian_sheet_for_ukraine(catalog_engine: Engine, guidance: Guidance, tmp_path: Path) -> None:
    data = pdf_bytes(
        catalog_engine, select_entries(catalog_engine, ["ofab-250-270"]), lang="uk", country="UA"
    )
    text = _text(data, tmp_path)
    for word in ("Основні розпізнавальні ознаки", "Розміри", "Небезпеки", "Джерела", "Україна"):
        assert squash(word).lower() in text.lower(), word
    assert squash(tr("uk", guidance.panel[0])) in text
    assert squash("101 — State Emergency Service of Ukraine") in text
    assert "Syrian Civil Defence" not in text
    assert "1460" in text  # Western digits in Ukrainian


def test_arabic_booklet(catalog_engine: Engine, tmp_path: Path) -> None:
    entries = select_entries(catalog_engine, ["ofab-250-270", "volcano-iram", "pmn"])
    data = pdf_bytes(catalog_engine, entries, lang="ar", country="IQ")
    pages = pdftotext_pages(data, tmp_path)
    assert words_in(tr("ar", "UXO FIELD BOOKLET"), squash(pages[0]))
    assert words_in(tr("ar", "Contents"), squash(pages[1]))
    assert words_in(tr("ar", "Index of names"), squash(pages[-1]))
    assert all(squash("Iraqi Kurdistan Mine Action Agency") in squash(p) for p in pages[2:5])
    assert len(pages) == 6  # cover, contents, three sheets, index: no blank page
    assert "Syrian Civil Defence" not in squash("".join(pages))
    assert squash("بركان") in squash("".join(pages))


def test_country_without_contacts_says_so(catalog_engine: Engine, guidance: Guidance, tmp_path: Path) -> None:
    countries = {c.country for c in guidance.contacts}
    assert "TD" not in countries  # Chad: no contact in the catalog
    entries = select_entries(catalog_engine, ["ofab-250-270"])
    for lang, name in (("en", "Chad"), ("ar", "تشاد"), ("uk", "Чад")):
        text = _text(pdf_bytes(catalog_engine, entries, lang=lang, country="TD"), tmp_path)
        said = tr(lang, "We have no reporting contact for {country} yet.").format(country=name)
        general = tr(lang, export.GENERAL_REPORT)
        if lang == "ar":
            assert words_in(said, text) and words_in(general, text)
        else:
            assert squash(said) in text and squash(general) in text
        assert not shown_contacts(guidance, text), lang


def test_bad_language_and_country_are_one_line_errors(catalog_engine: Engine) -> None:
    entries = select_entries(catalog_engine, ["pmn"])
    with pytest.raises(ExportError, match="no sheets in language 'fr'"):
        pdf_bytes(catalog_engine, entries, lang="fr")
    with pytest.raises(ExportError, match="not a country code"):
        pdf_bytes(catalog_engine, entries, country="Syria")
    assert export.check_country("sy") == "SY"


@pytest.mark.parametrize("lang", ["ar", "uk"])
def test_every_sheets_text_is_translated(lang: str) -> None:
    """Every text the code and guidance.yaml give the sheets, translated and with its placeholders."""
    wanted = [m.id for m in template("sheets") if m.id]
    assert len(wanted) > 60
    with i18n.catalogue_path(lang, "sheets").open("rb") as f:
        catalog = read_po(f, locale=lang)
    for message_id in wanted:
        message = catalog.get(message_id)
        assert message is not None and message.string, (lang, message_id)
        assert not message.fuzzy, (lang, message_id)
        assert sorted(re.findall(r"\{\w+\}", message.string)) == sorted(re.findall(r"\{\w+\}", message_id))
        script = "[\u0600-\u06ff]" if lang == "ar" else "[\u0400-\u04ff]"
        assert re.search(script, message.string), (lang, message_id)


@pytest.mark.parametrize("lang", ["ar", "uk"])
def test_safety_texts_carry_a_review_status(lang: str, guidance: Guidance) -> None:
    status = export.review_status(lang)
    for text in export.safety_texts(guidance):
        assert status.get(text, "").startswith("review:"), (lang, text)
    assert not export.safety_reviewed(lang, guidance)  # honest: nobody has reviewed them yet


def test_pot_is_up_to_date() -> None:
    """The committed sheets.pot has exactly the texts the code and guidance.yaml give today."""
    with (i18n.LOCALE_DIR / "sheets.pot").open("rb") as f:
        committed = {m.id for m in read_po(f) if m.id}
    assert committed == {m.id for m in template("sheets") if m.id}


def test_cli_refuses_an_unknown_language_or_country_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.pdf"
    assert cli_main(["export", "--pdf", str(out), "pmn", "--lang", "fr"]) == 1
    assert capsys.readouterr().err.strip() == "error: no sheets in language 'fr'; choose one of en, ar, uk"
    assert cli_main(["export", "--pdf", str(out), "pmn", "--country", "XYZ"]) == 1
    assert "not a country code" in capsys.readouterr().err
    assert not out.exists()


def test_booklet_cover_describes_the_selection_in_its_language() -> None:
    from ordnance_db.search import Query

    query = Query(text="ofab", terms={"category": ["aircraft-bomb"]})
    assert (
        export.describe_selection(["pmn"], query)
        == "entries pmn; name matching “ofab”; category: aircraft-bomb"
    )
    arabic = export.describe_selection(["pmn"], query, lang="ar")
    assert arabic == "المداخل pmn; الاسم يطابق «ofab»; category: aircraft-bomb"
    assert export.describe_selection(lang="uk") == "увесь каталог"
