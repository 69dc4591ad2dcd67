"""The database derived from the catalog (SQLAlchemy 2.0 typed ORM, dialect-neutral).

SQLite in `var/` by default; `ORDNANCE_DB_URL` selects another database (PostgreSQL for shared
deployments). The database is a derived artefact: `build_database` replaces its contents from a
validated catalog in one transaction, so readers never see a half-built catalog.
"""

from __future__ import annotations

import logging
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
    inspect,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ordnance_db.catalog import Catalog, catalog_digest, load_catalog
from ordnance_db.schema import Entry, Photo
from ordnance_db.settings import CATALOG_DIR, DB_READ_ONLY, IMAGES_DIR, VAR_DIR
from ordnance_db.text import normalise
from ordnance_db.var_files import ordinary

log = logging.getLogger(__name__)

SCHEMA_VERSION = "3"
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


class PhotoRow(Base):
    """One reference photo of an entry (images/<id>/photos.yaml), in the order it is listed."""

    __tablename__ = "entry_photos"

    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True)
    file: Mapped[str] = mapped_column(String(130), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    licence: Mapped[str] = mapped_column(String(40), index=True)
    author: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(300))
    view: Mapped[str | None] = mapped_column(String(20))
    condition: Mapped[str | None] = mapped_column(String(20))
    shows: Mapped[str | None] = mapped_column(Text)


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


class DatabaseFault(RuntimeError):
    """The database cannot be used; the message is one sentence for a person, never a traceback."""


def fault_message(exc: BaseException, url: str) -> str:
    """One sentence saying what is wrong with the database at `url`, without its password.

    The driver's own first line is kept (it names the host, the port or the missing database),
    with a hint for the commonest causes.
    """
    shown = _shown_url(url)
    if isinstance(exc, DatabaseFault):
        return str(exc)
    if isinstance(exc, ArgumentError | NoSuchModuleError | ValueError):
        return (
            f"ORDNANCE_DB_URL is not a database URL this program can use ({shown}): "
            "expected sqlite:///path or postgresql+psycopg://user@host/database"
        )
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = detail[0].strip() if detail else type(exc).__name__
    text = first.lower()
    if "password authentication failed" in text or "no password supplied" in text:
        hint = "check the user name and password"
    elif "does not exist" in text and "database" in text:
        hint = "create the database (createdb) or correct its name"
    elif "could not translate host name" in text or "name or service not known" in text:
        hint = "the host name is wrong or not reachable"
    elif "connection refused" in text or "is the server running" in text:
        hint = "is the database server running?"
    elif "timeout" in text or "timed out" in text:
        hint = "the server did not answer in time"
    elif "permission denied" in text or "read-only" in text or "readonly" in text:
        hint = "this database role or file may only read; run the release build with write rights"
    elif "not a database" in text or "malformed" in text:
        hint = "the file is damaged; run 'python -m ordnance_db build --force' to rebuild it"
    else:
        hint = "see the database server's log"
    return f"the database at {shown} cannot be used: {first} ({hint})"


def _shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "an unreadable URL"


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process; engines are thread-safe and pool their connections.

    A malformed URL or a missing driver raises DatabaseFault with one readable sentence.
    """
    url = url or database_url()
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            try:
                engine = _make_engine(url)
            except (ArgumentError, NoSuchModuleError, ValueError, ImportError) as exc:
                raise DatabaseFault(fault_message(exc, url)) from None
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
    if url.startswith("postgresql"):  # an unreachable host is reported within seconds, not minutes
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    return create_engine(url, pool_pre_ping=True)


def read_meta(engine: Engine, key: str) -> Any:
    """A build fact, or None when the database has not been built (a plain read, no side effects)."""
    try:
        with Session(engine) as session:
            row = session.get(MetaRow, key)
            return row.value if row else None
    except DBAPIError:
        if inspect(engine).has_table(MetaRow.__tablename__):
            raise  # the database failed, it is not simply unbuilt
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
    photo_rows = [
        {"entry_id": entry_id, "position": i, **photo.model_dump()}
        for entry_id, photos in catalog.photos.items()
        for i, photo in enumerate(photos)
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
        for table in (PhotoRow, TermRow, NameRow, EntryRow, SourceRow, VocabularyRow, MetaRow):
            session.execute(delete(table))
        for table, rows in (
            (EntryRow, entry_rows),
            (NameRow, name_rows),
            (TermRow, term_rows),
            (PhotoRow, photo_rows),
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
    *,
    read_only: bool = DB_READ_ONLY,
) -> bool:
    """Build the database if it is missing or older than the catalog.

    Raises CatalogError if the catalog is invalid and DatabaseFault (one sentence) if the database
    cannot be used. A damaged SQLite file is derived data: it is moved aside and rebuilt. With
    `read_only` (a replica whose role may only read) nothing is built: the release in the database
    is served, and only a database with no release or another table layout is a fault.
    """
    if read_only:
        return _check_release(engine, catalog_digest(catalog_dir, images_dir))

    def attempt() -> bool:
        Base.metadata.create_all(engine)
        if is_current(engine, catalog_digest(catalog_dir, images_dir)):
            return False
        return build_database(load_catalog(catalog_dir, images_dir), engine, progress=progress)

    return with_repair(engine, attempt)


def _check_release(engine: Engine, digest: str) -> bool:
    try:
        schema = read_meta(engine, "schema_version")
        if schema != SCHEMA_VERSION:
            state = "has not been built" if schema is None else "was built by another version of this program"
            raise DatabaseFault(
                f"the database {state}: run 'python -m ordnance_db build' once with write rights "
                "(this replica's role may only read)"
            )
        if read_meta(engine, "digest") != digest:
            log.warning(
                "serving the catalog release in the database, which differs from this replica's files"
            )
    except SQLAlchemyError as exc:
        raise DatabaseFault(fault_message(exc, engine.url.render_as_string(hide_password=False))) from None
    return False


def with_repair(engine: Engine, work: Callable[[], bool]) -> bool:
    """Run `work`; on a damaged SQLite file move it aside and run it once more on a fresh file."""
    try:
        try:
            if not sqlite_intact(engine):
                _move_aside(engine)
            return work()
        except DBAPIError as exc:
            if not _damaged(engine, exc):
                raise
            _move_aside(engine)
        return work()
    except SQLAlchemyError as exc:
        raise DatabaseFault(fault_message(exc, engine.url.render_as_string(hide_password=False))) from None


def sqlite_intact(engine: Engine) -> bool:
    """For a SQLite file, SQLite's own quick check (milliseconds for our few MB); True otherwise."""
    path = _sqlite_file(engine)
    if path is None or not (path.exists() or path.is_symlink()):
        return True
    if not ordinary(path):  # a pipe would block SQLite, a link would write elsewhere: moved aside
        return False
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("PRAGMA quick_check").fetchall()
    return [tuple(r) for r in rows] == [("ok",)]


def _sqlite_file(engine: Engine) -> Path | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def _damaged(engine: Engine, exc: DBAPIError) -> bool:
    path = _sqlite_file(engine)
    text = str(exc.orig).lower()
    return path is not None and path.exists() and ("not a database" in text or "malformed" in text)


def _move_aside(engine: Engine) -> None:
    """Rename a damaged SQLite file (nothing is deleted), so the next connection starts afresh."""
    path = _sqlite_file(engine)
    if path is None or not (path.exists() or path.is_symlink()):
        return
    engine.dispose()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    path.replace(aside)
    for suffix in ("-wal", "-shm"):  # SQLite's companions belong to the damaged file
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.replace(aside.with_name(aside.name + suffix))
    log.warning("the database file %s was damaged: moved aside to %s and rebuilt", path, aside)


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
    terms |= {("made-in", p.country) for p in entry.producers if p.country}
    terms |= {("supplied-by", p.country) for p in entry.suppliers if p.country}
    terms |= {("used-in", u.country) for u in entry.used_in}
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


def load_photos(engine: Engine, entry_ids: Iterable[str] | None = None) -> dict[str, list[Photo]]:
    """Entry id -> its reference photos in listed order, for the given entries (default: all).

    Entries without photos are absent. A photo's file is `images_dir / entry_id / photo.file`;
    `photo.public` is False for an organisation's internal photos, which are never exported.
    """
    query = select(PhotoRow).order_by(PhotoRow.entry_id, PhotoRow.position)
    if entry_ids is not None:
        query = query.where(PhotoRow.entry_id.in_(list(entry_ids)))
    result: dict[str, list[Photo]] = {}
    with Session(engine) as session:
        for row in session.scalars(query):
            result.setdefault(row.entry_id, []).append(
                Photo.model_validate({name: getattr(row, name) for name in Photo.model_fields})
            )
    return result
