"""The app in a real browser: `streamlit run app.py` driven through the system Chromium by Playwright.

What AppTest cannot see: the page renders, uploads and downloads work end to end, and the page
makes no request outside localhost (no fonts, images or scripts from elsewhere). Screenshots go
to a temporary folder, or to the README's docs/screenshots/ with `make screenshots` (which sets
ORDNANCE_SCREENSHOTS_DIR): `make test` never modifies tracked files. Without Chromium the tests
are skipped, or fail when CI is set.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from PIL import ExifTags, Image

from ordnance_db import db, i18n, scenes
from ordnance_db.catalog import Catalog, load_catalog
from ordnance_db.key import Key
from ordnance_db.matcher import PhotoMatcher, load_matcher, match_photo
from ordnance_db.search import Query, Searcher
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR
from tests.conftest import chromium
from tests.serving import AppServer
from views.common import TEXT_KEY

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(
    os.environ.get("ORDNANCE_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="ordnance-screenshots-")
)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about"}
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG_DIR, IMAGES_DIR)


@pytest.fixture(scope="module")
def searcher() -> Searcher:
    engine = db.get_engine()
    db.ensure_built(engine)
    return Searcher(engine)


@pytest.fixture(scope="module")
def matcher(catalog: Catalog) -> PhotoMatcher:
    """The photo matcher; its index is built here (once) if var/ has no current one."""
    return load_matcher(catalog)[0]


@pytest.fixture(scope="module")
def app_server(
    matcher: PhotoMatcher, searcher: Searcher, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    """The running app, its output in a log. The database and the match index are made first, as
    `make run` does."""
    with AppServer(tmp_path_factory.mktemp("server") / "server.log") as app:
        yield app


@pytest.fixture(scope="module")
def server(app_server: AppServer) -> str:
    """The app's URL."""
    return app_server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    """A fresh page; after the test, every request it made must have stayed on this machine."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    yield page
    context.close()
    outside = [u for u in requests if not is_local(u)]
    assert requests and not outside, outside


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname in LOCAL_HOSTS


def photo_file(catalog: Catalog, entry_id: str, folder: Path) -> Path:
    scene = next(scenes.scenes(catalog.entries[entry_id], catalog.colours(), 1, 3, "heldout"))
    buffer = io.BytesIO()
    scene.image.convert("RGB").save(buffer, "JPEG", quality=90)
    path = folder / f"{entry_id}.jpg"
    path.write_bytes(buffer.getvalue())
    return path


def count_text(total: int) -> str:
    return f"{total} result{'s' if total != 1 else ''}"


def settle(page: Page) -> None:
    """Wait until Streamlit has finished the script run and the images on screen have loaded."""
    page.wait_for_selector("[data-testid=stStatusWidget]", state="detached", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=stSkeleton]').length === 0 && "
        "Array.from(document.images).every(i => i.complete)",
        timeout=TIMEOUT_MS,
        polling=200,
    )
    page.wait_for_timeout(300)


def shoot(page: Page, name: str, height: int | None = None) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if height:
        page.set_viewport_size({"width": 1400, "height": height})
        settle(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_browse_filter_changes_the_count(page: Page, server: str, searcher: Searcher) -> None:
    page.goto(server)
    count = page.locator(".st-key-result_count")
    count.get_by_text(count_text(searcher.count())).wait_for()
    settle(page)
    shoot(page, "browse")

    expected = searcher.search(Query.build(category=["submunition"])).total
    category = page.locator(".st-key-filter_category")
    category.locator("input").click()
    page.keyboard.type("Submunition")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    count.get_by_text(count_text(expected)).wait_for()
    settle(page)  # the count is drawn first; the old run's cards stay until the run ends
    assert page.locator("[class*='st-key-card_']").count() == expected

    page.locator(".st-key-clear_filters button").click()
    count.get_by_text(count_text(searcher.count())).wait_for()


def test_card_opens_the_entry_and_its_sheet_downloads(page: Page, server: str) -> None:
    page.goto(server)
    # The catalog is longer than one page of cards: find the entry as a user would, by its name.
    page.locator(f".st-key-{TEXT_KEY} input").fill("ОФАБ-250-270")
    page.keyboard.press("Enter")
    page.locator(".st-key-card_ofab-250-270").get_by_text("Open entry").click()
    page.get_by_role("heading", name="OFAB-250-270").wait_for()
    assert "entry?id=ofab-250-270" in page.url
    settle(page)
    shoot(page, "entry", height=1500)
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.locator(".st-key-download_sheet button").click()
    download = info.value
    assert download.suggested_filename == "ofab-250-270.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")


def test_deep_link_to_the_root_opens_the_entry(page: Page, server: str) -> None:
    page.goto(f"{server}/?id=pfm-1")
    page.get_by_role("heading", name="PFM-1").wait_for()
    page.locator(".st-key-hazards").wait_for()


def test_identify_a_photo(
    page: Page, server: str, catalog: Catalog, matcher: PhotoMatcher, tmp_path: Path
) -> None:
    photo = photo_file(catalog, "ofab-250-270", tmp_path)
    expected = match_photo(matcher, photo.read_bytes())
    page.goto(f"{server}/identify")
    page.locator(".st-key-photo_warning").get_by_text("Do not go closer").wait_for()
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(photo))
    page.locator(".st-key-match_message").get_by_text(expected.message).wait_for()
    last = len(expected.suggestions)
    page.locator(f".st-key-suggestion_{last}").get_by_text(expected.suggestions[-1].name).wait_for()
    assert page.locator("[class*='st-key-suggestion_']").count() == last
    first = page.locator(".st-key-suggestion_1")
    assert first.get_by_text(f"1. {expected.suggestions[0].name}").is_visible()
    assert first.get_by_text("Tentative").is_visible() == expected.suggestions[0].tentative
    settle(page)
    shoot(page, "identify", height=1800)


def test_hostile_upload_shows_a_sentence(page: Page, server: str, tmp_path: Path) -> None:
    hostile = tmp_path / "photo.jpg"
    hostile.write_bytes(os.urandom(4096))
    page.goto(f"{server}/identify")
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(hostile))
    page.get_by_text("This file is not an image we can read").wait_for()
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.locator("[class*='st-key-suggestion_']").count() == 0


def test_export_downloads_the_selection(page: Page, server: str, searcher: Searcher) -> None:
    expected = searcher.search(Query.build(category=["hand-grenade"], sort="name"))
    page.goto(f"{server}/export")
    page.locator(".st-key-filter_category input").click()
    page.keyboard.type("Hand grenade")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.locator(".st-key-export_selection").get_by_text(f"{expected.total} entries").wait_for()
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.locator(".st-key-download_csv button").click()
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["id"] for r in rows) == sorted(h.id for h in expected.hits)


@pytest.mark.parametrize("path", ["/safety", "/about", "/entry"])
def test_other_pages_render(page: Page, server: str, path: str) -> None:
    page.goto(f"{server}{path}")
    page.locator(".st-key-safety_panel").wait_for()
    settle(page)
    assert page.locator("[data-testid=stException]").count() == 0


def test_server_log_holds_no_photo_name_content_or_location(
    page: Page, app_server: AppServer, catalog: Catalog, tmp_path: Path
) -> None:
    """Privacy: what a volunteer uploads (its name, where it was taken, its bytes) never reaches the
    server's log, for a photo that matches and for one that is refused."""
    scene = next(scenes.scenes(catalog.entries["ofab-250-270"], catalog.colours(), 1, 7, "heldout"))
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (50.0, 27.0, 17.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (30.0, 31.0, 23.0)
    photo = tmp_path / "home-of-volunteer-anna.jpg"
    scene.image.convert("RGB").save(photo, "JPEG", exif=exif.tobytes(), comment=b"SECRET-NOTE-7f3a")
    refused = tmp_path / "private-name-9c2e.jpg"
    refused.write_bytes(b"SECRET-BYTES-41d8" * 300)

    page.goto(f"{app_server.url}/identify")
    upload = page.locator("[data-testid=stFileUploaderDropzoneInput]")
    upload.set_input_files(str(photo))
    page.locator(".st-key-suggestion_1").wait_for()
    upload.set_input_files(str(refused))
    page.get_by_text("This file is not an image we can read").wait_for()
    settle(page)

    log = app_server.log_text()
    assert "Local URL" in log or "You can now view" in log  # the log is really this server's
    for secret in (
        "home-of-volunteer",
        "private-name",
        "SECRET-NOTE",
        "SECRET-BYTES",
        "50.0",
        "27.0, 17.0",
        "GPS",
        str(tmp_path),
        "Traceback",
    ):
        assert secret not in log, secret


def test_identify_by_questions_on_a_phone(page: Page, server: str, searcher: Searcher) -> None:
    """A PMN described one answer at a time at 390 x 844: picture answers, Back, Start again."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server}/identify")
    page.get_by_text("By questions").click()
    key = Key.from_database(db.get_engine())
    pmn = key.ids.index("pmn")
    answers: dict[str, str] = {}
    pictured = False
    for _ in range(4):
        question = key.step(answers).question
        assert question is not None
        page.get_by_role("heading", name=question.text).wait_for()
        settle(page)
        if question.pictured:
            pictures = page.locator(".st-key-key_options img")
            assert pictures.count() >= 2
            pictured = True
            page.get_by_role("heading", name=question.text).scroll_into_view_if_needed()
            shoot(page, "identify-questions-phone")
        option = question.options[int(key.truth[question.field][pmn].argmax())]
        answer = page.locator(f".st-key-key_answer_{question.field}_{option.value}")
        answer.get_by_role("button", name=option.label).click()
        answers[question.field] = option.value
    assert pictured, "no picture question was asked in four questions"
    page.locator(".st-key-key_candidate_1").get_by_text("PMN", exact=False).wait_for()
    settle(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator(".st-key-safety_banner").is_visible()
    page.locator(".st-key-key_back button").click()
    last = list(answers)[-1]
    page.get_by_role("heading", name=key.question(last).text).wait_for()
    page.locator(".st-key-key_restart button").click()
    first = key.step({}).question
    assert first is not None
    page.get_by_role("heading", name=first.text).wait_for()


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1400, 1000)], ids=["phone", "desktop"])
def test_browse_phone_first(page: Page, server: str, searcher: Searcher, width: int, height: int) -> None:
    """At phone and desktop size: the search box and the safety message show without opening
    anything, nothing scrolls sideways, a filter on the page counts what `search` counts, and
    Previous/Next page through the results."""
    page.set_viewport_size({"width": width, "height": height})
    page.goto(server)
    count = page.locator(".st-key-result_count")
    count.get_by_text(count_text(searcher.count())).wait_for()
    settle(page)
    assert page.locator(f".st-key-{TEXT_KEY} input").is_visible()
    assert page.locator(".st-key-safety_banner").get_by_text("Do not touch or move").is_visible()
    assert page.locator(".st-key-safety_banner a").is_visible()  # one tap to the full message
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    if width < 500:
        shoot(page, "browse-phone")

    pager = page.locator(".st-key-pager")
    pages = -(-searcher.count() // 24)
    page.locator(".st-key-page_next button").click()
    pager.get_by_text(f"Page 2 of {pages}").wait_for()
    first = searcher.search(Query(), limit=1, offset=24).hits[0]
    page.locator(f".st-key-card_{first.id}").wait_for()
    page.locator(".st-key-page_previous button").click()
    pager.get_by_text(f"Page 1 of {pages}").wait_for()

    expected = searcher.search(Query.build(category=["rocket"])).total
    page.locator(".st-key-filter_category input").click()
    page.keyboard.type("Rocket")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    count.get_by_text(count_text(expected)).wait_for()
    settle(page)
    assert page.locator("[class*='st-key-card_']").count() == min(expected, 24)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_safety_page_in_one_tap_on_a_phone(page: Page, server: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server}/export")
    page.locator(".st-key-safety_banner a").click()
    page.locator(".st-key-safety_full").wait_for()
    assert "/safety" in page.url
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


NAVIGATION = ("Browse", "Identify from a photo", "Entry", "Export", "Safety", "About")


@pytest.mark.parametrize("code", i18n.language_codes())
@pytest.mark.parametrize(("width", "height"), [(390, 844), (1400, 1000)], ids=["phone", "desktop"])
def test_every_shipped_language_on_phone_and_desktop(
    page: Page, server: str, searcher: Searcher, code: str, width: int, height: int
) -> None:
    """In each shipped language (?lang=, with a country): the page's title, navigation and safety
    line in that language, `dir` and `lang` on the page, the search box and the safety message
    shown without opening anything, and nothing scrolls sideways."""
    t = i18n.translations(code, "app")
    language = i18n.get_language(code)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{server}/?lang={code}&country=UA")
    page.locator("h1").filter(has_text=t.gettext("Browse the catalog")).wait_for()
    page.locator(".st-key-result_count").wait_for()
    settle(page)
    assert page.evaluate("[document.documentElement.dir, document.documentElement.lang]") == [
        language.direction,
        code,
    ]
    assert page.title() == t.gettext("UXO identification reference")
    links = page.locator("[data-testid=stTopNavLink], [data-testid=stSidebarNavLink]").all_inner_texts()
    for title in NAVIGATION:
        assert any(t.gettext(title) in link for link in links), (title, links)
    if width > 1000:  # on a phone the navigation sits behind the menu button
        assert page.locator("[data-testid=stTopNavLink]").first.is_visible()
    assert page.locator(f".st-key-{TEXT_KEY} input").is_visible()
    banner = page.locator(".st-key-safety_banner")
    line = t.gettext("Do not touch or move a suspected item, keep away, and report it.")
    assert banner.get_by_text(line[:20]).is_visible()
    assert banner.locator("a").is_visible()  # one tap to the full safety message
    assert page.locator(".st-key-top_bar").is_visible()  # the pickers, on the page itself
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shoot(page, f"browse-{code}-{'phone' if width < 500 else 'desktop'}")
