"""Safety: the full guidance from guidance.yaml: the panel, warnings per category, reporting contacts."""

from __future__ import annotations

import streamlit as st

from views.common import (
    _,
    country_name,
    current_country,
    get_guidance,
    md,
    source_line,
    term_label,
    untranslated_note,
)

guidance = get_guidance()
st.title(_("Safety"))
if not guidance:
    st.error(
        _("The safety guidance is missing from this catalog build. Do not touch or move the item; report it.")
    )
else:
    st.header(md(_(guidance["title"])), anchor=False)
    with st.container(key="safety_full", border=True):
        st.markdown("\n".join(f"1. {md(_(line))}" for line in guidance.get("panel", [])))

    country = current_country()
    contacts = sorted(  # the reader's country first, the rest in the guidance's order
        guidance.get("contacts", []), key=lambda c: str(c.get("country", "")).upper() != country
    )
    st.subheader(_("Reporting contacts"), anchor=False)
    st.caption(
        _(
            "Only contacts published by an official source are listed. Elsewhere, call the police or the "
            "emergency services."
        )
    )
    untranslated_note()
    for i, contact in enumerate(contacts):
        with st.container(border=True, key=f"contact_{i}"):
            numbers = ", ".join([*contact.get("numbers", []), *contact.get("channels", [])])
            st.markdown(f"**{md(country_name(contact['country']))} · {md(contact['label'])}: {md(numbers)}**")
            if contact.get("note"):
                st.text(contact["note"])
            st.caption(_("Source:") + " " + source_line(contact["source"]))

    st.subheader(_("Warnings by kind of item"), anchor=False)
    for category, warnings in guidance.get("category_warnings", {}).items():
        with st.expander(term_label("categories", category)):
            st.markdown("\n".join(f"- {md(_(w))}" for w in warnings))

    st.subheader(_("Standards this guidance follows"), anchor=False)
    st.caption(
        _("Written in our own words, following these public standards of mine action (cited, not copied).")
    )
    st.markdown("\n".join(f"- {source_line(key)}" for key in guidance.get("standards", [])))
