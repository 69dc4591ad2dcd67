"""Shared pieces for the pages: cached library objects, safe text, the filters, the safety banner and panel.

The pages hold no business logic: whatever they show comes from the library, so the CLI can
produce it too. Catalog text is data, never markup: it reaches the page through `st.text` or,
where it sits inside Markdown, through `md` (every Markdown and Streamlit directive character
escaped). Nothing here uses `unsafe_allow_html`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import streamlit as st
from sqlalchemy.engine import Engine

from ordnance_db import db, i18n
from ordnance_db.catalog import load_catalog
from ordnance_db.schema import Entry, Photo
from ordnance_db.search import (
    MAX_QUERY_CHARS,
    MAX_RANGE_CHARS,
    RANGE_FILTERS,
    SORTS,
    TERM_FILTERS,
    Query,
    Range,
    RangeStats,
    Searcher,
    TermFilter,
)
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR, VAR_DIR

if TYPE_CHECKING:
    from ordnance_db.matcher import PhotoMatcher

DISCLAIMER = i18n.N_("Identification aid only — not for handling.")
THUMBNAIL_SIDE = 360
BROWSE_THUMB_WIDTH = 120
"""On-screen width of a Browse thumbnail (px); the file is twice that for sharp phone screens. Here,
not in views/browse.py, so the launcher (ordnance_db/serve.py) can make them before serving."""
THUMBNAIL_DIR = VAR_DIR / "thumbnails"
ENTRY_PAGE = "views/entry.py"
SAFETY_PAGE = "views/safety.py"

# --- interface language ------------------------------------------------------------------------

LANG_PARAM = "lang"
COUNTRY_PARAM = "country"
LANG_PICKER = "pick_language"
COUNTRY_PICKER = "pick_country"
_CHOSEN = "_chosen_params"
"""Session copy of the language and country from the URL or the pickers: page navigation drops the
query string, and `keep_choices` puts them back so the address always carries them."""


def _chosen() -> dict[str, str]:
    return st.session_state.setdefault(_CHOSEN, {})


def keep_choices() -> None:
    """The URL's ?lang= and ?country= win; when navigation dropped them, the session's choice returns."""
    chosen = _chosen()
    for param in (LANG_PARAM, COUNTRY_PARAM):
        value = st.query_params.get(param)
        if value:
            chosen[param] = value
        elif chosen.get(param):
            st.query_params[param] = chosen[param]


def current_language() -> i18n.Language:
    """The reader's language: `?lang=` in the URL (or the session's choice), else the browser's
    Accept-Language, else English."""
    requested = st.query_params.get(LANG_PARAM) or _chosen().get(LANG_PARAM)
    if requested:
        return i18n.get_language(requested)
    return i18n.get_language(i18n.best_match(st.context.headers.get("Accept-Language")))


def current_country() -> str | None:
    """The reader's country as an upper-case ISO code (`?country=SY`), or None when not chosen."""
    code = str(st.query_params.get(COUNTRY_PARAM) or _chosen().get(COUNTRY_PARAM) or "").strip().upper()
    return code if re.fullmatch(r"[A-Z]{2}", code) else None


def country_name(code: str) -> str:
    """A country's name in the reader's language (CLDR data through Babel), or its code."""
    return i18n.country_name(code, current_language().code)


UNTRANSLATED = i18n.N_(
    "Catalog text is not yet translated: names, descriptions and notes are shown in English."
)


def untranslated_note() -> None:
    """Says, in a language other than English, that the catalog text on the page is still English."""
    if current_language().code != i18n.SOURCE_LANGUAGE:
        with st.container(key="untranslated_note"):
            st.caption(_(UNTRANSLATED))


def _(message: str) -> str:
    """Interface text in the reader's language (gettext domain `app`; English is the message id)."""
    return i18n.translations(current_language().code, "app").gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Text that depends on a count, with the language's own plural forms (Arabic has six)."""
    return i18n.translations(current_language().code, "app").ngettext(singular, plural, n)


def _picked(param: str, key: str) -> None:
    """Picker callback: the choice goes into the session and the address."""
    value = st.session_state.get(key) or ""
    if value:
        _chosen()[param] = value
        st.query_params[param] = value
    else:
        _chosen().pop(param, None)
        st.query_params.pop(param, None)


def report_countries() -> list[str]:
    """Countries offered by the country picker: those with reporting contacts or documented use."""
    guidance = get_guidance() or {}
    codes = {str(c.get("country", "")).upper() for c in guidance.get("contacts", [])}
    codes |= {f.value.upper() for f in get_searcher().facets(Query()).get("used-in", [])}
    return sorted((c for c in codes if re.fullmatch(r"[A-Z]{2}", c)), key=country_name)


RTL_SHELL = (
    "<style>[data-testid=stAppViewContainer]{direction:ltr}"
    "[data-testid=stMain],[data-testid=stSidebarContent],[data-testid=stHeader]{direction:rtl}"
    "[data-testid=stMain] :is(p,li,h1,h2,h3){unicode-bidi:plaintext}</style>"
)
"""Streamlit's shell hides the collapsed sidebar by shifting it left, which a right-to-left page
undoes (it then covers the page on a phone): the shell stays left to right, its contents do not.
Each paragraph takes its direction from its own first letter, so English catalog text such as
"107 mm rocket" keeps its order on an Arabic page."""


def direction_script(lang: i18n.Language) -> str:
    """A script setting the page's `lang` and `dir` (from Babel's locale data, never from user text)."""
    script = (
        f"<script>document.documentElement.lang = {lang.code!r}; "
        f"document.documentElement.dir = {lang.direction!r};</script>"
    )
    return script + (RTL_SHELL if lang.direction == "rtl" else "")


def top_bar() -> None:
    """Language and country pickers at the top of every page (on the page, not in the sidebar a phone
    hides), compact enough for one line of a 390 px phone; the page direction follows the language."""
    lang = current_language()
    country = current_country() or ""
    st.session_state[LANG_PICKER] = lang.code
    st.session_state[COUNTRY_PICKER] = country
    countries = report_countries()
    if country and country not in countries:
        countries.append(country)
    with st.container(key="top_bar", horizontal=True, horizontal_alignment="right", gap="small"):
        st.html(direction_script(lang), unsafe_allow_javascript=True, width="content")
        st.selectbox(
            _("Language"),
            i18n.language_codes(),
            format_func=lambda code: i18n.get_language(code).name,
            key=LANG_PICKER,
            on_change=_picked,
            args=(LANG_PARAM, LANG_PICKER),
            label_visibility="collapsed",
            width=PICKER_WIDTH,
        )
        st.selectbox(
            _("Country"),
            ["", *countries],
            format_func={c: country_name(c) if c else _("Your country?") for c in ["", *countries]}.get,
            key=COUNTRY_PICKER,
            on_change=_picked,
            args=(COUNTRY_PARAM, COUNTRY_PICKER),
            label_visibility="collapsed",
            width=PICKER_WIDTH,
            help=_("Sets the reporting contacts shown on every page."),
        )


PICKER_WIDTH = 150
"""Width of the language and country pickers (px): both and a gap fit a 390 px phone."""


# --- cached library objects --------------------------------------------------------------------


@st.cache_resource(show_spinner="Building the catalog database…")
def get_engine() -> Engine:
    """One engine for all sessions; the database is (re)built first if the catalog changed."""
    engine = db.get_engine()
    db.ensure_built(engine)
    return engine


@st.cache_resource
def get_searcher() -> Searcher:
    """One Searcher per process: it is thread-safe and keeps the name index in memory."""
    return Searcher(get_engine())


# Catalog-wide data is re-read after REFRESH_S, so a `build` run by another process shows up.
REFRESH_S = 300


@st.cache_resource(ttl=REFRESH_S)
def get_vocabulary() -> dict[str, dict[str, db.VocabularyRow]]:
    """Vocabulary field -> term id -> term, for labels and help text."""
    return {field: {t.id: t for t in terms} for field, terms in db.load_vocabulary(get_engine()).items()}


@st.cache_resource(ttl=REFRESH_S)
def get_sources() -> dict[str, dict[str, Any]]:
    """The bibliography, by source key."""
    return db.load_sources(get_engine())


@st.cache_resource(ttl=REFRESH_S)
def get_guidance() -> dict[str, Any] | None:
    """The safety panel, category warnings and reporting contacts, as built from guidance.yaml."""
    return db.read_meta(get_engine(), "guidance")


@st.cache_data(max_entries=512, ttl=REFRESH_S, show_spinner=False)
def get_entry(entry_id: str) -> Entry | None:
    """One entry, or None for an unknown id."""
    return db.load_entry(get_engine(), entry_id)


@st.cache_data(max_entries=512, ttl=REFRESH_S, show_spinner=False)
def get_photos(entry_id: str) -> list[Photo]:
    """An entry's reference photos (images/<id>/photos.yaml), in listed order."""
    return db.load_photos(get_engine(), [entry_id]).get(entry_id, [])


@st.cache_data(ttl=REFRESH_S, show_spinner=False)
def entry_names() -> dict[str, str]:
    """Every entry id -> its designation, by name: for pickers."""
    result = get_searcher().search(Query(sort="name"))
    return {hit.id: hit.name for hit in result.hits}


Progress = Callable[[Iterable[Any], str], Iterable[Any]]


class MatcherJob:
    """The photo matcher, loaded from var/ or built there in a background thread.

    Building the index takes a minute or more; the app serves meanwhile and only the Identify
    page waits. `phase` is "loading" until the build proper starts ("building", with `done` of
    `total` entries), then "ready" or "failed".
    """

    def __init__(self, prepare: Callable[[Progress], PhotoMatcher]) -> None:
        self.phase = "loading"
        self.done = 0
        self.total = 0
        self._result: PhotoMatcher | None = None
        self.error: BaseException | None = None
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(prepare,), name="match-index", daemon=True)
        self._thread.start()

    def _count(self, items: Iterable[Any], _label: str) -> Iterator[Any]:
        """load_matcher's progress callback: called only when the index has to be built."""
        self.phase = "building"
        self.total = len(items) if hasattr(items, "__len__") else 0  # type: ignore[arg-type]

        def counted() -> Iterator[Any]:
            for item in items:
                yield item
                self.done += 1

        return counted()

    def _run(self, prepare: Callable[[Progress], PhotoMatcher]) -> None:
        try:
            self._result = prepare(self._count)
            self.phase = "ready"
        except Exception as exc:  # the Identify page says so in a sentence; the log has the details
            logging.getLogger(__name__).exception("the photo matcher could not be prepared")
            self.error = exc
            self.phase = "failed"
        finally:
            self._finished.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """True once the matcher is ready or failed (waiting at most `timeout_s`)."""
        return self._finished.wait(timeout_s)

    def wait_while_loading(self, timeout_s: float) -> None:
        """Wait while a current index is being read from var/ (seconds), not while one is built."""
        deadline = time.monotonic() + timeout_s
        while self.phase == "loading" and not self.wait(min(0.2, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return

    @property
    def ready(self) -> bool:
        return self._result is not None

    def matcher(self) -> PhotoMatcher:
        """The fitted matcher; call only when `ready`."""
        if self._result is None:
            raise RuntimeError("the photo matcher is not ready yet")
        return self._result


def prepare_matcher(progress: Progress) -> PhotoMatcher:
    """The matcher from var/, built and saved there first if the catalog or code changed."""
    from ordnance_db.matcher import load_matcher  # scikit-learn loads in the job's thread

    matcher, _built = load_matcher(load_catalog(CATALOG_DIR, IMAGES_DIR), progress=progress)
    return matcher


@st.cache_resource(show_spinner=False)
def matcher_job() -> MatcherJob:
    """Started once per process, after the first page any visitor opens (app.py calls this)."""
    return MatcherJob(prepare_matcher)


def get_matcher() -> PhotoMatcher:
    """The fitted matcher; only once `matcher_job().ready` (the Identify page checks)."""
    return matcher_job().matcher()


# --- safe text -----------------------------------------------------------------------------------

# Every ASCII punctuation character CommonMark lets a backslash escape, which covers emphasis,
# links, images, headings, lists, tables, raw HTML (<), maths ($) and Streamlit's :colour[...]
# and :material/...: directives (:).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&\"'=^])")


# Two rewrites act on text after escapes are resolved: Streamlit's :material/icon: shortcodes and
# GFM's bare-URL links. An invisible WORD JOINER breaks their patterns without changing the look.
_AFTER_ESCAPES = re.compile(r"(?i)(:material)(/)|(https?:|ftp:)(//)|\b(www)(\.)")
_JOINER = "\u2060"


def md(text: object) -> str:
    """Catalog text made inert for st.markdown: every Markdown special character escaped."""
    flat = " ".join(str(text).split())  # no line breaks: they would start new Markdown blocks
    flat = _AFTER_ESCAPES.sub(lambda m: _JOINER.join(g for g in m.groups() if g), flat)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def safe_url(url: str) -> str:
    """An http(s) URL for a Markdown link target, with characters that would end the link encoded."""
    if not re.match(r"^https?://", url):
        return ""
    return quote(url, safe=":/?#@!$&'*+,;=%~-._")


def term_label(field: str, value: str) -> str:
    """The vocabulary label of a term (plain text), or the term itself when it has none."""
    term = get_vocabulary().get(field, {}).get(value)
    return _(term.label) if term else value


def source_line(key: str) -> str:
    """One source as Markdown: escaped title as a link, publisher and date."""
    source = get_sources().get(key)
    if source is None:
        return md(key)
    url = safe_url(str(source.get("url", "")))
    title = md(source.get("title", key))
    linked = f"[{title}]({url})" if url else title
    date = source.get("date", "")
    accessed = " (" + _("accessed") + ")" if source.get("accessed") else ""
    return f"{linked} — {md(source.get('publisher', ''))}, {md(date)}{accessed}"


# --- pictures ------------------------------------------------------------------------------------


def entry_picture(entry_id: str, name: str = "side.png") -> Path | None:
    """Path of images/<id>/<name> when it exists."""
    path = IMAGES_DIR / entry_id / name
    return path if path.is_file() else None


PHOTO_TEXT = {
    "heading": i18n.N_("Reference photos"),
    "photo": i18n.N_("Photo"),
    "source": i18n.N_("source"),
    "internal": i18n.N_("internal: this organisation's own library, not for publication"),
    "view": i18n.N_("view"),
}
"""The photo strings of the interface, translated with `_()` where they are shown."""


def photo_caption(photo: Photo) -> str:
    """What a photo shows and its attribution (author, licence, source) as Markdown, for any page
    that shows a reference photo."""
    shown = f"{md(photo.shows)} " if photo.shows else ""
    parts = [f"{_(PHOTO_TEXT['view'])}: {photo.view}"] if photo.view else []
    parts += [photo.condition] if photo.condition else []
    state = f"({md(', '.join(parts))}) " if parts else ""
    if photo.public:
        url = safe_url(photo.source)
        where = f"[{_(PHOTO_TEXT['source'])}]({url})" if url else md(photo.source)
        licence = md(photo.licence)
    else:
        where, licence = md(photo.source), md(_(PHOTO_TEXT["internal"]))
    return f"{shown}{state}— {_(PHOTO_TEXT['photo'])}: {md(photo.author)} · {licence} · {where}"


@st.cache_data(max_entries=2048, show_spinner=False)
def _thumbnail(path: str, mtime_ns: int, size: int) -> str | None:
    # Imported here: NumPy and the image decoders load after the page's first lines are on screen.
    from ordnance_db.imaging import ImageRefused, thumbnail

    try:
        return str(thumbnail(Path(path), size, THUMBNAIL_DIR))
    except ImageRefused:
        return None


def side_thumbnail(entry_id: str, size: int = THUMBNAIL_SIDE) -> str | None:
    """A cached thumbnail of an entry's side view (var/thumbnails), or None without a picture."""
    path = entry_picture(entry_id)
    if path is None:
        return None
    return _thumbnail(str(path), path.stat().st_mtime_ns, size)


# --- safety --------------------------------------------------------------------------------------


def safety_banner() -> None:
    """The warning at the top of every page: the short safety line, and one tap to the full message.

    Drawn in the page itself (never only in the sidebar, which a phone hides), before anything else.
    """
    with st.container(key="safety_banner"):
        st.warning(
            f"**{_(DISCLAIMER)}** " + _("Do not touch or move a suspected item, keep away, and report it."),
            icon=":material/warning:",
        )
        st.page_link(
            SAFETY_PAGE,
            label=_("What to do and who to call"),
            icon=":material/emergency:",
            query_params=_kept_params(),
        )


def _kept_params() -> dict[str, str]:
    """The query parameters a page link carries on (the language, the country), so none is lost."""
    return {k: v for k in KEPT_PARAMS if (v := st.query_params.get(k))}


KEPT_PARAMS = (LANG_PARAM, COUNTRY_PARAM)


def country_contacts(guidance: dict[str, Any], country: str) -> str:
    """Where to report in the reader's country, as Markdown: its official contacts, or the fallback."""
    contacts = [c for c in guidance.get("contacts", []) if str(c.get("country", "")).upper() == country]
    name = md(country_name(country))
    if not contacts:
        return _(
            "No official reporting contact is listed for {country}: call the police or the emergency "
            "services."
        ).format(country=name)
    lines = [
        f"- {md(c['label'])}: **{md(', '.join([*c.get('numbers', []), *c.get('channels', [])]))}**"
        for c in contacts
    ]
    return "**" + _("Report in {country}:").format(country=name) + "**\n" + "\n".join(lines)


def safety_panel() -> None:
    """The fixed safety panel from guidance.yaml, at the end of every page (app.py draws it)."""
    guidance = get_guidance()
    with st.container(key="safety_panel", border=True):
        if not guidance:
            st.warning(_(DISCLAIMER))
            return
        st.markdown(f"**:material/warning: {md(_(guidance['title']))}**")
        st.markdown("\n".join(f"- {md(_(line))}" for line in guidance.get("panel", [])))
        drafted = i18n.unreviewed(current_language().code)
        if any(text in drafted for text in [guidance["title"], *guidance.get("panel", [])]):
            with st.container(key="safety_unreviewed"):
                st.caption(
                    _(
                        "This translation of the safety text is machine-drafted and not yet reviewed by a "
                        "native mine-action speaker; when in doubt, follow local authorities."
                    )
                )
        country = current_country()
        if country:
            with st.container(key="country_contacts"):
                st.markdown(country_contacts(guidance, country))
        st.page_link(
            SAFETY_PAGE,
            label=_("Safety and contacts"),
            icon=":material/front_hand:",
            query_params=_kept_params(),
        )


# --- filters (Browse and Export share them) ------------------------------------------------------

TEXT_KEY = "text"
TOLERANCE_KEY = "tolerance"
SORT_KEY = "sort"
_KEPT = "_kept_filters"


def filter_key(name: str) -> str:
    return f"filter_{name}"


def range_key(name: str) -> str:
    return f"range_{name}"


def filter_defaults() -> dict[str, Any]:
    """Every filter widget's key and its empty value."""
    defaults: dict[str, Any] = {TEXT_KEY: "", TOLERANCE_KEY: 10, SORT_KEY: "relevance"}
    defaults |= {filter_key(f.name): [] for f in TERM_FILTERS}
    defaults |= {range_key(r.name): "" for r in RANGE_FILTERS}
    return defaults


def clear_filters() -> None:
    """Button callback: every filter back to empty."""
    for key, value in filter_defaults().items():
        st.session_state[key] = value
    st.session_state[_KEPT] = {}


def _restore_filters(owner: str) -> None:
    """Carry the filters from page to page.

    Streamlit ties a widget's state to the page that drew it: another page's widget with the
    same key starts empty, and a page without the widget drops its state. So the values are
    kept aside after every run and put back when a different page draws the filters.
    """
    kept = st.session_state.get(_KEPT, {})
    values = kept.get("values", {})
    for key, value in filter_defaults().items():
        if key not in st.session_state or (kept.get("owner") != owner and key in values):
            st.session_state[key] = values.get(key, value)


def _keep_filters(owner: str) -> None:
    values = {k: st.session_state[k] for k in filter_defaults() if k in st.session_state}
    st.session_state[_KEPT] = {"owner": owner, "values": values}


def _sort_label(value: str) -> str:
    labels = {
        "relevance": _("Best match"),
        "name": _("Name"),
        "length": _("Length (smallest first)"),
        "diameter": _("Diameter (smallest first)"),
        "weight": _("Weight (smallest first)"),
    }
    return labels.get(value, value)


def _term_help(f_help: str, terms: dict[str, db.VocabularyRow]) -> str:
    lines = [md(_(f_help))]
    lines += [f"- **{md(_(t.label))}**: {md(_(t.description))}" for t in terms.values()]
    return "\n".join(lines)


_COUNT = re.compile(r"(?: \(\d+\))+$")


def _chosen_terms(name: str, field_terms: dict[str, db.VocabularyRow]) -> list[str]:
    """One filter's chosen values as term ids, put back in the session state.

    The browser sends a multiselect's choices back as their labels, and a label carries its facet
    count ("Aircraft bomb (10)"). Once another filter changes the counts, that label matches no
    option and Streamlit hands it back as plain text, which matched nothing: the page showed 0
    results where `search` gave 1. A label is mapped back to its term here.
    """
    by_label = {term.label: term_id for term_id, term in field_terms.items()}
    raw = list(st.session_state.get(filter_key(name), []))
    chosen: list[str] = []
    for value in raw:
        if value not in field_terms:
            bare = _COUNT.sub("", value)
            value = by_label.get(bare, bare)
        if value not in chosen:
            chosen.append(value)
    if chosen != raw:
        st.session_state[filter_key(name)] = chosen
    return chosen


Width = int | Literal["stretch"]
FIELD_WIDTH = 170
"""Width of one filter box in a wrapping row (px): two fit a line of a 390 px phone, a desktop several."""
MAIN_FILTERS = ("category", "shape", "colour")
"""Drawn on the page itself, under the search box: what anyone can tell by looking. The other filters
sit in the "More filters" expander, closed by default so a phone shows results in the first screen."""


def _term_filter(
    f: TermFilter, field_terms: dict[str, db.VocabularyRow], counts: dict[str, int], width: Width = "stretch"
) -> None:
    """One multiselect of terms, every option labelled with its facet count."""
    chosen = list(st.session_state.get(filter_key(f.name), []))
    if field_terms:
        options = [t for t in field_terms if t in counts or t in chosen]
    else:
        options = sorted(set(counts) | set(chosen), key=lambda v: (len(v), v) if v.isdigit() else (0, v))

    def label(value: str) -> str:
        term = field_terms.get(value)
        return f"{_(term.label) if term else value} ({counts.get(value, 0)})"

    # labels made here, in the page's run and language, so formatting never depends on the caller
    labels = {v: label(v) for v in {*options, *chosen}}

    st.multiselect(
        _(f.label),
        options,
        format_func=lambda value: labels.get(value, value),
        key=filter_key(f.name),
        help=_term_help(f.help, field_terms),
        placeholder=_("Any"),
        width=width,
    )


def _size_filters(stats: dict[str, RangeStats], range_errors: dict[str, str]) -> None:
    st.markdown("**" + _("Size (rough field measurements)") + "**")
    st.slider(
        _("Tolerance (%)"),
        0,
        50,
        key=TOLERANCE_KEY,
        help=_("Sizes measured in the field are rough: each range is widened by this much on each side."),
    )
    with st.container(horizontal=True, key="size_filters"):
        for r in RANGE_FILTERS:
            known = stats[r.name]
            hint = (
                _("known {low}–{high} {unit} ({count} entries)").format(
                    low=f"{known.low:g}", high=f"{known.high:g}", unit=r.unit, count=known.known
                )
                if known.known
                else _("no sizes known")
            )
            with st.container(width=FIELD_WIDTH):
                st.text_input(
                    f"{_(r.label)} ({r.unit})",
                    key=range_key(r.name),
                    max_chars=MAX_RANGE_CHARS,
                    placeholder=_("e.g. 1400-1600 or 1500"),
                    help=_("MIN-MAX, MIN-, -MAX or one number (about this size); {hint}.").format(hint=hint)
                    + " "
                    + _("Entries whose size is unknown drop out."),
                )
                if r.name in range_errors:
                    st.error(md(range_errors[r.name]))


def filter_panel(owner: str) -> Query:
    """The search box and filter widgets (with facet counts) on the page; returns their Query.

    They sit on the page, not in the sidebar, so a phone shows them without opening anything:
    the search box and the main filters first, every other filter in one expander. The same
    widgets, keys and Query drive Browse and Export (`owner` names the page drawing them), and
    mirror the options of the CLI's `search`.
    """
    searcher = get_searcher()
    vocabulary = get_vocabulary()
    _restore_filters(owner)
    text = st.text_input(
        _("Name or marking (any script)"),
        key=TEXT_KEY,
        max_chars=MAX_QUERY_CHARS,
        placeholder=_("e.g. ОФАБ, PFM-1, Grad"),
        help=_("Same search as the command line: any script, typos forgiven."),
        icon=":material/search:",
        type="search",
    )
    tolerance_pct = st.session_state[TOLERANCE_KEY]
    ranges: dict[str, Range] = {}
    range_errors: dict[str, str] = {}
    for r in RANGE_FILTERS:
        raw = str(st.session_state.get(range_key(r.name), "")).strip()
        if raw:
            try:
                ranges[r.name] = Range.parse(raw)
            except ValueError as exc:
                range_errors[r.name] = str(exc)

    terms = {
        f.name: tuple(_chosen_terms(f.name, vocabulary.get(f.vocabulary or "", {}))) for f in TERM_FILTERS
    }
    current = Query(
        text=text,
        terms={k: v for k, v in terms.items() if v},
        ranges=ranges,
        tolerance=tolerance_pct / 100,
        sort=st.session_state[SORT_KEY],
    )
    facets = searcher.facets(current)

    def draw(f: TermFilter, width: Width = "stretch") -> None:
        counts = {facet.value: facet.count for facet in facets.get(f.name, [])}
        _term_filter(f, vocabulary.get(f.vocabulary or "", {}), counts, width)

    main = [f for f in TERM_FILTERS if f.name in MAIN_FILTERS]
    more = [f for f in TERM_FILTERS if f.name not in MAIN_FILTERS]
    with st.container(horizontal=True, key="main_filters", vertical_alignment="bottom"):
        for f in main:
            draw(f, FIELD_WIDTH)
        st.button(_("Clear filters"), key="clear_filters", on_click=clear_filters, icon=":material/close:")
    hidden = sum(1 for f in more if terms[f.name]) + len(ranges) + len(range_errors)
    more_label = _("More filters, size and sort")
    if hidden:
        more_label += " · " + _("{count} set").format(count=hidden)
    with st.expander(more_label, key="more_filters", icon=":material/tune:", expanded=bool(range_errors)):
        with st.container(horizontal=True, key="more_term_filters"):
            for f in more:
                draw(f, FIELD_WIDTH)
        _size_filters(searcher.range_stats(current), range_errors)
        labels = {sort: _sort_label(sort) for sort in SORTS}
        st.selectbox(_("Sort by"), SORTS, format_func=labels.get, key=SORT_KEY, width=FIELD_WIDTH)
    _keep_filters(owner)
    return current
