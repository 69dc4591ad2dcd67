"""The load test's protocol client (benchmarks/st_client.py) against the real app server.

It stands in for a browser in the load test, so it must see what a browser shows: the elements of
a finished run, widget changes, page links, and uploads through the real upload route.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator

import pytest

from benchmarks.st_client import StreamlitClient, multiselect_value, plain, trigger, user_key
from ordnance_db import db, scenes
from ordnance_db.catalog import load_catalog
from ordnance_db.matcher import load_matcher, match_photo
from ordnance_db.search import Query, Searcher
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR
from tests.serving import AppServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app's URL; database and match index made first, as `make run` does."""
    db.ensure_built(db.get_engine())
    load_matcher(load_catalog(CATALOG_DIR, IMAGES_DIR))
    with AppServer(tmp_path_factory.mktemp("server") / "server.log") as app:
        yield app.url


def test_plain_text_and_keys() -> None:
    assert plain(r"**1. OFAB\-250\-270**") == "1. OFAB-250-270"
    assert plain("http\u2060://x") == "http://x"
    assert user_key("$$ID-0123abcd-card_pfm-1") == "card_pfm-1"
    assert user_key("$$ID-0123abcd-None") == ""
    assert user_key("") == ""


def test_browse_filter_and_entry(server: str) -> None:
    searcher = Searcher(db.get_engine())
    total = searcher.count()
    expected = searcher.search(Query.build(category=["submunition"]), limit=1)

    async def session() -> None:
        async with StreamlitClient(server, timeout=60) as client:
            await client.connect()
            page = client.page
            counts = page.inside(page.one("result_count"))
            assert counts[0].text == f"{total} results"
            assert len(page.with_key_prefix("card_")) == min(total, 24)  # views/browse.py PAGE_SIZE
            assert "Browse" in client.pages and "Identify from a photo" in client.pages

            widget = page.one("filter_category")
            option = next(o for o in widget.proto.options if o.startswith("Submunition ("))
            await client.rerun(widgets=[multiselect_value(widget.id, [option])])
            page = client.page
            assert page.inside(page.one("result_count"))[0].text == f"{expected.total} results"
            cards = page.with_key_prefix("card_")
            assert len(cards) == min(expected.total, 24) and cards[0].key == f"card_{expected.hits[0].id}"
            assert not page.problems()

            link = next(n.proto for n in page.inside(cards[0]) if n.kind == "page_link")
            await client.rerun(page_hash=link.page_script_hash, query_string=link.query_string)
            page = client.page
            assert expected.hits[0].name in [n.text for n in page.of_kind("heading")]
            assert client.query_string == f"id={expected.hits[0].id}"
            assert not page.with_key_prefix("card_")  # the previous page's elements are gone

            await client.rerun(page_hash=client.pages["Browse"])
            page = client.page  # the filter is kept from page to page; Clear filters resets it
            assert page.inside(page.one("result_count"))[0].text == f"{expected.total} results"
            await client.rerun(widgets=[trigger(page.one("clear_filters").id)])
            page = client.page
            assert page.inside(page.one("result_count"))[0].text == f"{total} results"
            pictures = page.media_urls()
            assert pictures and (await client.fetch(pictures[0])).status == 200

    asyncio.run(session())


def test_uploads_reach_the_identify_page(server: str) -> None:
    catalog = load_catalog(CATALOG_DIR, IMAGES_DIR)
    scene = next(scenes.scenes(catalog.entries["ofab-250-270"], catalog.colours(), 1, 3, "heldout"))
    buffer = io.BytesIO()
    scene.image.convert("RGB").save(buffer, "JPEG", quality=90)
    photo = buffer.getvalue()
    result = match_photo(load_matcher(catalog)[0], photo)

    async def session() -> None:
        async with StreamlitClient(server, timeout=120) as client:
            await client.connect("identify")
            page = client.page
            assert "Do not go closer" in page.text(page.one("photo_warning"))
            uploader = page.one("photo_upload")

            state = await client.upload(uploader.id, "photo.jpg", os.urandom(4096), "image/jpeg")
            await client.rerun(widgets=[state])
            errors = client.page.problems(["photo_warning"])["error"]
            assert any("not an image we can read" in e for e in errors)
            assert not client.page.with_key_prefix("suggestion_")

            state = await client.upload(uploader.id, "photo.jpg", photo, "image/jpeg")
            await client.rerun(widgets=[state])
            page = client.page
            assert result.message in page.text(page.one("match_message"))
            for rank, suggestion in enumerate(result.suggestions, 1):
                assert f"{rank}. {suggestion.name}" in page.text(page.one(f"suggestion_{rank}"))
            assert not page.problems(["photo_warning"])

    asyncio.run(session())
