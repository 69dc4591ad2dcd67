"""Identify by questions: one question at a time with picture answers, and the current top candidates.

Called from the Identify page. Everything shown comes from `ordnance_db.key` (the `key` command
prints the same). The answers live in the session in the order given, so "Back" undoes the last.
"""

from __future__ import annotations

import streamlit as st

from ordnance_db.i18n import N_
from ordnance_db.key import NOT_SURE, AnswerError, Candidate, Key, Question
from ordnance_db.key_pictures import answer_picture
from views.common import ENTRY_PAGE, REFRESH_S, _, get_engine, md, side_thumbnail

ANSWERS = "key_answers"
TOP = 5
NOT_SURE_LABEL = N_("Not sure")


@st.cache_resource(ttl=REFRESH_S, show_spinner=False)
def get_key() -> Key:
    """One key per process over the database's entries, re-read with the other catalog-wide data."""
    return Key.from_database(get_engine())


def _answer(field: str, value: str) -> None:
    st.session_state.setdefault(ANSWERS, []).append((field, value))


def _back() -> None:
    answers = st.session_state.get(ANSWERS, [])
    if answers:
        answers.pop()


def _start_again() -> None:
    st.session_state[ANSWERS] = []


def _ask(question: Question, counts: dict[str, int], key: Key) -> None:
    st.subheader(_(question.text), anchor=False)
    with st.container(horizontal=True, gap="small", key="key_options"):
        for option in question.options:
            with st.container(border=True, width=170, key=f"key_option_{question.field}_{option.value}"):
                picture = answer_picture(key, question.field, option.value) if question.pictured else None
                if picture:
                    st.image(str(picture), width="stretch")
                likely = counts.get(option.value, 0)
                st.button(
                    _(option.label),
                    key=f"key_answer_{question.field}_{option.value}",
                    on_click=_answer,
                    args=(question.field, option.value),
                    help=_("{count} of the likely entries").format(count=likely),
                    width="stretch",
                )
        st.button(
            _(NOT_SURE_LABEL),
            key=f"key_answer_{question.field}_{NOT_SURE}",
            on_click=_answer,
            args=(question.field, NOT_SURE),
            icon=":material/help:",
        )


def _candidates(candidates: list[Candidate], combined: bool) -> None:
    st.subheader(_("Most likely so far"), anchor=False)
    fits = (
        _("Scores are how well each entry fits your answers and your photo's suggestions.")
        if combined
        else _("Scores are how well each entry fits your answers.")
    )
    st.caption(
        fits
        + " "
        + _("A wrong answer lowers an entry, it never removes it. They are suggestions, never proof.")
    )
    for rank, candidate in enumerate(candidates, 1):
        with st.container(border=True, key=f"key_candidate_{rank}"):
            st.markdown(f"**{rank}. {md(candidate.name)}** · {candidate.score:.0%}")
            thumb = side_thumbnail(candidate.id)
            if thumb:
                st.image(thumb, caption=_("Catalog side view"), width="stretch")
            st.page_link(
                ENTRY_PAGE,
                label=_("Open entry"),
                icon=":material/arrow_forward:",
                query_params={"id": candidate.id},
            )


def identify_by_questions(photo_scores: dict[str, float] | None = None) -> None:
    """The whole path: progress, Back and Start again, the question, the top candidates."""
    key = get_key()
    answers: list[tuple[str, str]] = st.session_state.setdefault(ANSWERS, [])
    prior = key.prior(photo_scores) if photo_scores else None
    try:
        step = key.step(dict(answers), prior, top=TOP)
    except AnswerError:  # the catalog changed under the session: its answers no longer apply
        answers.clear()
        step = key.step({}, prior, top=TOP)
    if photo_scores:
        st.info(_("Your photo's suggestions are combined with your answers."), icon=":material/photo_camera:")
    with st.container(horizontal=True, gap="small", key="key_controls"):
        st.button(_("Back"), key="key_back", on_click=_back, disabled=not answers, icon=":material/undo:")
        st.button(
            _("Start again"),
            key="key_restart",
            on_click=_start_again,
            disabled=not answers,
            icon=":material/restart_alt:",
        )
    if answers:
        st.caption(_("Your answers:") + " " + " · ".join(md(_label(key, f, v)) for f, v in answers))
    if step.question is not None:
        st.caption(
            _("Question {number}. Answer only what you can see from where you stand.").format(
                number=len(answers) + 1
            )
        )
        _ask(step.question, step.counts, key)
    else:
        st.info(
            _(
                "No further question would tell the likely entries apart. Compare the candidates below with "
                "what you see, from where you stand."
            ),
            icon=":material/checklist:",
        )
    _candidates(step.candidates, bool(photo_scores))


def _label(key: Key, field: str, value: str) -> str:
    if value == NOT_SURE:
        return _(NOT_SURE_LABEL)
    return next(_(o.label) for o in key.question(field).options if o.value == value)
