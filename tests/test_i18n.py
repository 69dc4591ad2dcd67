"""Interface languages: the shipped catalogues, the browser's preference, English as the fallback."""

from __future__ import annotations

from ordnance_db import i18n


def test_english_is_first_and_the_source_language() -> None:
    assert i18n.languages()[0].code == "en"
    assert i18n.translations("en").gettext("Browse") == "Browse"


def test_every_catalogue_folder_is_a_language_babel_knows() -> None:
    for lang in i18n.languages():
        assert lang.direction in {"ltr", "rtl"}
        assert lang.name


def test_accept_language_picks_the_best_shipped_language() -> None:
    assert i18n.best_match(None) == "en"
    assert i18n.best_match("fr-FR,fr;q=0.9") == "en"
    for lang in i18n.language_codes():
        assert i18n.best_match(f"fr;q=0.9,{lang}-XX;q=0.95") == lang


def test_unknown_codes_fall_back_to_english() -> None:
    assert i18n.get_language("xx").code == "en"
    assert i18n.get_language(None).code == "en"
