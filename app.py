"""The Streamlit app: `streamlit run app.py` (or `make run`). Pages live in views/."""

import streamlit as st

st.set_page_config(page_title="UXO identification reference", page_icon="⚠️", layout="wide")

pages = [
    st.Page("views/browse.py", title="Browse", icon="🔎", default=True, url_path="browse"),
]
st.navigation(pages).run()
