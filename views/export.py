"""Export: the current selection as a PDF field booklet, a CSV table or JSON, made by the library.

Files are made only when their button is pressed (deferred downloads), so the page stays fast.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ordnance_db import export
from ordnance_db.export import PAPERS
from ordnance_db.search import Query
from views.common import _, entry_names, filter_panel, get_engine, get_searcher, md, ngettext

MODES = ("filters", "ids")


def producer(kind: str, ids: list[str], query: Query | None, paper: str) -> Callable[[], bytes]:
    """The bytes of one export format, computed when the download starts (in another thread)."""
    engine = get_engine()

    def make() -> bytes:
        entries = export.select_entries(engine, ids, query)
        if kind == "pdf":
            selection = export.describe_selection(ids, query)
            return export.pdf_bytes(engine, entries, paper=paper, selection=selection)
        if kind == "csv":
            return export.csv_bytes(entries)
        return export.json_bytes(entries)

    return make


st.title(_("Export"))
query = filter_panel("export")
mode = st.radio(
    _("What to export"),
    MODES,
    format_func={"filters": _("The current filters (as on Browse)"), "ids": _("Entries I choose")}.get,
    key="export_mode",
    horizontal=True,
)
ids: list[str] = []
selected_query: Query | None = query
if mode == "ids":
    names = entry_names()
    ids = st.multiselect(
        _("Entries"),
        list(names),
        format_func=lambda i: names.get(i, i),
        key="export_ids",
        placeholder=_("Choose"),
    )
    selected_query = None
    count = len(ids)
    st.caption(_("The filters above do not apply to entries chosen here."))
else:
    count = get_searcher().search(query, limit=0).total

description = export.describe_selection(ids, selected_query)
with st.container(key="export_selection"):
    counted = ngettext("**{count}** entry", "**{count}** entries", count)
    st.markdown(counted.format(count=count) + f" · {md(description)}")
paper = st.selectbox(_("Paper size (PDF)"), PAPERS, key="export_paper", width=220)
if count == 0:
    st.info(_("The selection is empty: choose entries or loosen the filters."))
st.caption(
    _(
        "One entry gives its one-page reference sheet; several give a field booklet with a cover, contents "
        "and an index of every name in every script. A booklet of the whole catalog takes some seconds."
    )
)
stem = "uxo-reference-sheet" if count == 1 else "uxo-field-booklet"
formats = (
    ("pdf", _("Download PDF"), f"{stem}.pdf", "application/pdf", ":material/picture_as_pdf:"),
    ("csv", _("Download CSV table"), "uxo-catalog.csv", "text/csv", ":material/table:"),
    ("json", _("Download JSON"), "uxo-catalog.json", "application/json", ":material/data_object:"),
)
with st.container(horizontal=True, key="export_buttons"):
    for kind, label, file_name, mime, icon in formats:
        st.download_button(
            label,
            data=producer(kind, ids, selected_query, paper),
            file_name=file_name,
            mime=mime,
            key=f"download_{kind}",
            icon=icon,
            on_click="ignore",
            disabled=count == 0,
        )
