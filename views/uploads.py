"""Uploaded photos of sessions that have gone are let go.

Why (issue 14, measured with benchmarks/bench_flood.py): Streamlit keeps a disconnected session
for `server.disconnectedSessionTTL` (120 s) so that a browser can reconnect to it, together with
its uploaded files, which it holds in memory. When that time has passed the session is only
dropped from a cache: it is never shut down, so its uploads stay in the upload manager for the
life of the process. After 30 sessions uploaded a 20 MB photo each and left, the server kept
1.6 GB resident for good. A thread of the server shuts expired sessions down as Streamlit does
for a session it closes itself (its uploads and pictures go), lets go of uploads of sessions that
exist nowhere, and hands the freed memory back to the system.

This reaches into Streamlit's runtime (1.67), which has no public hook for it: if a later version
moves those parts, the sweep logs one warning and stops, and nothing else changes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import streamlit as st

from ordnance_db.slots import release_memory

LOG = logging.getLogger(__name__)
SWEEP_S = 5.0
"""How often the server looks for sessions that have gone."""


def sweep(runtime: Any) -> int:
    """Shut down expired disconnected sessions and drop uploads no session owns; returns how many
    sessions' uploads were let go."""
    manager = runtime._session_mgr
    storage = manager._session_storage
    released = 0
    cache = getattr(storage, "_cache", None)
    if cache is not None and hasattr(cache, "expire"):
        # the cache is not thread-safe: held under the lock Streamlit itself takes to store sessions
        with getattr(manager, "_storage_lock", None) or contextlib.nullcontext():
            expired = cache.expire()
        for _session_id, info in expired:  # past the reconnect time: shut down as Streamlit's close
            info.session.shutdown()
            released += 1
    uploads = runtime.uploaded_file_mgr
    files = getattr(uploads, "file_storage", None)
    if isinstance(files, dict):
        live = {info.session.id for info in manager.list_sessions()}
        for session_id in [s for s in list(files) if s not in live]:
            uploads.remove_session_files(session_id)
            released += 1
    if released:
        release_memory()
    return released


def _loop(runtime: Any, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_S):
        try:
            sweep(runtime)
        except RuntimeError:  # a dict changed size under another thread: try again next time
            continue
        except Exception as exc:  # a Streamlit without these parts: say so once, stop sweeping
            LOG.warning("uploads of departed sessions are not released (%s: %s)", type(exc).__name__, exc)
            return


@st.cache_resource(show_spinner=False)
def release_uploads_of_departed_sessions() -> threading.Event:
    """Start the server's sweep once (every page calls this; the first call starts it). Returns an
    event that stops it."""
    from streamlit.runtime import Runtime

    stop = threading.Event()
    if Runtime.exists() and isinstance(Runtime.instance(), Runtime):  # not under AppTest's stand-in
        thread = threading.Thread(
            target=_loop, args=(Runtime.instance(), stop), name="upload-sweep", daemon=True
        )
        thread.start()
    return stop
