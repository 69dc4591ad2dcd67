"""One entry, deep-linkable as `?id=<entry>`: names, what it is, sizes with their sources, hazards."""

from __future__ import annotations

import streamlit as st

from ordnance_db import export
from ordnance_db.i18n import N_
from ordnance_db.schema import Dimension, Entry, Party
from views.common import (
    ENTRY_PAGE,
    PHOTO_TEXT,
    _,
    entry_names,
    entry_picture,
    get_engine,
    get_entry,
    get_guidance,
    get_photos,
    md,
    photo_caption,
    source_line,
    term_label,
    untranslated_note,
)

DIMENSIONS = (
    ("length_mm", N_("Length"), "mm"),
    ("diameter_mm", N_("Diameter"), "mm"),
    ("span_mm", N_("Span (fins or wings)"), "mm"),
    ("weight_kg", N_("Weight"), "kg"),
    ("actual_weight_kg", N_("Actual weight"), "kg"),
)

BASES = (N_("reference"), N_("nominal"), N_("estimate"))
"""How a size can be known besides a stating source (schema.Basis), marked for translation."""


def number(value: float) -> str:
    return f"{value:,.3f}".rstrip("0").rstrip(".").replace(",", " ")


def dimension_line(label: str, unit: str, dim: Dimension) -> str:
    """A size with how it is known: the source that states it, or the basis (reference, nominal,
    estimate) in bold and the source it rests on, if any."""
    cited = f": {source_line(dim.source)}" if dim.source else ""
    basis = _("source") + cited if dim.basis == "source" else f"**{md(_(dim.basis))}**{cited}"
    note = f" — {md(dim.note)}" if dim.note else ""
    return f"- **{_(label)}: {md(number(dim.value))} {unit}** ({basis}){note}"


def party_line(party: Party) -> str:
    country = f" ({md(party.country)})" if party.country else ""
    note = f" — {md(party.note)}" if party.note else ""
    return f"- {md(party.name)}{country}{note} · {source_line(party.source)}"


def pick_entry() -> str | None:
    """Without an id, a picker; the choice goes into the address so the page can be shared."""
    names = entry_names()
    chosen = st.selectbox(
        _("Choose an entry"),
        list(names),
        format_func=lambda i: names.get(i, i),
        index=None,
        key="entry_pick",
        placeholder=_("Type a designation…"),
    )
    if chosen:
        st.query_params["id"] = chosen
    return chosen


def header(entry: Entry) -> None:
    st.title(md(entry.name), anchor=False)
    scripts = [f"{md(text)} ({md(lang)})" for lang, text in entry.names.items()]
    if scripts:
        st.markdown("**" + _("Other scripts:") + "** " + " · ".join(scripts))
    if entry.aliases:
        st.markdown("**" + _("Also known as:") + "** " + " · ".join(md(a) for a in entry.aliases))
    st.markdown(
        "**" + _("Category:") + f"** {md(term_label('categories', entry.category))} · "
        "**" + _("Origin:") + f"** {md(', '.join(entry.origin))} · "
        "**" + _("id") + f":** {md(entry.id)}"
    )
    st.text(entry.role)
    untranslated_note()


def hazards(entry: Entry) -> None:
    guidance = get_guidance() or {}
    warnings = guidance.get("category_warnings", {}).get(entry.category, [])
    lines = [*entry.hazards, *(_(w) for w in warnings)]
    with st.container(key="hazards"):
        st.error(
            "**" + _("Hazards") + "**\n\n" + "\n".join(f"- {md(line)}" for line in lines),
            icon=":material/warning:",
        )


def pictures(entry: Entry) -> None:
    side = entry_picture(entry.id)
    drawing = entry_picture(entry.id, "drawing.svg")
    schematic = entry.geometry is not None and entry.geometry.schematic
    note = " " + _("Schematic: proportions are not from a source.") if schematic else ""
    if drawing:
        st.image(str(drawing), caption=md(_("Drawing with dimensions.") + note), width="stretch")
    if side:
        st.image(str(side), caption=md(_("Side view as usually seen.") + note), width="stretch")
    photos = [(p, path) for p in get_photos(entry.id) if (path := entry_picture(entry.id, p.file))]
    if photos:
        st.subheader(_(PHOTO_TEXT["heading"]), anchor=False)
    for index, (photo, path) in enumerate(photos):
        with st.container(key=f"photo_{index}"):
            st.image(str(path), width="stretch")
            st.caption(photo_caption(photo))


def features(entry: Entry) -> None:
    f = entry.features
    rows = [
        (_("Shape"), term_label("shapes", f.shape)),
        (_("Stabilisation"), term_label("stabilisation", f.stabilisation)),
        (_("Number of fins"), str(f.fin_count)),
        (_("Fuze position"), term_label("fuze_positions", f.fuze_position)),
        (_("Colours"), ", ".join(term_label("colours", c) for c in f.colours)),
        (_("Marking script"), term_label("marking_scripts", f.marking_script)),
    ]
    if f.marking_text:
        rows.append((_("Markings"), " · ".join(f.marking_text)))
    if f.mechanical:
        rows.append((_("Mechanical features"), ", ".join(term_label("mechanical", m) for m in f.mechanical)))
    st.markdown("\n".join(f"- **{label}:** {md(value)}" for label, value in rows))
    if f.condition_notes:
        st.markdown("**" + _("As found:") + f"** {md(f.condition_notes)}")
    if f.basis_note:
        st.caption(md(f.basis_note))
    if f.sources:
        st.caption(_("Appearance sources:") + " " + "; ".join(source_line(s) for s in f.sources))
    else:
        st.caption(_("Appearance: our own reading, no source describes it."))


def history(entry: Entry) -> None:
    if entry.producers:
        st.markdown("**" + _("Producers") + "**\n\n" + "\n".join(party_line(p) for p in entry.producers))
    if entry.suppliers:
        st.markdown("**" + _("Suppliers") + "**\n\n" + "\n".join(party_line(p) for p in entry.suppliers))
    if entry.used_in:
        lines = [
            f"- **{md(u.country)} {md(u.years)}**{' — ' + md(u.note) if u.note else ''} · "
            + source_line(u.source)
            for u in entry.used_in
        ]
        st.markdown("**" + _("Documented use") + "**\n\n" + "\n".join(lines))
    if not (entry.producers or entry.suppliers or entry.used_in):
        st.caption(_("No producers, suppliers or documented use recorded yet."))


def lookalikes(entry: Entry) -> None:
    if not entry.lookalikes:
        return
    st.subheader(_("Look-alikes"), anchor=False)
    names = entry_names()
    for other in entry.lookalikes:
        with st.container(border=True, key=f"lookalike_{other.id}"):
            st.page_link(
                ENTRY_PAGE,
                label=f"**{md(names.get(other.id, other.id))}**",
                icon=":material/arrow_forward:",
                query_params={"id": other.id},
            )
            st.text(_("How to tell them apart:") + " " + other.how_to_tell)


def sheet_download(entry: Entry) -> None:
    """The one-page reference sheet, made by the library only when the button is pressed."""
    engine = get_engine()
    st.download_button(
        _("Download reference sheet (PDF)"),
        data=lambda: export.pdf_bytes(engine, [entry]),
        file_name=f"{entry.id}.pdf",
        mime="application/pdf",
        key="download_sheet",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
    )


entry_id = st.query_params.get("id") or pick_entry()
entry = get_entry(entry_id) if entry_id else None
if entry_id and entry is None:
    st.error(
        _("There is no entry with the id “{id}”. Choose one below or search on the Browse page.").format(
            id=md(entry_id)
        )
    )
    pick_entry()
elif entry is not None:
    header(entry)
    sheet_download(entry)
    hazards(entry)
    left, right = st.columns([3, 2], gap="large")
    with left:
        pictures(entry)
    with right:
        st.subheader(_("Dimensions"), anchor=False)
        dims = [
            dimension_line(label, unit, dim)
            for name, label, unit in DIMENSIONS
            if (dim := getattr(entry.dimensions, name)) is not None
        ]
        st.markdown("\n".join(dims) if dims else _("No dimensions recorded."))
        st.subheader(_("What you can see"), anchor=False)
        features(entry)
    st.subheader(_("Who made it and where it was used"), anchor=False)
    history(entry)
    lookalikes(entry)
    if entry.notes:
        st.subheader(_("Notes"), anchor=False)
        st.text(entry.notes)
    st.subheader(_("Sources"), anchor=False)
    st.markdown("\n".join(f"{i}. {source_line(key)}" for i, key in enumerate(entry.sources, 1)))
