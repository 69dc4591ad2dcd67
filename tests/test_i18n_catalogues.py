"""The `app` catalogues: the committed template is what the code says, no interface string is left
bare, and every shipped language translates every message with the same {placeholders}."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from ordnance_db import i18n
from ordnance_db.slots import BUSY

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "app.py", *sorted((ROOT / "views").glob("*.py"))]
TEXT_KEYWORDS = {"label", "help", "placeholder", "caption", "page_title", "title", "alt", "body", "text"}
"""Keyword arguments of st.* calls that reach the reader as text."""
NOT_TEXT = {"Page": {0}, "page_link": {0}, "switch_page": {0}, "set_page_config": set()}
"""Positional arguments that are page paths, not text."""
LETTERS = re.compile(r"[A-Za-z]{2,}")
ICON = re.compile(r":material/\w+:")


def messages(path: Path) -> dict[str, set[str]]:
    """msgid -> the files it is extracted from, for every message of a template."""
    with path.open("rb") as f:
        catalog = read_po(f)
    return {
        (m.id[0] if isinstance(m.id, tuple) else m.id): {loc[0] for loc in m.locations}
        for m in catalog
        if m.id
    }


def test_committed_template_is_a_fresh_extraction(tmp_path: Path) -> None:
    fresh = messages(i18n.extract(tmp_path / "app.pot"))
    committed = messages(i18n.TEMPLATE)
    assert sorted(set(fresh) - set(committed)) == [], "run `make pot` and commit ordnance_db/locale/app.pot"
    assert sorted(set(committed) - set(fresh)) == [], "app.pot holds strings the code no longer has"
    assert fresh == committed
    # what must be in it: the pages, the safety panel from guidance.yaml, the vocabulary, the library
    for text in ("Browse", "If you find something that might be explosive", "Aircraft bomb", BUSY):
        assert text in committed


def bare_texts(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line: text` for every string literal (or f-string with words) given to an st.* call as
    text, which would reach the reader untranslated."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "st"):
            continue  # st.title(...), not st.query_params.get(...)
        skip = NOT_TEXT.get(node.func.attr, set())
        args = [a for i, a in enumerate(node.args) if i not in skip]
        args += [k.value for k in node.keywords if k.arg in TEXT_KEYWORDS]
        for arg in args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                text = arg.value
            elif isinstance(arg, ast.JoinedStr):
                text = "".join(v.value for v in arg.values if isinstance(v, ast.Constant))
            else:
                continue
            if LETTERS.search(ICON.sub("", text)):
                found.append(f"{path.relative_to(root)}:{arg.lineno}: {text!r}")
    return found


def test_no_st_call_is_given_bare_interface_text() -> None:
    assert [line for path in SOURCES for line in bare_texts(path)] == []


def translated_literals(path: Path) -> list[tuple[int, str]]:
    """(line, msgid) of every `_("...")` and `ngettext("...", "...", n)` in a file, f-strings included
    (Babel's extractor does not look inside f-strings on Python 3.11)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("_", "ngettext")
        ):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def test_every_translated_literal_is_in_the_template() -> None:
    committed = messages(i18n.TEMPLATE)
    missing = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in SOURCES
        for line, text in translated_literals(path)
        if text not in committed
    ]
    assert missing == [], "a _() inside an f-string is not extracted: move it out"


def test_the_bare_text_check_finds_a_bare_string(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text('st.title("Hello")\nst.button(_("Ok"), help=f"{n} of them")\nst.Page("views/x.py")\n')
    found = bare_texts(page, tmp_path)
    assert found == ["page.py:1: 'Hello'", "page.py:2: ' of them'"]


def pseudo(text: str) -> str:
    """A message in full-width letters, its {placeholders} kept: "Browse" -> "Ｂｒｏｗｓｅ"."""
    parts = re.split(r"(\{\w*\})", text)
    return "".join(
        p
        if p.startswith("{")
        else "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in p)
        for p in parts
    )


def pseudo_catalogue(path: Path, code: str) -> Path:
    """A complete catalogue of the template in language `code`, each message translated into
    full-width letters (placeholders kept): no English word of the interface survives it."""
    with i18n.TEMPLATE.open("rb") as f:
        template = read_po(f)
    catalog = Catalog(locale=code, domain="app")

    for m in template:
        if not m.id:
            continue
        if isinstance(m.id, tuple):
            string: str | tuple[str, ...] = tuple(pseudo(m.id[min(i, 1)]) for i in range(catalog.num_plurals))
        else:
            string = pseudo(m.id)
        catalog.add(m.id, string)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog)
    return path


def test_a_complete_catalogue_has_no_problems_and_a_broken_one_has_each(tmp_path: Path) -> None:
    good = pseudo_catalogue(tmp_path / "eo" / "LC_MESSAGES" / "app.po", "eo")
    assert i18n.catalogue_problems(good) == []
    with good.open("rb") as f:
        catalog = read_po(f, locale="eo")
    catalog["Browse"].string = ""
    catalog["Page {page} of {pages}"].string = "{page}"
    catalog["Sources"].flags.add("fuzzy")
    with good.open("wb") as f:
        write_po(f, catalog)
    problems = "\n".join(i18n.catalogue_problems(good))
    assert "not translated: 'Browse'" in problems
    assert "placeholders ['page'] instead of ['page', 'pages']" in problems
    assert "fuzzy (needs review): 'Sources'" in problems


SHIPPED = [code for code in i18n.language_codes() if code != i18n.SOURCE_LANGUAGE]


@pytest.mark.parametrize(
    "code", SHIPPED or [pytest.param("none", marks=pytest.mark.skip("no language shipped yet"))]
)
def test_every_shipped_language_translates_every_message(code: str) -> None:
    assert i18n.catalogue_problems(i18n.catalogue_path(code, "app")) == []


def test_check_command_names_what_a_catalogue_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    po = pseudo_catalogue(tmp_path / "uk" / "LC_MESSAGES" / "app.po", "uk")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.languages.cache_clear()
    try:
        assert i18n.main(["check"]) == 0
        assert "every shipped catalogue is complete (en, uk)" in capsys.readouterr().out
        with po.open("rb") as f:
            catalog = read_po(f, locale="uk")
        catalog["About"].string = ""
        with po.open("wb") as f:
            write_po(f, catalog)
        assert i18n.main(["check"]) == 1
        assert "not translated: 'About'" in capsys.readouterr().out
    finally:
        i18n.languages.cache_clear()


def test_merging_a_new_template_keeps_translations_and_review_status() -> None:
    """Re-extraction must not erase that a safety text is machine-drafted and unreviewed."""
    from babel.messages.catalog import Catalog

    from ordnance_db.i18n_extract import merge

    po = Catalog(locale="uk")
    po.add(
        "Do not touch it.", "Не торкайтеся його.", auto_comments=["review: machine-drafted, not yet reviewed"]
    )
    pot = Catalog()
    pot.add("Do not touch it.", auto_comments=["catalog/guidance.yaml: safety text"])
    pot.add("A new text")
    merge(po, pot)
    kept = po.get("Do not touch it.")
    assert kept.string == "Не торкайтеся його."
    assert "review: machine-drafted, not yet reviewed" in kept.auto_comments
    assert "catalog/guidance.yaml: safety text" in kept.auto_comments
    assert po.get("A new text") is not None and not po.get("A new text").string
