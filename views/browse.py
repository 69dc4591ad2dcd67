"""Browse: filter the catalog by what you can see, with counts next to every choice."""

from __future__ import annotations

import streamlit as st

from ordnance_db.search import RANGE_FILTERS, TERM_FILTERS, Query, Range
from views.common import get_searcher, get_vocabulary, safety_banner

searcher = get_searcher()
vocabulary = get_vocabulary()

safety_banner()
st.title("Browse the catalog")

text = st.sidebar.text_input("Name or marking (any script)", key="text", placeholder="e.g. ОФАБ, PFM-1, Grad")
base = Query.build(text)
facets = searcher.facets(base)

selected: dict[str, list[str]] = {}
for f in TERM_FILTERS:
    terms = vocabulary.get(f.vocabulary or "", {})
    counts = {facet.value: facet.count for facet in facets.get(f.name, [])}
    options = [t for t in terms if t in counts] if terms else sorted(counts)

    def label(value: str, terms: dict = terms, counts: dict = counts) -> str:
        term = terms.get(value)
        return f"{term.label if term else value} ({counts.get(value, 0)})"

    selected[f.name] = st.sidebar.multiselect(
        f.label, options, format_func=label, key=f"filter_{f.name}", help=f.help
    )

ranges: dict[str, Range] = {}
with st.sidebar.expander("Size (rough field measurements)"):
    tolerance = st.slider("Tolerance %", 0, 50, 10, key="tolerance") / 100
    for r in RANGE_FILTERS:
        raw = st.text_input(
            f"{r.label} ({r.unit})", key=f"range_{r.name}", placeholder="e.g. 1400-1600 or 1500"
        )
        if raw.strip():
            try:
                ranges[r.name] = Range.parse(raw)
            except ValueError as exc:
                st.error(str(exc))

query = Query(
    text=text,
    terms={k: tuple(v) for k, v in selected.items() if v},
    ranges=ranges,
    tolerance=tolerance,
)
result = searcher.search(query)
st.caption(f"{result.total} result(s)")

categories = vocabulary.get("categories", {})
for hit in result.hits:
    with st.container(border=True):
        st.markdown(f"**{hit.name}**  ·  {', '.join(hit.names.values())}")
        category = categories.get(hit.category)
        st.caption(f"{category.label if category else hit.category} · origin: {', '.join(hit.origin)}")
