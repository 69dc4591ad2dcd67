"""Shared deployments: PostgreSQL through the CLI, and many threads on one engine and matcher."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from ordnance_db.catalog import load_catalog
from ordnance_db.db import Base, build_database
from ordnance_db.search import Query, Searcher
from tests.conftest import postgres_url


@pytest.mark.postgres
def test_cli_build_and_search_on_postgresql(mini_catalog: Path, run_cli) -> None:
    url = postgres_url()
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    try:
        built = run_cli("build", env={"ORDNANCE_DB_URL": url})
        assert built.returncode == 0, built.stderr
        assert "postgresql" in built.stdout and "***" not in built.stdout.split("(")[0]
        found = run_cli("search", "ШОАБ", "--format", "json", env={"ORDNANCE_DB_URL": url})
        assert found.returncode == 0, found.stderr
        assert '"id": "shoab-0-5"' in found.stdout
        again = run_cli("build", env={"ORDNANCE_DB_URL": url})
        assert "already up to date" in again.stdout
    finally:
        Base.metadata.drop_all(engine)
        engine.dispose()


QUERIES = [
    Query(text="ofab"),
    Query(text="ШОАБ"),
    Query.build(category=["submunition", "hand-grenade"]),
    Query.build(shape="streamlined", length="1400-2000"),
    Query.build("fab", fins=4),
]


def test_many_threads_share_one_searcher(mini_catalog: Path, engine: Engine) -> None:
    """The app serves every session from one cached Searcher and engine (st.cache_resource)."""
    build_database(load_catalog(mini_catalog), engine)
    searcher = Searcher(engine)
    expected = [[h.id for h in searcher.search(q).hits] for q in QUERIES]
    expected_facets = [searcher.facets(q) for q in QUERIES]

    def work(i: int) -> tuple[int, list[str], dict]:
        q = i % len(QUERIES)
        return q, [h.id for h in searcher.search(QUERIES[q]).hits], searcher.facets(QUERIES[q])

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(work, range(160)))
    for q, ids, facets in results:
        assert ids == expected[q]
        assert facets == expected_facets[q]


def test_rebuild_while_reading_never_shows_a_half_built_catalog(mini_catalog: Path, engine: Engine) -> None:
    """A replica searching while `build` runs sees the old catalog or the new one, never a mix."""
    catalog = load_catalog(mini_catalog)
    build_database(catalog, engine)
    searcher = Searcher(engine)

    def read(_: int) -> int:
        return searcher.search(Query()).total

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(read, i) for i in range(60)]
        for _ in range(3):
            build_database(catalog, engine, force=True)
        totals = {f.result() for f in futures}
    assert totals == {len(catalog.entries)}
