"""The Streamlit app: `streamlit run app.py` (or `make run`). Pages live in views/, one file each.

This file only builds the navigation and what every page shares: the warning banner on top and
the safety panel at the end of the sidebar. Icons are Material Symbols, which Streamlit serves
itself: emoji would depend on the reader's system fonts.
"""

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from ordnance_db import db
from views.common import ENTRY_PAGE, _, keep_choices, matcher_job, safety_banner, safety_panel, top_bar

st.set_page_config(page_title=_("UXO identification reference"), page_icon="⚠️", layout="wide")
keep_choices()  # ?lang= and ?country= before any text: page titles are in the reader's language

browse = st.Page("views/browse.py", title=_("Browse"), icon=":material/search:", default=True)
pages = [
    browse,
    st.Page(
        "views/identify.py",
        title=_("Identify from a photo"),
        icon=":material/photo_camera:",
        url_path="identify",
    ),
    st.Page(ENTRY_PAGE, title=_("Entry"), icon=":material/description:", url_path="entry"),
    st.Page("views/export.py", title=_("Export"), icon=":material/download:", url_path="export"),
    st.Page("views/safety.py", title=_("Safety"), icon=":material/emergency:", url_path="safety"),
    st.Page("views/about.py", title=_("About"), icon=":material/info:", url_path="about"),
]
page = st.navigation(pages, position="top")
# A deep link to the app's root, `/?id=<entry>`, opens that entry, like `/entry?id=<entry>`.
entry_id = st.query_params.get("id")
if page.url_path == browse.url_path and entry_id:
    st.switch_page(ENTRY_PAGE, query_params={"id": entry_id})
try:
    top_bar()
    safety_banner()
    page.run()
    safety_panel()
except (db.DatabaseFault, SQLAlchemyError) as exc:  # one sentence, never a traceback; retried next run
    st.error(db.fault_message(exc, db.database_url()))
    st.stop()
matcher_job()  # the photo-match index loads or builds in a background thread from the first visit
