"""Benchmark: how fast the app answers, in a real browser and on the server.

Run: `.venv/bin/python benchmarks/bench_app.py [--repeat N]`. Prints JSON figures; exits 1 if a
target is missed. The catalog database is built first (as `make run` does); the server uses the
project's var/ (database and thumbnails).

- `browse_cold_s`: from the server answering /_stcore/health to the browse page's result count
  showing in Chromium, for the first visitor after start (Streamlit imports the pages then);
  median over `--cold` server starts. Chromium is already running, so its start-up is not
  counted. Target (issue 7): <= 2 s. About 0.9 s of it is Streamlit's own front end: a one-line
  Streamlit app takes that long on the same machine.
- `browse_warm_s`: the same for a later visitor (median of N fresh browser contexts).
- `browse_images_s`: until every card's picture has loaded as well (later visitor, informational).
- `phone_cold_s`: as `browse_cold_s`, on a 390 x 844 phone viewport (issue 16, target <= 2 s),
  to the result count and the search box showing; `phone_thumbnails_s`: from then until every
  thumbnail on screen has loaded (target <= 1 s).
- `filter_rerun_ms`: server-side run time of the browse script after a filter change, measured
  with Streamlit's AppTest (the script run alone: no network, no rendering), median of N
  alternating filter changes. Target: <= 300 ms.
- `filter_roundtrip_ms`: in the browser, from choosing a category (or pressing "Clear filters")
  to the new count showing: network, script run and rendering (informational, median of 2N).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from ordnance_db import db  # noqa: E402
from ordnance_db.search import Query, Searcher  # noqa: E402
from tests.serving import AppServer, chromium_options  # noqa: E402

BROWSE_TARGET_S = 2.0
THUMBNAILS_TARGET_S = 1.0
PHONE = {"width": 390, "height": 844}
FILTER_TARGET_MS = 300.0
CATEGORIES = ("submunition", "rocket", "hand-grenade", "aircraft-bomb")


def count_text(total: int) -> str:
    return f"{total} result{'s' if total != 1 else ''}"


def load_browse(page: Page, url: str, total: int) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.locator(".st-key-result_count").get_by_text(count_text(total)).wait_for()
    return time.perf_counter() - started


def images_loaded(page: Page) -> None:
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=stSkeleton]').length === 0 && "
        "document.querySelectorAll('[class*=st-key-card_] img').length > 0 && "
        "Array.from(document.images).every(i => i.complete)",
        polling=20,
    )


def choose_category(page: Page, label: str, total: int) -> float:
    """Pick one category in the sidebar and time until the new count shows."""
    page.locator(".st-key-filter_category input").click()
    page.keyboard.type(label)
    started = time.perf_counter()
    page.keyboard.press("Enter")
    page.locator(".st-key-result_count").get_by_text(count_text(total)).wait_for()
    elapsed = time.perf_counter() - started
    page.keyboard.press("Escape")
    return elapsed


def clear_filters(page: Page, total: int) -> float:
    """Press "Clear filters" and time until the whole catalog's count shows again."""
    started = time.perf_counter()
    page.locator(".st-key-clear_filters button").click()
    page.locator(".st-key-result_count").get_by_text(count_text(total)).wait_for()
    return time.perf_counter() - started


def filter_rerun_ms(repeat: int) -> list[float]:
    """AppTest runs of the browse script, each after changing the category filter."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    times = []
    for i in range(repeat + 2):
        app.multiselect(key="filter_category").set_value([CATEGORIES[i % len(CATEGORIES)]])
        started = time.perf_counter()
        app.run()
        times.append((time.perf_counter() - started) * 1000)
        assert not app.exception
    return times[2:]  # the first runs warm the caches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per median")
    parser.add_argument("--cold", type=int, default=3, help="server starts for the cold figure (median)")
    args = parser.parse_args()
    repeat = max(args.repeat, 1)

    engine = db.get_engine()
    db.ensure_built(engine)
    searcher = Searcher(engine)
    total = searcher.count()
    labels = {t.id: t.label for t in db.load_vocabulary(engine)["categories"]}
    viewport = {"width": 1400, "height": 1000}

    cold: list[float] = []
    phone: list[float] = []
    thumbs: list[float] = []
    warm: list[float] = []
    with_images: list[float] = []
    roundtrips: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_options())
        try:
            for _ in range(max(args.cold, 1)):
                with AppServer() as server:  # the clock starts when /_stcore/health answers
                    context = browser.new_context(viewport=viewport)
                    cold.append(load_browse(context.new_page(), server.url, total))
                    context.close()
            for _ in range(max(args.cold, 1)):
                with AppServer() as server:
                    context = browser.new_context(viewport=PHONE)
                    page = context.new_page()
                    phone.append(load_browse(page, server.url, total))
                    page.locator(".st-key-text input").wait_for()
                    started = time.perf_counter()
                    images_loaded(page)
                    thumbs.append(time.perf_counter() - started)
                    context.close()

            with AppServer() as server:
                for _ in range(repeat):
                    context = browser.new_context(viewport=viewport)
                    page = context.new_page()
                    started = time.perf_counter()
                    warm.append(load_browse(page, server.url, total))
                    images_loaded(page)
                    with_images.append(time.perf_counter() - started)
                    context.close()

                context = browser.new_context(viewport=viewport)
                page = context.new_page()
                load_browse(page, server.url, total)
                for i in range(repeat + 1):
                    category = CATEGORIES[i % len(CATEGORIES)]
                    expected = searcher.search(Query.build(category=[category])).total
                    roundtrips.append(choose_category(page, labels[category], expected) * 1000)
                    roundtrips.append(clear_filters(page, total) * 1000)
                context.close()
        finally:
            browser.close()

    reruns = filter_rerun_ms(repeat)
    cold_s = statistics.median(cold)
    rerun_ms = statistics.median(reruns)
    figures = {
        "entries": total,
        "browse_cold_s_median": round(cold_s, 2),
        "browse_cold_s_all": [round(c, 2) for c in cold],
        "phone_cold_s_median": round(statistics.median(phone), 2),
        "phone_cold_s_all": [round(c, 2) for c in phone],
        "phone_thumbnails_s_median": round(statistics.median(thumbs), 2),
        "browse_warm_s_median": round(statistics.median(warm), 2),
        "browse_images_s_median": round(statistics.median(with_images), 2),
        "filter_rerun_ms_median": round(rerun_ms, 1),
        "filter_rerun_ms_max": round(max(reruns), 1),
        "filter_roundtrip_ms_median": round(statistics.median(roundtrips[2:]), 1),
        "targets": {
            "browse_cold_s_median": BROWSE_TARGET_S,
            "phone_cold_s_median": BROWSE_TARGET_S,
            "phone_thumbnails_s_median": THUMBNAILS_TARGET_S,
            "filter_rerun_ms_median": FILTER_TARGET_MS,
        },
    }
    print(json.dumps(figures, indent=2))
    missed = []
    if cold_s > BROWSE_TARGET_S:
        missed.append(f"browse page took {cold_s:.2f} s (target {BROWSE_TARGET_S} s)")
    if statistics.median(phone) > BROWSE_TARGET_S:
        missed.append(f"phone page took {statistics.median(phone):.2f} s (target {BROWSE_TARGET_S} s)")
    if statistics.median(thumbs) > THUMBNAILS_TARGET_S:
        missed.append(f"thumbnails took {statistics.median(thumbs):.2f} s (target {THUMBNAILS_TARGET_S} s)")
    if rerun_ms > FILTER_TARGET_MS:
        missed.append(f"filter rerun took {rerun_ms:.0f} ms (target {FILTER_TARGET_MS} ms)")
    for line in missed:
        print(f"MISSED: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
