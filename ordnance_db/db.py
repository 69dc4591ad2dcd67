"""The database derived from the catalog (SQLAlchemy 2.0 typed ORM, dialect-neutral).

SQLite in `var/` by default; `ORDNANCE_DB_URL` selects another database (PostgreSQL for shared
deployments). The database is a derived artefact: `build_database` replaces its contents from a
validated catalog in one transaction, so readers never see a half-built catalog.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ordnance_db.catalog import Catalog, catalog_digest, load_catalog
from ordnance_db.schema import Entry
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR, VAR_DIR
from ordnance_db.text import normalise

SCHEMA_VERSION = "1"
"""Bump when the tables change: a database built by older code is then rebuilt, not misread."""


class Base(DeclarativeBase):
    pass


class EntryRow(Base):
    """One entry: the columns search filters and sorts on, plus the full entry as JSON."""

    __tablename__ = "entries"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    sort_key: Mapped[str] = mapped_column(String(300), index=True)
    category: Mapped[str] = mapped_column(String(80), index=True)
    fin_count: Mapped[int] = mapped_column(Integer)
    length_mm: Mapped[float | None] = mapped_column(Float, index=True)
    diameter_mm: Mapped[float | None] = mapped_column(Float, index=True)
    weight_kg: Mapped[float | None] = mapped_column(Float, index=True)
    span_mm: Mapped[float | None] = mapped_column(Float)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


class NameRow(Base):
    """Every way an entry is written (designation, other scripts, aliases, marking text)."""

    __tablename__ = "entry_names"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(String(300))
    key: Mapped[str] = mapped_column(String(300), index=True)


class TermRow(Base):
    """One (field, value) pair per entry: the uniform table every vocabulary filter and facet uses."""

    __tablename__ = "entry_terms"

    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(80), primary_key=True)

    __table_args__ = (Index("ix_entry_terms_field_value", "field", "value", "entry_id"),)


class SourceRow(Base):
    __tablename__ = "sources"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


class VocabularyRow(Base):
    """Vocabulary terms, in catalog order, with labels and help text for the app's filters."""

    __tablename__ = "vocabulary"

    field: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    rgb: Mapped[str | None] = mapped_column(String(7))


class MetaRow(Base):
    """Build facts: catalog digest, build id and time, guidance JSON."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


def database_url() -> str:
    """`ORDNANCE_DB_URL` if set, else the default SQLite file under var/."""
    return os.environ.get("ORDNANCE_DB_URL") or f"sqlite:///{VAR_DIR / 'ordnance.sqlite'}"


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process; engines are thread-safe and pool their connections."""
    url = url or database_url()
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _make_engine(url)
            _engines[url] = engine
        return engine


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")  # readers keep reading while build writes
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def read_meta(engine: Engine, key: str) -> Any:
    """A build fact, or None when the database has not been built (a plain read, no side effects)."""
    try:
        with Session(engine) as session:
            row = session.get(MetaRow, key)
            return row.value if row else None
    except DBAPIError:  # no tables yet
        return None


def is_current(engine: Engine, catalog_digest: str) -> bool:
    """True when the database was built from exactly this catalog by this code."""
    return (
        read_meta(engine, "digest") == catalog_digest
        and read_meta(engine, "schema_version") == SCHEMA_VERSION
    )


def build_database(
    catalog: Catalog,
    engine: Engine,
    *,
    force: bool = False,
    progress: Callable[[Iterable[Entry]], Iterable[Entry]] | None = None,
) -> bool:
    """Replace the database's contents with the catalog's; return False if it was already current."""
    Base.metadata.create_all(engine)
    if not force and is_current(engine, catalog.digest):
        return False
    entries: Iterable[Entry] = catalog.entries.values()
    if progress is not None:
        entries = progress(entries)
    entry_rows: list[dict[str, Any]] = []
    name_rows: list[dict[str, Any]] = []
    term_rows: list[dict[str, Any]] = []
    for entry in entries:
        entry_rows.append(_entry_row(entry))
        name_rows += _name_rows(entry)
        term_rows += [{"entry_id": entry.id, "field": f, "value": v} for f, v in sorted(entry_terms(entry))]
    vocab_rows = [
        {
            "field": name,
            "id": t.id,
            "position": i,
            "label": t.label,
            "description": t.description,
            "rgb": t.rgb,
        }
        for name in type(catalog.vocabulary).model_fields
        for i, t in enumerate(getattr(catalog.vocabulary, name))
    ]
    source_rows = [{"key": k, "document": s.model_dump(mode="json")} for k, s in catalog.sources.items()]
    meta = {
        "digest": catalog.digest,
        "schema_version": SCHEMA_VERSION,
        "build_id": uuid.uuid4().hex,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry_count": len(entry_rows),
        "guidance": catalog.guidance.model_dump(mode="json") if catalog.guidance else None,
    }
    with Session(engine) as session, session.begin():
        for table in (TermRow, NameRow, EntryRow, SourceRow, VocabularyRow, MetaRow):
            session.execute(delete(table))
        for table, rows in (
            (EntryRow, entry_rows),
            (NameRow, name_rows),
            (TermRow, term_rows),
            (SourceRow, source_rows),
            (VocabularyRow, vocab_rows),
        ):
            for start in range(0, len(rows), 5000):  # bounded batches keep memory flat
                session.execute(table.__table__.insert(), rows[start : start + 5000])
        session.execute(MetaRow.__table__.insert(), [{"key": k, "value": v} for k, v in meta.items()])
    return True


def ensure_built(
    engine: Engine,
    catalog_dir: Path = CATALOG_DIR,
    images_dir: Path = IMAGES_DIR,
    progress: Callable[[Iterable[Entry]], Iterable[Entry]] | None = None,
) -> bool:
    """Build the database if it is missing or older than the catalog; raise CatalogError if invalid."""
    Base.metadata.create_all(engine)
    if is_current(engine, catalog_digest(catalog_dir)):
        return False
    return build_database(load_catalog(catalog_dir, images_dir), engine, progress=progress)


def entry_terms(entry: Entry) -> set[tuple[str, str]]:
    """The (field, value) pairs that filters and facets see for an entry."""
    f = entry.features
    terms = {
        ("category", entry.category),
        ("shape", f.shape),
        ("stabilisation", f.stabilisation),
        ("fuze", f.fuze_position),
        ("script", f.marking_script),
        ("fins", str(f.fin_count)),
    }
    terms |= {("origin", c) for c in entry.origin}
    terms |= {("colour", c) for c in f.colours}
    terms |= {("mechanical", m) for m in f.mechanical}
    return terms


def _value(entry: Entry, name: str) -> float | None:
    dim = getattr(entry.dimensions, name)
    return dim.value if dim is not None else None


def _entry_row(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "name": entry.name,
        "sort_key": normalise(entry.name),
        "category": entry.category,
        "fin_count": entry.features.fin_count,
        "length_mm": _value(entry, "length_mm"),
        "diameter_mm": _value(entry, "diameter_mm"),
        "weight_kg": _value(entry, "weight_kg"),
        "span_mm": _value(entry, "span_mm"),
        "document": entry.model_dump(mode="json", exclude_none=True),
    }


def _name_rows(entry: Entry) -> list[dict[str, Any]]:
    texts = [("name", entry.name)]
    texts += [("names", t) for t in entry.names.values()]
    texts += [("alias", t) for t in entry.aliases]
    texts += [("marking", t) for t in entry.features.marking_text]
    seen: set[tuple[str, str]] = set()
    rows = []
    for kind, text in texts:
        key = normalise(text)
        if key and (kind, key) not in seen:
            seen.add((kind, key))
            rows.append({"entry_id": entry.id, "kind": kind, "text": text, "key": key})
    return rows


def load_entry(engine: Engine, entry_id: str) -> Entry | None:
    """One entry as a model, or None if there is no such id."""
    with Session(engine) as session:
        document = session.scalar(select(EntryRow.document).where(EntryRow.id == entry_id))
    return Entry.model_validate(document) if document is not None else None


def load_entries(engine: Engine, ids: Iterable[str]) -> list[Entry]:
    """Entries as models, in the order of `ids`; unknown ids are skipped."""
    wanted = list(ids)
    with Session(engine) as session:
        rows = dict(
            session.execute(select(EntryRow.id, EntryRow.document).where(EntryRow.id.in_(wanted))).all()
        )
    return [Entry.model_validate(rows[i]) for i in wanted if i in rows]


def load_sources(engine: Engine) -> dict[str, dict[str, Any]]:
    with Session(engine) as session:
        return dict(session.execute(select(SourceRow.key, SourceRow.document)).all())


def load_vocabulary(engine: Engine) -> dict[str, list[VocabularyRow]]:
    """Vocabulary field name -> terms in catalog order."""
    with Session(engine) as session:
        rows = session.scalars(
            select(VocabularyRow).order_by(VocabularyRow.field, VocabularyRow.position)
        ).all()
        session.expunge_all()
    result: dict[str, list[VocabularyRow]] = {}
    for row in rows:
        result.setdefault(row.field, []).append(row)
    return result
