"""The app in another language, run headless with AppTest on the real catalog: with a complete
catalogue made here (every message in full-width letters), no interface text of the template is
left in English on any page, and the choice of language and country stays in the address."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

from ordnance_db import db, i18n
from ordnance_db.key import SPECS
from ordnance_db.matcher import MatchRefused
from ordnance_db.search import Query, Searcher
from tests.test_i18n_catalogues import pseudo, pseudo_catalogue
from views import common
from views.common import md

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = float(os.environ.get("APPTEST_TIMEOUT", "60"))
CODE = "eo"
"""A language Babel knows and the project does not ship, so the test's catalogue is the only one."""


@pytest.fixture
def pseudo_locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A locale folder holding only the test's complete `eo` catalogue, in place of the shipped one."""
    pseudo_catalogue(tmp_path / CODE / "LC_MESSAGES" / "app.po", CODE)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.languages.cache_clear()
    i18n.translations.cache_clear()
    yield tmp_path
    i18n.languages.cache_clear()
    i18n.translations.cache_clear()


@pytest.fixture
def app(pseudo_locale: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The app on the real database; its background matcher job never finishes (no index is built)."""
    db.ensure_built(db.get_engine())
    never = threading.Event()

    def waiting(progress: Any) -> Any:
        never.wait()
        raise MatchRefused("the test ended")

    monkeypatch.setattr(common, "prepare_matcher", waiting)
    common.matcher_job.clear()
    yield AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT_S)
    never.set()
    common.matcher_job.clear()


def catalog_data_text() -> str:
    """The text of the catalog's entries and sources: data, shown in English everywhere (marked so),
    where a source title such as "Cluster bombs" may contain an interface message."""
    files = [p for p in (ROOT / "catalog").glob("*.yaml") if p.stem not in ("guidance", "vocabulary")]
    return "\n".join(p.read_text(encoding="utf-8") for p in files)


def english_messages() -> list[str]:
    """The template's messages of two words or more (a single word can be a name in catalog data),
    leaving out the few that also occur in catalog data."""
    with i18n.TEMPLATE.open("rb") as f:
        catalog = read_po(f)
    ids = [m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog if m.id]
    data = catalog_data_text()
    return [text for text in ids if len(i18n.PLACEHOLDER.sub("", text).split()) >= 2 and text not in data]


def shown_texts(at: AppTest) -> list[str]:
    """Every string of every element and block on the page: values, labels, help, options."""
    texts: list[str] = []

    def strings(value: Any) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                strings(v)
        elif isinstance(value, list):
            for v in value:
                strings(v)

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "DESCRIPTOR"):
            strings(MessageToDict(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return texts


PAGES = [
    ("views/browse.py", {}),
    ("views/entry.py", {"id": "ofab-250-270"}),
    ("views/export.py", {}),
    ("views/safety.py", {}),
    ("views/about.py", {}),
    ("views/identify.py", {}),
]


@pytest.mark.parametrize(("page", "params"), PAGES, ids=[p for p, _ in PAGES])
def test_no_english_interface_text_in_another_language(
    app: AppTest, page: str, params: dict[str, str]
) -> None:
    # one run straight onto the page: AppTest formats a selectbox's value in the test's own thread,
    # in English, and cannot match it against the country names the app wrote in the test language
    app.query_params.update({"lang": CODE, "country": "SY", **params})
    app.switch_page(page).run()
    assert not app.exception, [e.message for e in app.exception]
    shown = "\n".join(shown_texts(app))
    left = [text for text in english_messages() if text in shown]
    assert left == [], f"English interface text on {page}"
    # the page is in the test's language: the safety banner's line and its country fallback
    banner = app.container("safety_banner").warning[0].value
    assert common.DISCLAIMER not in banner and "Ｉｄｅｎｔｉｆｉｃａｔｉｏｎ" in banner
    assert app.session_state[common.LANG_PICKER] == CODE
    assert app.session_state[common.COUNTRY_PICKER] == "SY"
    if page in ("views/browse.py", "views/entry.py", "views/safety.py"):  # catalog text, still English
        assert pseudo(common.UNTRANSLATED) in shown
    assert "ＳＹ" not in shown and "Sirio" in shown  # Syria's name in Esperanto, from CLDR


def test_identify_by_questions_in_another_language(app: AppTest) -> None:
    app.query_params.update({"lang": CODE})
    app.run().switch_page("views/identify.py").run()
    app.segmented_control(key="identify_how").set_value("questions").run()
    assert not app.exception, [e.message for e in app.exception]
    shown = "\n".join(shown_texts(app))
    assert [text for text in english_messages() if text in shown] == []
    question = app.subheader[0].value  # the key's first question, in the test's language
    assert question in {pseudo(spec.text) for spec in SPECS}


def test_language_picker_puts_the_language_in_the_address(app: AppTest) -> None:
    app.run()
    assert app.session_state[common.LANG_PICKER] == "en"
    assert common.UNTRANSLATED not in "\n".join(shown_texts(app))  # English needs no such note
    app.selectbox(key=common.LANG_PICKER).set_value(CODE).run()
    assert not app.exception, [e.message for e in app.exception]
    assert app.query_params["lang"] in (CODE, [CODE])
    assert app.title[0].value == "Ｂｒｏｗｓｅ ｔｈｅ ｃａｔａｌｏｇ"
    # navigation drops the query string; the session's choice puts it back
    app.query_params.clear()
    app.switch_page("views/safety.py").run()
    assert app.query_params["lang"] in (CODE, [CODE])
    assert app.title[0].value == "Ｓａｆｅｔｙ"


def test_country_picker_sets_the_contacts_on_every_page(app: AppTest) -> None:
    app.run()
    assert not app.main.get("country_contacts") and not app.query_params.get("country")
    app.selectbox(key=common.COUNTRY_PICKER).set_value("UA").run()
    assert app.query_params["country"] in ("UA", ["UA"])
    for page in ("views/about.py", "views/safety.py"):
        app.query_params.clear()
        app.switch_page(page).run()
        assert not app.exception, [e.message for e in app.exception]
        assert app.query_params["country"] in ("UA", ["UA"])
        # Ukraine's official numbers, as guidance.yaml lists them
        contacts = app.main.container("country_contacts").markdown[0].value
        assert contacts.startswith("**Report in Ukraine:**") and "101" in contacts and "102" in contacts
    # a country without a listed contact says whom to call instead
    engine = db.get_engine()
    listed = {c["country"] for c in (db.read_meta(engine, "guidance") or {}).get("contacts", [])}
    used = {f.value for f in Searcher(engine).facets(Query()).get("used-in", [])}
    unlisted = sorted(used - listed)[0]
    app.selectbox(key=common.COUNTRY_PICKER).set_value(unlisted).run()
    text = app.main.container("country_contacts").markdown[0].value
    name = i18n.country_name(unlisted, "en")
    assert text.startswith(f"No official reporting contact is listed for {md(name)}"), text


def test_machine_drafted_safety_text_is_said_to_be_unreviewed(app: AppTest, pseudo_locale: Path) -> None:
    """While a language's safety texts carry `review: machine-drafted`, the safety panel says so in
    that language; once every one reads `review: reviewed` the notice goes, and English never has it."""
    from babel.messages.pofile import write_po

    guidance = common.get_guidance() or {}
    texts = [guidance["title"], *guidance["panel"]]
    path = pseudo_locale / CODE / "LC_MESSAGES" / "app.po"

    def mark(status: str) -> None:
        with path.open("rb") as f:
            catalog = read_po(f, locale=CODE, domain="app")
        for text in texts:
            catalog.get(text).auto_comments = [status]
        with path.open("wb") as f:
            write_po(f, catalog)
        i18n.translations.cache_clear()
        i18n.unreviewed.cache_clear()

    def notices() -> list[str]:
        app.query_params["lang"] = CODE
        app.run()
        assert not app.exception, [e.message for e in app.exception]
        return [
            c.value
            for c in app.get("caption")
            if "ｍａｃｈｉｎｅ－ｄｒａｆｔｅｄ" in c.value or "ｍａｃｈｉｎｅ" in c.value
        ]

    try:
        mark("review: machine-drafted, not yet reviewed by a native mine-action speaker")
        assert set(texts) <= i18n.unreviewed(CODE)
        assert notices()
        mark("review: reviewed by a native speaker, 2027-01-01")
        assert not i18n.unreviewed(CODE)
        assert not notices()
        assert not i18n.unreviewed("en")
    finally:
        i18n.unreviewed.cache_clear()
