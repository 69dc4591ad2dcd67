"""Browse: filter the catalog by what you can see, with counts next to every choice."""

from __future__ import annotations

import streamlit as st

from ordnance_db.search import Hit
from views.common import ENTRY_PAGE, filter_sidebar, get_searcher, md, side_thumbnail, term_label

PAGE_SIZE = 48
COLUMNS = 4


def card(hit: Hit) -> None:
    """One result: side view, designation, other scripts, category, origin, and a link to its page."""
    with st.container(border=True, key=f"card_{hit.id}", height="stretch"):
        thumb = side_thumbnail(hit.id)
        if thumb:
            st.image(thumb, width="stretch", alt=f"Side view of {hit.name}")
        other = [n for n in dict.fromkeys(hit.names.values()) if n != hit.name]
        lines = [f"**{md(hit.name)}**", *([md(" · ".join(other))] if other else [])]
        about = f"{term_label('categories', hit.category)} · origin: {', '.join(hit.origin)}"
        lines.append(f":gray[:small[{md(about)}]]")
        st.markdown("  \n".join(lines))  # one element per card: the page renders faster
        st.page_link(
            ENTRY_PAGE, label="Open entry", icon=":material/arrow_forward:", query_params={"id": hit.id}
        )


st.title("Browse the catalog")
query = filter_sidebar("browse")
searcher = get_searcher()

# A changed query starts again at page 1.
if st.session_state.get("_browse_query") != query:
    st.session_state["_browse_query"] = query
    st.session_state["browse_page"] = 1
page = int(st.session_state.get("browse_page", 1))
result = searcher.search(query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
pages = max(1, -(-result.total // PAGE_SIZE))

with st.container(key="result_count", horizontal=True, vertical_alignment="center"):
    st.markdown(f"**{result.total}** result{'s' if result.total != 1 else ''}")
    if pages > 1:
        st.markdown("· page")
        st.number_input("Page", 1, pages, key="browse_page", width=130, label_visibility="collapsed")
        st.markdown(f"of {pages}")

if not result.hits:
    st.info("Nothing matches these filters. Remove a filter or widen the size tolerance.")
for start in range(0, len(result.hits), COLUMNS):
    for column, hit in zip(st.columns(COLUMNS), result.hits[start : start + COLUMNS], strict=False):
        with column:
            card(hit)
