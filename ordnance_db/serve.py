"""Start the app with warm caches: `python -m ordnance_db.serve run app.py [streamlit options]`.

Plain `streamlit run app.py` imports the pages' modules, opens the database, loads the name index,
reads the vocabulary and makes the thumbnails during the first visitor's script run, so the first
page came seconds after the server said it was ready. This launcher does that work first, in the
server's own process (`st.cache_resource` caches live in the process), and then hands its
arguments to Streamlit's command line unchanged, so `.streamlit/config.toml` and every
`--server.*` / `--browser.*` flag apply exactly as with `python -m streamlit`.

Each step prints one line with its time on stderr. A step that fails is reported in one line and
skipped: the app then meets the same fault on the page and says it in a sentence there (a database
that cannot be reached, for instance), as it does without the launcher.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUIET = (
    "streamlit.runtime.caching.cache_data_api",
    "streamlit.runtime.scriptrunner_utils.script_run_context",
)
"""Streamlit loggers that warn, correctly but needlessly, that the warm-up runs outside a script."""


def _below_error(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


def _step(label: str, action: Callable[[], object]) -> bool:
    """Run one warm-up step, print its time (or its failure) on stderr; True if it worked."""
    started = time.perf_counter()
    try:
        detail = action()
    except Exception as exc:  # the app reports the fault on the page; the server must still start
        print(f"warm-up: {label} failed ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
        return False
    extra = f" ({detail})" if detail else ""
    print(f"warm-up: {label}{extra} {time.perf_counter() - started:.2f} s", file=sys.stderr, flush=True)
    return True


def _imports() -> None:
    # app.py and the Browse page import these; the thumbnail code loads NumPy and Pillow.
    import streamlit  # noqa: F401

    import views.common  # noqa: F401
    from ordnance_db import imaging  # noqa: F401


def _streamlit_once() -> None:
    """What Streamlit does once per process inside the first script run, done here instead."""
    from streamlit import delta_generator, string_util

    string_util.is_emoji("⚠️")  # the page icon: imports streamlit.emojis, one huge regex (0.35 s)
    # The first element of a process checks whether it runs in a REPL by walking inspect.stack()
    # (0.2 s, to print a hint for bare `python app.py`); under this launcher it never does.
    if hasattr(delta_generator, "_use_warning_has_been_displayed"):
        delta_generator._use_warning_has_been_displayed = True


def _database() -> str:
    """The cached engine, searcher, vocabulary, bibliography and guidance every page reads."""
    from views.common import get_guidance, get_searcher, get_sources, get_vocabulary

    get_searcher()
    get_vocabulary()
    get_sources()
    get_guidance()
    return "engine, searcher, vocabulary, sources, guidance"


def _first_page() -> str:
    """The Browse page's first queries: the name index loads and SQLAlchemy compiles its statements."""
    from ordnance_db.search import Query
    from views.common import get_searcher

    searcher = get_searcher()
    query = Query()
    result = searcher.search(query, limit=24)
    searcher.search(Query(text="a"), limit=24)  # loads the name index used by text search
    searcher.facets(query)
    searcher.range_stats(query)
    return f"{result.total} entries"


def _thumbnails() -> str:
    """Every entry's Browse thumbnail made in var/thumbnails (once) and memoised in this process."""
    from ordnance_db.search import Query
    from views.common import BROWSE_THUMB_WIDTH, get_searcher, side_thumbnail

    ids = [hit.id for hit in get_searcher().search(Query(sort="name")).hits]
    made = sum(1 for entry_id in ids if side_thumbnail(entry_id, 2 * BROWSE_THUMB_WIDTH))
    return f"{made} of {len(ids)} entries"


MATCHER_WAIT_S = 60.0
"""How long the launcher waits for a current match index to be read from var/ before serving."""


def _matcher() -> str:
    """The photo matcher's job started here rather than after the first page: reading a current
    index from var/ (about 6 s on a busy 2-core machine) is waited for, so it neither competes with
    the first visitors' pages nor keeps Identify waiting; building one (a minute or more) is not
    waited for, it goes on in the background while the app serves, as before."""
    from views.common import matcher_job

    job = matcher_job()
    job.wait_while_loading(MATCHER_WAIT_S)
    if job.phase == "building":
        return f"index being built in the background, {job.done} of {job.total} entries"
    if job.phase == "failed":
        raise RuntimeError(f"the photo matcher could not be prepared: {job.error}")
    return job.phase


def _translations() -> str:
    """Every language's interface catalogue parsed once (they are cached per process)."""
    from ordnance_db import i18n

    codes = i18n.language_codes()
    for code in codes:
        i18n.translations(code, "app")
    return ", ".join(codes)


def warm_up() -> None:
    """Import the app's modules and fill the caches the first page reads, before Streamlit serves."""
    started = time.perf_counter()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # as Streamlit does for app.py: `views` is the same package
    quiet = [logging.getLogger(name) for name in QUIET]
    for logger in quiet:  # a filter, not a level: Streamlit sets its loggers' levels as it imports
        logger.addFilter(_below_error)
    try:
        if _step("imports", _imports) and _step("database", _database):
            _step("streamlit", _streamlit_once)
            _step("first page", _first_page)
            _step("thumbnails", _thumbnails)
            _step("translations", _translations)
            _step("photo matcher", _matcher)
    finally:
        for logger in quiet:
            logger.removeFilter(_below_error)
    print(f"warm-up: done in {time.perf_counter() - started:.2f} s", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Warm up for `run`, then run Streamlit's command line with the same arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["run"]:
        warm_up()
    from streamlit.web import cli

    sys.argv = ["streamlit", *args]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
