"""Interface languages: gettext catalogues read with Babel, one `.po` file per language and domain.

A language is one file: `ordnance_db/locale/<code>/LC_MESSAGES/<domain>.po`. Its name in its own
script and its writing direction come from Babel's locale data (CLDR), so nothing about a language
is written in code. English is the source language: its strings are the message ids, and a
missing translation falls back to them (a test checks that none is missing in a shipped language).

The `app` catalogue template, `locale/app.pot`, is made by `make pot` (`python -m ordnance_db.i18n
extract`) from the files `babel.cfg` names: the views' `_()` and `ngettext()`, the `N_()` marks in
library modules, and the safety and vocabulary texts of the catalog's guidance.yaml and vocabulary.yaml.
A new language starts from it with `pybabel init -D app -i ordnance_db/locale/app.pot -d
ordnance_db/locale -l <code>` (then `pybabel update` with the same options after `make pot`);
`python -m ordnance_db.i18n check` lists what each shipped `app.po` still lacks.

Domains keep separate parts of the product apart: `app` (the Streamlit pages) and `sheets` (the
PDF reference sheets and booklets). The `.po` files are compiled in memory when first used, so no
binary `.mo` file is committed or built.
"""

from __future__ import annotations

import contextlib
import gettext
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "babel.cfg"
TEMPLATE = LOCALE_DIR / "app.pot"
SOURCE_LANGUAGE = "en"
DOMAINS = ("app", "sheets")


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in its own script: "العربية", "українська"
    direction: str  # "ltr" or "rtl"


def N_(message: str) -> str:
    """Marks interface text defined outside the views for extraction; the view translates it with `_()`
    where it is shown, in the reader's language (a module-level constant cannot know that language)."""
    return message


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


def country_name(code: str, language: str) -> str:
    """A country's name in a language, from CLDR (`SY` -> "سوريا" in Arabic); the code when unknown."""
    try:
        territories = Locale.parse(language).territories
    except (ValueError, UnknownLocaleError):
        return code
    return territories.get(code.upper(), code)


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


REVIEWED = "review: reviewed"
"""How a message's review comment starts once a native mine-action speaker has checked it."""


@cache
def unreviewed(code: str, domain: str = "app") -> frozenset[str]:
    """The messages of a language whose translation still carries a `review:` comment other than
    "review: reviewed" (the safety texts are machine-drafted until a native speaker checks them)."""
    path = catalogue_path(code, domain)
    if code == SOURCE_LANGUAGE or not path.is_file():
        return frozenset()
    with path.open("rb") as f:
        catalog = read_po(f, locale=code, domain=domain)
    return frozenset(
        m.id
        for m in catalog
        if isinstance(m.id, str)
        and any(
            c.startswith("review:") and not c.startswith(REVIEWED)
            for c in [*m.auto_comments, *m.user_comments]
        )
    )


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


# --- extraction ----------------------------------------------------------------------------------


def extract_yaml(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, str]
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor for catalog YAML: every string under a mapping key named in `keys` (babel.cfg).

    The safety panel and the vocabulary labels live in the catalog, not in code, yet the app shows
    them as its own interface text; this puts them in app.pot with their line numbers.
    """
    import yaml  # PyYAML: only extraction needs it here

    wanted = set(options.get("keys", "").split())
    root = yaml.compose(fileobj.read().decode("utf-8"))

    def walk(node: yaml.Node, inside: bool) -> Iterator[tuple[int, str, str, list[str]]]:
        if isinstance(node, yaml.ScalarNode):
            if inside and isinstance(node.value, str) and node.value.strip() and node.tag.endswith(":str"):
                yield node.start_mark.line + 1, "", node.value, []
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from walk(item, inside)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                yield from walk(value, inside or key.value in wanted)

    if root is not None:
        yield from walk(root, False)


EXTRACT_ARGS = (
    "extract",
    "--mapping-file",
    str(MAPPING),
    "--add-location=file",
    "--sort-by-file",
    "--no-wrap",
    "--project=uxo-reference",
    "--copyright-holder=the UXO identification reference contributors",
)


def extract(output: Path = TEMPLATE) -> Path:
    """Write the `app` template from the sources babel.cfg names (file locations without line numbers,
    so the template changes only when a string does)."""
    from babel.messages.frontend import CommandLineInterface

    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(ROOT):  # locations relative to the project, the same on every machine
        CommandLineInterface().run(["pybabel", "-q", *EXTRACT_ARGS, "--output-file", str(output), "."])
    return output


PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


def placeholders(text: str) -> set[str]:
    """The `{name}` fields of a message, which its translation must keep (and only those)."""
    return set(PLACEHOLDER.findall(text))


def catalogue_problems(path: Path, template: Path = TEMPLATE) -> list[str]:
    """What keeps a language's catalogue from being complete against the template: a message missing,
    empty or fuzzy, or a translation whose {placeholders} differ. Empty when it is complete."""
    with template.open("rb") as f:
        wanted = read_po(f)
    code = path.parent.parent.name
    with path.open("rb") as f:
        catalog = read_po(f, locale=code)
    problems: list[str] = []
    for message in wanted:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        found = catalog.get(ids[0])
        translated = () if found is None else found.string
        translated = translated if isinstance(translated, tuple) else (translated,)
        if not translated or not all(translated):
            problems.append(f"{path}: not translated: {ids[0]!r}")
            continue
        if found is not None and found.fuzzy:
            problems.append(f"{path}: marked fuzzy (needs review): {ids[0]!r}")
        expected = set().union(*(placeholders(i) for i in ids))
        for text in translated:
            if placeholders(text) != expected:
                got = sorted(placeholders(text))
                problems.append(f"{path}: placeholders {got} instead of {sorted(expected)}: {ids[0]!r}")
    return problems


def main(argv: list[str]) -> int:
    """`extract [OUTPUT.pot]` writes the template; `check` prints every shipped catalogue's problems."""
    if argv[:1] == ["extract"] and len(argv) <= 2:
        print(extract(Path(argv[1]) if len(argv) > 1 else TEMPLATE))
        return 0
    if argv == ["check"]:
        problems = [
            p
            for code in language_codes()
            if code != SOURCE_LANGUAGE
            for p in catalogue_problems(catalogue_path(code, "app"))
        ]
        print("\n".join(problems) or f"every shipped catalogue is complete ({', '.join(language_codes())})")
        return 1 if problems else 0
    print("usage: python -m ordnance_db.i18n extract [OUTPUT.pot] | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
