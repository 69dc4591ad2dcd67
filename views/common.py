"""Shared, cached resources for the pages. The pages hold no business logic: they call the library."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from ordnance_db import db
from ordnance_db.search import Searcher


@st.cache_resource(show_spinner="Building the catalog database…")
def get_engine() -> Engine:
    """One engine for all sessions; the database is (re)built if the catalog changed."""
    engine = db.get_engine()
    db.ensure_built(engine)
    return engine


@st.cache_resource
def get_searcher() -> Searcher:
    return Searcher(get_engine())


@st.cache_resource
def get_vocabulary() -> dict[str, dict[str, db.VocabularyRow]]:
    """Vocabulary field -> term id -> term, for labels and help text."""
    return {field: {t.id: t for t in terms} for field, terms in db.load_vocabulary(get_engine()).items()}


def safety_banner() -> None:
    st.warning(
        "**Identification aid only.** Do not touch or move a suspected item. Keep away, keep others away, "
        "and report it to the police or emergency services.",
        icon="⚠️",
    )
