"""About: what the data is, where it comes from, its licence, and how to add an entry."""

from __future__ import annotations

import streamlit as st

from ordnance_db import db
from ordnance_db.search import Query
from views.common import _, get_engine, get_searcher, get_sources, md, source_line, term_label

engine = get_engine()
searcher = get_searcher()
st.title(_("About this reference"))
st.markdown(
    _(
        "An open, offline reference for recognising unexploded ordnance: bombs, rockets, shells, grenades, "
        "submunitions and mines. It is for volunteers, researchers, NGO staff and risk-education workers. "
        "It identifies and warns; it never explains how to handle, move or disarm anything."
    )
)
built_at = db.read_meta(engine, "built_at")
st.markdown(
    _("**{count}** entries, built {built}.").format(
        count=searcher.count(), built=md(built_at or _("unknown"))
    )
    + " "
    + _(
        "Every number carries a source or is marked as an estimate or a nominal class with a note. "
        "Drawings are schematic unless a source gives the proportions. Everything shown here can also "
        "be printed by the command line (`python -m ordnance_db`)."
    )
)

st.subheader(_("Entries per category"), anchor=False)
counts = searcher.facets(Query()).get("category", [])
st.markdown("\n".join(f"- {md(term_label('categories', f.value))}: {f.count}" for f in counts))

st.subheader(_("Licence"), anchor=False)
st.markdown(
    _(
        "Code: MIT. Catalog text: CC BY 4.0, with each fact attributed to its source below. Drawings are "
        "made from the catalog's geometry; photographs carry their own licence and author."
    )
)

st.subheader(_("Contributing an entry"), anchor=False)
st.markdown(
    _(
        "1. Copy an existing entry of the same category to `catalog/<new-id>.yaml` (a new lowercase id).\n"
        "2. Fill in what public sources support, and add each source to `catalog/sources.yaml`. Give each "
        "number its basis: a `source`, `basis: reference` with the source quoting it, or `basis: nominal` or "
        "`estimate` with a note.\n"
        "3. Run `python -m ordnance_db validate` until it prints `catalog OK`, then "
        "`python -m ordnance_db coverage --write` and `make test`.\n\n"
        "Never add procedures for handling, moving, disarming or making munitions: validation refuses them."
    )
)

sources = get_sources()
with st.expander(_("All {count} sources").format(count=len(sources))):
    st.markdown("\n".join(f"- {source_line(key)}" for key in sorted(sources)))
