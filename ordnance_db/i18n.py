"""Interface languages: gettext catalogues read with Babel, one `.po` file per language and domain.

A language is one file: `ordnance_db/locale/<code>/LC_MESSAGES/<domain>.po`. Its name in its own
script and its writing direction come from Babel's locale data (CLDR), so nothing about a language
is written in code. English is the source language: its strings are the message ids, and a
missing translation falls back to them (a test checks that none is missing in a shipped language).

Domains keep separate parts of the product apart: `app` (the Streamlit pages) and `sheets` (the
PDF reference sheets and booklets). The `.po` files are compiled in memory when first used, so no
binary `.mo` file is committed or built.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE_LANGUAGE = "en"
DOMAINS = ("app", "sheets")


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in its own script: "العربية", "українська"
    direction: str  # "ltr" or "rtl"


def _language(code: str) -> Language:
    locale = Locale.parse(code)
    name = locale.display_name or code
    return Language(code=code, name=name[:1].upper() + name[1:], direction=locale.text_direction)


@cache
def languages() -> tuple[Language, ...]:
    """English first, then every language that has a catalogue folder, by code."""
    codes = (
        sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())
        if LOCALE_DIR.is_dir()
        else []
    )
    return tuple(_language(c) for c in [SOURCE_LANGUAGE, *(c for c in codes if c != SOURCE_LANGUAGE)])


def language_codes() -> tuple[str, ...]:
    return tuple(lang.code for lang in languages())


def get_language(code: str | None) -> Language:
    """The language for a code such as `ar` or `uk-UA`; English when it is not one we ship."""
    if code:
        base = code.replace("_", "-").split("-")[0].strip().lower()
        for lang in languages():
            if lang.code == base:
                return lang
    return languages()[0]


def best_match(accept_language: str | None) -> str:
    """The shipped language a browser's Accept-Language header prefers most, else English."""
    if not accept_language:
        return SOURCE_LANGUAGE
    weighted: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag:
            weighted.append((-q, i, tag))
    shipped = set(language_codes())
    for _, _, tag in sorted(weighted):
        base = tag.replace("_", "-").split("-")[0].lower()
        if base in shipped:
            return base
    return SOURCE_LANGUAGE


def catalogue_path(code: str, domain: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{domain}.po"


@cache
def translations(code: str, domain: str = "app") -> gettext.NullTranslations:
    """The translations of one domain in one language (English, or a missing file: identity)."""
    path = catalogue_path(code, domain)
    if code == SOURCE_LANGUAGE or not path.is_file():
        return gettext.NullTranslations()
    try:
        Locale.parse(code)
    except (ValueError, UnknownLocaleError) as exc:
        raise ValueError(f"{path}: '{code}' is not a language code Babel knows.") from exc
    with path.open("rb") as f:
        catalog = read_po(f, locale=code, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)
