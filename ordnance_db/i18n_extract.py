"""Extract the translatable texts into `ordnance_db/locale/<domain>.pot` and merge them into every
language's `.po`: `python -m ordnance_db i18n extract [--domain app|sheets]`.

Why our own small command and not `pybabel extract` with a mapping file: the `sheets` domain also
carries the safety panel, its title and the category warnings from `catalog/guidance.yaml` and the
labels of `catalog/vocabulary.yaml` (data, not code), and both domains must be regenerated the
same way on a fresh machine with nothing but the project's requirements. Merging keeps every
translation and translator comment (the `# review:` status of safety texts); a text that left
the code is dropped from the `.po` files.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import yaml
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po, write_po

from ordnance_db import i18n
from ordnance_db.i18n import DOMAINS, LOCALE_DIR, catalogue_path
from ordnance_db.settings import CATALOG_DIR, ROOT

PACKAGE = Path(__file__).resolve().parent
SHEET_SOURCES = (PACKAGE / "export.py",)
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "t": None}
"""`t` is the local alias of `ctx._` in the sheet code; `N_` marks module-level texts."""
GUIDANCE_COMMENT = "catalog/guidance.yaml: safety text. Give it a '# review:' comment in each .po."


def _sources(domain: str) -> list[Path]:
    """The code of a domain extracted here (`sheets`); the `app` domain's is listed in babel.cfg."""
    if domain != "sheets":
        raise ValueError(f"the {domain!r} template is written by ordnance_db.i18n.extract (babel.cfg)")
    return list(SHEET_SOURCES)


def guidance_texts(catalog_dir: Path = CATALOG_DIR) -> list[str]:
    """The safety panel's title and points and every category warning, in file order."""
    doc = yaml.safe_load((catalog_dir / "guidance.yaml").read_text(encoding="utf-8")) or {}
    texts = [doc.get("title", ""), *doc.get("panel", [])]
    texts += [w for warnings in (doc.get("category_warnings") or {}).values() for w in warnings]
    return [t for t in texts if t]


def template(domain: str) -> Catalog:
    """Every translatable text of a domain, with where it comes from."""
    catalog = Catalog(project="ordnance_db", domain=domain, creation_date=datetime(2026, 1, 1, tzinfo=UTC))
    for path in _sources(domain):
        relative = str(path.relative_to(ROOT))
        for lineno, message, comments, context in extract_from_file(
            "python", str(path), keywords=KEYWORDS, comment_tags=("TRANSLATORS:",), strip_comment_tags=True
        ):
            catalog.add(message, locations=[(relative, lineno)], auto_comments=comments, context=context)
    if domain == "sheets":
        for number, text in enumerate(guidance_texts(), start=1):
            catalog.add(text, locations=[("catalog/guidance.yaml", number)], auto_comments=[GUIDANCE_COMMENT])
        for number, (field, text) in enumerate(vocabulary_labels(), start=1):
            if text not in catalog:
                comment = f"catalog/vocabulary.yaml: a term of '{field}'"
                catalog.add(text, locations=[("catalog/vocabulary.yaml", number)], auto_comments=[comment])
    return catalog


def vocabulary_labels(catalog_dir: Path = CATALOG_DIR) -> list[tuple[str, str]]:
    """(field, label) of every controlled term: categories, shapes, colours... as sheets show them."""
    doc = yaml.safe_load((catalog_dir / "vocabulary.yaml").read_text(encoding="utf-8")) or {}
    return [
        (field, term["label"]) for field, terms in doc.items() for term in terms or [] if term.get("label")
    ]


def merge(catalog: Catalog, pot: Catalog) -> None:
    """Bring a language's catalogue up to the template, keeping its translations and the
    `#. review: ...` status of each message, which `Catalog.update` alone would replace with the
    template's extracted comments (it keeps translator `# ` comments, not `#.` ones)."""
    kept = {m.id: [c for c in m.auto_comments if c.startswith("review:")] for m in catalog}
    catalog.update(pot, no_fuzzy_matching=True, update_creation_date=False)
    for message in catalog:
        message.auto_comments = [*message.auto_comments, *kept.get(message.id, [])]


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=100, omit_header=False, ignore_obsolete=True, sort_output=False)


def extract(domains: Iterable[str] = DOMAINS) -> list[Path]:
    """Write each domain's .pot and merge it into the existing .po files; returns what was written."""
    written: list[Path] = []
    for domain in domains:
        pot_path = LOCALE_DIR / f"{domain}.pot"
        if domain == "app":  # the app's sources are named in babel.cfg (i18n.extract, `make pot`)
            with i18n.extract(pot_path).open("rb") as f:
                pot = read_po(f, domain=domain)
        else:
            pot = template(domain)
            _write(pot, pot_path)
        written.append(pot_path)
        for folder in sorted(p for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES").is_dir()):
            po_path = catalogue_path(folder.name, domain)
            if not po_path.is_file():
                continue
            with po_path.open("rb") as f:
                catalog = read_po(f, locale=folder.name, domain=domain)
            merge(catalog, pot)
            _write(catalog, po_path)
            written.append(po_path)
    return written
