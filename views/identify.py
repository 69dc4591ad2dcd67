"""Identify: suggestions for a photo, each explained and labelled tentative; the photo stays in memory.

The upload is read with `uploaded.getvalue()` and handed to the library as bytes: it is never
written to disk, and `imaging.load_image` drops its metadata (GPS position included) on decoding.
"""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st
from PIL import Image, ImageDraw

from ordnance_db.i18n import N_
from ordnance_db.imaging import ANALYSIS_SIDE, ImageRefused, load_image
from ordnance_db.matcher import MatchRefused, MatchResult, Suggestion, match_photo
from ordnance_db.search import Query
from ordnance_db.slots import PHOTO_WORK, ServerBusy
from views.common import (
    ENTRY_PAGE,
    MatcherJob,
    _,
    entry_picture,
    get_matcher,
    get_photos,
    get_searcher,
    get_vocabulary,
    matcher_job,
    md,
    ngettext,
    photo_caption,
    side_thumbnail,
    term_label,
)
from views.key import identify_by_questions
from views.uploads import release_uploads_of_departed_sessions

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif", "gif"]
CROP_KEYS = ("crop_x0", "crop_y0", "crop_x1", "crop_y1")
REASONS = {
    "shape": N_("shape"),
    "colour": N_("colour"),
    "texture": N_("texture"),
    "size": N_("size fit"),
    "photo": N_("photo similarity"),
}
ONLY_FITTING = "hint_only_fitting"
_CACHE = "_match_cache"
LOAD_WAIT_S = 20.0
"""How long the page waits for a current index to load from var/ before saying it is getting ready."""
REFRESH_S = 3.0
PHOTO_SCORES = "key_photo_scores"
"""The current photo's suggestion scores, which the questions path combines with its answers."""
SOURCES = {"upload": N_("Upload a photo"), "camera": N_("Take a photo now")}
HOW = {"photo": N_("From a photo"), "questions": N_("By questions (no photo needed)")}


def hints() -> tuple[set[str] | None, float | None]:
    """Optional hints: category and colour become a Query (the Searcher gives the allowed ids)."""
    vocabulary = get_vocabulary()
    with st.expander(_("Hints (optional): what you can tell from where you stand"), expanded=False):
        categories = st.multiselect(
            _("Category"),
            list(vocabulary.get("categories", {})),
            format_func={t: _(term.label) for t, term in vocabulary.get("categories", {}).items()}.get,
            key="hint_category",
            placeholder=_("Any"),
        )
        colours = st.multiselect(
            _("Colours"),
            list(vocabulary.get("colours", {})),
            format_func={t: _(term.label) for t, term in vocabulary.get("colours", {}).items()}.get,
            key="hint_colour",
            placeholder=_("Any"),
        )
        stabilisation = st.multiselect(
            _("Fins, tail or other stabilisation you can see"),
            list(vocabulary.get("stabilisation", {})),
            format_func=lambda t: _(vocabulary["stabilisation"][t].label),
            key="hint_stabilisation",
            placeholder=_("Any"),
        )
        length = st.number_input(
            _("Approximate length (mm, 0 if unknown)"),
            min_value=0,
            max_value=20000,
            step=10,
            key="hint_length",
        )
        st.checkbox(
            _("Only show entries that fit these hints"),
            key=ONLY_FITTING,
            help=_("Otherwise entries that do not fit are ranked lower, and never first."),
        )
        st.caption(
            _(
                "To estimate a length, compare the item with something of known size next to it or at "
                "the same distance: a standard A4 sheet is 297 mm long, a 1.5 L bottle about 330 mm, a "
                "bank card 86 mm. Only compare from where you stand; never go closer or put anything "
                "next to the item."
            )
        )
    allowed = None
    if categories or colours or stabilisation:
        query = Query.build(category=categories, colour=colours, stabilisation=stabilisation)
        allowed = {hit.id for hit in get_searcher().search(query).hits}
    return allowed, float(length) if length else None


def photo() -> bytes | None:
    """The photo's bytes, from an upload or the camera (asked for only when chosen)."""
    source = st.segmented_control(
        _("Photo from"),
        list(SOURCES),
        format_func={s: _(label) for s, label in SOURCES.items()}.get,
        default="upload",
        key="photo_source",
    )
    if source == "camera":
        shot = st.camera_input(_("Take the photo from where you are standing"), key="photo_camera")
        return shot.getvalue() if shot is not None else None
    uploaded = st.file_uploader(
        _("Photo of the item (JPEG, PNG, WebP, HEIC or GIF)"),
        type=PHOTO_TYPES,
        key="photo_upload",
        help=_("The photo is analysed in memory and never stored. Location and other metadata are dropped."),
    )
    return uploaded.getvalue() if uploaded is not None else None


def match(data: bytes, digest: str, crop: tuple[int, int, int, int] | None, **options: Any) -> MatchResult:
    """match_photo, remembered for the session's current photo so reruns stay fast."""
    allowed = options["allowed"]
    key = (
        digest,
        crop,
        None if allowed is None else tuple(sorted(allowed)),
        options["length_mm"],
        options.get("only_fitting", False),
    )
    cache: dict[Any, MatchResult] = st.session_state.setdefault(_CACHE, {})
    if key not in cache:
        if len(cache) > 8 or any(k[0] != digest for k in cache):
            cache.clear()
        cache[key] = match_photo(get_matcher(), data, crop=crop, **options)
    return cache[key]


def crop_box(detected: tuple[int, int, int, int], size: tuple[int, int], digest: str) -> tuple[int, ...]:
    """Four number inputs, set to the detected box for each new photo."""
    if st.session_state.get("_crop_for") != digest:
        for key, value in zip(CROP_KEYS, detected, strict=True):
            st.session_state[key] = int(value)
        st.session_state["_crop_for"] = digest
    width, height = size
    limits = (width, height, width, height)
    labels = (_("Left"), _("Top"), _("Right"), _("Bottom"))
    for row in (0, 2):
        columns = st.columns(2)
        for column, i in zip(columns, (row, row + 1), strict=True):
            with column:
                st.number_input(
                    _("{side} (px)").format(side=labels[i]),
                    min_value=0,
                    max_value=int(limits[i]),
                    step=5,
                    key=CROP_KEYS[i],
                )

    def reset() -> None:
        for key, value in zip(CROP_KEYS, detected, strict=True):
            st.session_state[key] = int(value)

    st.button(_("Reset to the detected box"), key="crop_reset", on_click=reset, icon=":material/crop_free:")
    return tuple(int(st.session_state[k]) for k in CROP_KEYS)


def reason_text(name: str, value: float) -> str:
    """One reason in words: a similarity for shape, colour, texture and size; yes/no for the hints."""
    if name == "hints":
        return _("fits your hints") if value >= 0.5 else _("does not fit your hints")
    return f"{_(REASONS.get(name, name))} {value:.0%}"


def compared_text(suggestion: Suggestion) -> str:
    """What the suggestion was compared with, in the reader's language."""
    if suggestion.compared_with == "drawing":
        return _("Compared with the drawing only")
    return ngettext("Compared with {count} photo", "Compared with {count} photos", suggestion.photos).format(
        count=suggestion.photos
    )


def tentative_text(result: MatchResult) -> str:
    """The result's headline: confident only on a threshold measured on real photos, else why not."""
    if result.confident:
        return _("Possible match found. This is a suggestion only: treat the item as dangerous.")
    if result.tentative_because == "unmeasured":
        return _(
            "No confident match: no similarity threshold has been measured on real photos yet, "
            "so every suggestion is tentative. Treat the item as dangerous."
        )
    if result.tentative_because == "below":
        return _(
            "No confident match: the closest reference photo is below the threshold measured on "
            "real photos. The suggestions are tentative: treat the item as dangerous."
        )
    return _(
        "No confident match: the suggestions rest on drawings only, never on photos of the "
        "item. They are tentative: treat the item as dangerous."
    )


def reference_picture(suggestion: Suggestion) -> None:
    """The reference photo that matched best, with its attribution; else the catalog drawing.
    Only a file the entry's photo list names is shown: the index in var/ is data, not a path."""
    rows = get_photos(suggestion.id) if suggestion.best_photo else []
    row = next((p for p in rows if p.file == suggestion.best_photo), None)
    path = entry_picture(suggestion.id, row.file) if row is not None else None
    if row is not None and path is not None:
        st.image(str(path), caption=_("Best-matching reference photo"), width="stretch")
        st.caption(photo_caption(row))
        return
    thumb = side_thumbnail(suggestion.id)
    if thumb:
        st.image(thumb, caption=_("Catalog side view"), width="stretch")


def suggestion_card(rank: int, suggestion: Suggestion, crop: Image.Image) -> None:
    with st.container(border=True, key=f"suggestion_{rank}"):
        mine, theirs, about = st.columns([1, 2, 3], vertical_alignment="center")
        with mine:
            st.image(crop, caption=_("Your photo"))
        with theirs:
            reference_picture(suggestion)
        with about:
            st.markdown(f"**{rank}. {md(suggestion.name)}**")
            if suggestion.tentative:
                st.badge(_("Tentative"), color="orange", icon=":material/help:")
            else:
                st.badge(_("Closest match, still unconfirmed"), color="blue", icon=":material/info:")
            st.markdown(compared_text(suggestion))
            st.markdown(_("Score **{score}**").format(score=f"{suggestion.score:.0%}"))
            reasons = [reason_text(name, value) for name, value in suggestion.reasons.items()]
            st.caption(_("Why:") + " " + " · ".join(reasons))
            st.page_link(
                ENTRY_PAGE,
                label=_("Open entry"),
                icon=":material/arrow_forward:",
                query_params={"id": suggestion.id},
            )


def busy(exc: ServerBusy) -> None:
    """The server's photo slots stayed full: say so; the photo and hints stay for another try."""
    with st.container(key="server_busy"):
        st.warning(_(str(exc)), icon=":material/hourglass_top:")
        st.button(_("Try again"), key="busy_retry", icon=":material/refresh:")


def results(data: bytes, allowed: set[str] | None, length_mm: float | None) -> None:
    digest = hashlib.sha256(data).hexdigest()
    hinted = {
        "allowed": allowed,
        "length_mm": length_mm,
        "only_fitting": st.session_state.get(ONLY_FITTING, False),
    }
    try:
        with PHOTO_WORK.hold():  # a few decodes and matches per server at once (issue 14)
            image = load_image(data, max_side=ANALYSIS_SIDE)
            first = match(data, digest, None, **hinted)
    except ServerBusy as exc:
        busy(exc)
        return
    except (ImageRefused, MatchRefused) as exc:
        st.error(_(str(exc)), icon=":material/block:")  # translated where the catalogue has it
        return
    picture, controls = st.columns([3, 2], gap="large")
    with controls:
        st.subheader(_("Where is the item?"), anchor=False)
        st.caption(
            _(
                "The box shows what was analysed. If it missed the item, move its edges "
                "(in pixels of the picture)."
            )
        )
        crop = crop_box(first.box, first.size, digest)
    result = first
    x0, y0, x1, y1 = crop
    if crop != tuple(first.box):
        if x1 - x0 < 8 or y1 - y0 < 8:
            with controls:
                st.error(_("The box is empty: Right must be larger than Left, and Bottom larger than Top."))
            return
        try:
            with PHOTO_WORK.hold():
                result = match(data, digest, (x0, y0, x1, y1), **hinted)
        except ServerBusy as exc:
            busy(exc)
            return
        except MatchRefused as exc:
            st.error(_(str(exc)), icon=":material/block:")  # translated where the catalogue has it
            return
    framed = image.convert("RGB")
    ImageDraw.Draw(framed).rectangle(result.box, outline=(255, 0, 160), width=3)
    with picture:
        st.image(framed, caption=_("Your photo with the analysed box"), width="stretch")

    st.subheader(_("Suggestions"), anchor=False)
    with st.container(key="match_message"):
        if result.confident:
            st.info(tentative_text(result), icon=":material/info:")
        else:
            st.warning(tentative_text(result), icon=":material/warning:")
    if result.category is not None:
        label = term_label("categories", result.category)
        with st.container(key="match_category"):
            st.info(
                _(
                    "Most suggestions are of one category: {category}. "
                    "The category is more certain than the type."
                ).format(category=md(label)),
                icon=":material/category:",
            )
    st.session_state[PHOTO_SCORES] = {s.id: s.score for s in result.suggestions}
    cropped = image.convert("RGB").crop(result.box)
    cropped.thumbnail((180, 140))
    for rank, suggestion in enumerate(result.suggestions, 1):
        suggestion_card(rank, suggestion, cropped)


def getting_ready(job: MatcherJob) -> bool:
    """True when the matcher is ready; otherwise say so (the page re-checks by itself)."""
    job.wait_while_loading(LOAD_WAIT_S)  # a current index on disk loads in seconds; a build takes longer
    if job.ready:
        return True
    if job.error is not None:
        with st.container(key="matcher_status"):
            st.error(
                _(
                    "The photo matcher could not be prepared, so photo identification is not available. "
                    "The other pages work. Ask whoever runs this service to check its log."
                ),
                icon=":material/error:",
            )
        return False

    @st.fragment(run_every=REFRESH_S)
    def status() -> None:
        if job.ready or job.error is not None:
            st.rerun(scope="app")
        progress = (
            " " + _("({done} of {total} entries)").format(done=job.done, total=job.total) if job.total else ""
        )
        with st.container(key="matcher_status"):
            st.info(
                _(
                    "The photo matcher is getting ready: its index is built once after an update, "
                    "which takes about a minute{progress}. This page will continue by itself; "
                    "the other pages work meanwhile."
                ).format(progress=progress),
                icon=":material/hourglass_top:",
            )

    status()
    return False


release_uploads_of_departed_sessions()  # uploads of sessions that left are let go (issue 14)
st.title(_("Identify from a photo"))
with st.container(key="photo_warning"):
    st.error(
        _(
            "**Do not go closer to take a photo.** A photo from where you are standing is enough. "
            "Never touch, move or uncover the item to get a better picture."
        ),
        icon=":material/front_hand:",
    )
how = st.segmented_control(
    _("How to identify"),
    list(HOW),
    format_func={how: _(label) for how, label in HOW.items()}.get,
    default="photo",
    key="identify_how",
    label_visibility="collapsed",
)
if how == "questions":
    identify_by_questions(st.session_state.get(PHOTO_SCORES))
elif getting_ready(matcher_job()):  # not st.stop(): app.py still draws the safety panel after the page
    data = photo()
    allowed, length_mm = hints()
    if data is not None:
        results(data, allowed, length_mm)
    else:
        st.session_state.pop(PHOTO_SCORES, None)
        st.caption(
            _(
                "The photo is analysed in memory and never stored. Suggestions compare its shape, colour "
                "and texture with drawings of every catalog entry; they are never proof of what an item is."
            )
        )
