"""Browse: filter the catalog by what you can see, with counts next to every choice.

Phone first: the search box and the main filters are on the page, and each result is a compact row
(thumbnail left, text right) that keeps its shape at any width. Rows sit in columns on a wide screen;
Streamlit stacks columns on a narrow one, which makes them a single list.
"""

from __future__ import annotations

import streamlit as st

from ordnance_db.search import Hit
from views.common import (
    BROWSE_THUMB_WIDTH,
    ENTRY_PAGE,
    _,
    filter_panel,
    get_searcher,
    md,
    ngettext,
    side_thumbnail,
    term_label,
    untranslated_note,
)

PAGE_SIZE = 24
COLUMNS = 3
THUMB_WIDTH = BROWSE_THUMB_WIDTH
THUMB_SIDE = 2 * THUMB_WIDTH
PAGE_KEY = "browse_page"


def card(hit: Hit) -> None:
    """One result as a row: side view, designation, other scripts, category, origin, link to its page."""
    with st.container(
        border=True, key=f"card_{hit.id}", horizontal=True, vertical_alignment="center", wrap=False
    ):
        thumb = side_thumbnail(hit.id, THUMB_SIDE)
        if thumb:
            # The 2x file as it is, sized by its box: st.image(width=120) re-encoded it every run.
            with st.container(width=THUMB_WIDTH):
                st.image(thumb, width="stretch", alt=_("Side view of {name}").format(name=hit.name))
        with st.container(gap=None):
            other = [n for n in dict.fromkeys(hit.names.values()) if n != hit.name]
            lines = [f"**{md(hit.name)}**", *([md(" · ".join(other))] if other else [])]
            origin = _("origin: {countries}").format(countries=", ".join(hit.origin))
            lines.append(f":gray[:small[{md(term_label('categories', hit.category))} · {md(origin)}]]")
            st.markdown("  \n".join(lines))  # one element per card: the page renders faster
            st.page_link(
                ENTRY_PAGE,
                label=_("Open entry"),
                icon=":material/arrow_forward:",
                query_params={"id": hit.id},
            )


def go_to(page: int) -> None:
    """Button callback: show another page of results."""
    st.session_state[PAGE_KEY] = page


def pager(page: int, pages: int) -> None:
    """Previous and Next buttons either side of "Page 2 of 3", under the results."""
    with st.container(
        key="pager", horizontal=True, vertical_alignment="center", horizontal_alignment="center"
    ):
        st.button(
            _("Previous"),
            key="page_previous",
            icon=":material/chevron_left:",
            disabled=page <= 1,
            on_click=go_to,
            args=(page - 1,),
        )
        st.markdown(_("Page {page} of {pages}").format(page=page, pages=pages), width="content")
        st.button(
            _("Next"),
            key="page_next",
            icon=":material/chevron_right:",
            icon_position="right",
            disabled=page >= pages,
            on_click=go_to,
            args=(page + 1,),
        )


st.title(_("Browse the catalog"))
query = filter_panel("browse")
searcher = get_searcher()

# A changed query starts again at page 1.
if st.session_state.get("_browse_query") != query:
    st.session_state["_browse_query"] = query
    st.session_state[PAGE_KEY] = 1
page = max(1, int(st.session_state.get(PAGE_KEY, 1)))
result = searcher.search(query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
pages = max(1, -(-result.total // PAGE_SIZE))
if page > pages:  # the catalog shrank since the page was chosen
    page = st.session_state[PAGE_KEY] = pages
    result = searcher.search(query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)

with st.container(key="result_count", horizontal=True, vertical_alignment="center"):
    st.markdown(
        ngettext("**{count}** result", "**{count}** results", result.total).format(count=result.total)
    )
    if pages > 1:
        st.markdown(":gray[" + _("page {page} of {pages}").format(page=page, pages=pages) + "]")

untranslated_note()
if not result.hits:
    st.info(_("Nothing matches these filters. Remove a filter or widen the size tolerance."))
for start in range(0, len(result.hits), COLUMNS):
    for column, hit in zip(st.columns(COLUMNS), result.hits[start : start + COLUMNS], strict=False):
        with column:
            card(hit)
if pages > 1:
    pager(page, pages)
