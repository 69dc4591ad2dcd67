"""The launcher (`python -m ordnance_db.serve`, what `make run` starts): it warms the caches in the
server's process, then is Streamlit's own command line.

The browser test drives the launcher-served app through the system Chromium at 390 x 844; without
Chromium it is skipped, or fails when CI is set. How fast the page comes is measured by
benchmarks/bench_app.py, not asserted here.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit

from ordnance_db import db
from ordnance_db.search import Searcher
from tests.conftest import chromium
from tests.serving import HOST, LAUNCHER, ROOT, AppServer, free_port, healthy
from views.common import BROWSE_THUMB_WIDTH

PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 60_000


def test_other_commands_pass_through_without_warm_up() -> None:
    """Anything but `run` is Streamlit's command line as it is, and nothing is warmed."""
    done = subprocess.run(
        [*LAUNCHER, "--version"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert streamlit.__version__ in done.stdout
    assert "warm-up" not in done.stderr


def test_a_database_fault_is_one_line_and_the_app_still_serves(tmp_path: Path) -> None:
    """A database that cannot be reached: the warm-up says so in one line (no password), skips the
    rest, and Streamlit serves anyway, so the page can say it in a sentence as it does without it."""
    port = free_port()
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDNANCE_")}
    env["ORDNANCE_DB_URL"] = "postgresql+psycopg://nobody:s3cret@127.0.0.1:1/none"
    args = ["run", "app.py", "--server.port", str(port), "--server.headless", "true"]
    args += ["--server.address", HOST, "--browser.gatherUsageStats", "false"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*LAUNCHER, *args], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while not healthy(f"http://{HOST}:{port}", timeout_s=2):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = log.read_text()
    failed = [line for line in text.splitlines() if line.startswith("warm-up: database failed")]
    assert len(failed) == 1 and "cannot be used" in failed[0], text
    assert "s3cret" not in text and "Traceback" not in text
    assert "warm-up: thumbnails" not in text and "warm-up: done" in text


@pytest.fixture(scope="module")
def total() -> int:
    engine = db.get_engine()
    db.ensure_built(engine)
    return Searcher(engine).count()


@pytest.fixture(scope="module")
def served(total: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with AppServer(tmp_path_factory.mktemp("serve") / "server.log", command=LAUNCHER) as app:
        yield app


@pytest.mark.browser
def test_launcher_served_app_renders_on_a_phone(served: AppServer, total: int) -> None:
    """The page a phone gets from the launcher: title, search box, every result counted, cards with
    their thumbnails, the safety line; and the log shows each warm-up step done before serving."""
    with chromium() as browser:
        page = browser.new_context(viewport=PHONE).new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(served.url)
        page.locator(".st-key-result_count").get_by_text(f"{total} results").wait_for()
        page.locator("[data-testid=stMain] h1").first.wait_for()
        page.locator(".st-key-text input").wait_for()
        page.locator(".st-key-safety_banner").wait_for()
        cards = page.locator("[class*=st-key-card_]")
        cards.first.wait_for()
        page.wait_for_function(
            "(all => all.length > 0 && all.every(i => i.complete && i.naturalWidth > 0))"
            "(Array.from(document.querySelectorAll('[class*=st-key-card_] img')))"
        )
        sizes = page.eval_on_selector_all(
            "[class*=st-key-card_] img", "all => all.map(i => [i.naturalWidth, i.width])"
        )
        assert sizes
        # Shown at the row's thumbnail width; the file is the 2x one, not re-encoded to 1x.
        assert all(0 < shown <= BROWSE_THUMB_WIDTH for _natural, shown in sizes), sizes
        assert any(natural > shown for natural, shown in sizes), sizes
    log = served.log_text()
    lines = [line for line in log.splitlines() if line.startswith("warm-up:")]
    for step in (
        "imports",
        "database",
        "streamlit",
        "first page",
        "thumbnails",
        "translations",
        "photo matcher",
        "done",
    ):
        assert any(line.startswith(f"warm-up: {step}") for line in lines), log
    assert not any("failed" in line for line in lines), log
    assert "Traceback" not in log
