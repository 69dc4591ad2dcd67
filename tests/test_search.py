"""Search and facets against a real SQLite database built from a real catalog folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from ordnance_db.catalog import load_catalog
from ordnance_db.db import build_database, ensure_built, is_current, load_entry
from ordnance_db.search import TERM_FILTERS, Query, Range, Searcher


@pytest.fixture
def searcher(mini_catalog: Path, engine: Engine) -> Searcher:
    build_database(load_catalog(mini_catalog), engine)
    return Searcher(engine)


def ids(searcher: Searcher, query: Query) -> list[str]:
    return [h.id for h in searcher.search(query).hits]


@pytest.mark.parametrize("text", ["ОФАБ-250-270", "OFAB 250-270", "ofab250", "ofab-250-270", "  OfAb_250 "])
def test_designation_in_any_script_and_spelling_finds_it_first(searcher: Searcher, text: str) -> None:
    assert ids(searcher, Query(text=text))[0] == "ofab-250-270"


def test_cyrillic_prefix_finds_the_ball_bomblet(searcher: Searcher) -> None:
    assert ids(searcher, Query(text="ШОАБ"))[0] == "shoab-0-5"


def test_exact_designation_ranks_before_prefix_and_contains(searcher: Searcher) -> None:
    result = searcher.search(Query(text="fab250"))
    assert [h.id for h in result.hits][:2] == ["fab-250", "ofab-250-270"]
    assert result.hits[0].match == "exact"
    assert result.hits[1].match == "contains"


def test_fuzzy_match_finds_a_typo(searcher: Searcher) -> None:
    result = searcher.search(Query(text="ofab-250-207"))
    assert result.hits[0].id == "ofab-250-270"
    assert result.hits[0].match == "fuzzy"


def test_marking_text_is_searchable(searcher: Searcher) -> None:
    hit = searcher.search(Query(text="ОФАБ-250-270")).hits[0]
    assert hit.names == {"ru": "ОФАБ-250-270"}


def test_nothing_matches_gives_empty_result(searcher: Searcher) -> None:
    result = searcher.search(Query(text="zzzzqqq"))
    assert result.total == 0 and result.hits == []


def test_term_filters_and_or_within_a_field(searcher: Searcher) -> None:
    assert ids(searcher, Query.build(category=["submunition"])) == ["shoab-0-5"]
    assert set(ids(searcher, Query.build(category=["submunition", "hand-grenade"]))) == {
        "shoab-0-5",
        "m67-grenade",
    }
    assert ids(searcher, Query.build(shape="spherical", origin="US")) == ["m67-grenade"]
    assert ids(searcher, Query.build(fins=4, fuze="nose-and-tail")) == ["fab-250"]
    assert ids(searcher, Query.build(mechanical=["ring-tail"])) == ["ofab-250-270"]


def test_size_ranges_use_the_tolerance(searcher: Searcher) -> None:
    # ofab 1500 mm, fab 1960 mm (others unknown)
    assert ids(searcher, Query.build(length="1600-2000", tolerance=0.0)) == ["fab-250"]
    assert set(ids(searcher, Query.build(length="1600-2000"))) == {"fab-250", "ofab-250-270"}  # 10 %
    assert set(ids(searcher, Query.build(length="1700", tolerance=0.2))) == {"fab-250", "ofab-250-270"}
    assert ids(searcher, Query.build(length="1700", tolerance=0.0)) == []
    assert ids(searcher, Query.build(weight="-1")) == ["m67-grenade"]


def test_filters_combine_with_text(searcher: Searcher) -> None:
    assert ids(searcher, Query.build("fab250", category="aircraft-bomb", stabilisation="fins")) == ["fab-250"]


def test_sort_by_dimension_puts_unknown_last(searcher: Searcher) -> None:
    assert ids(searcher, Query(sort="length"))[:2] == ["ofab-250-270", "fab-250"]


def test_facet_counts_equal_the_result_count_of_each_value(searcher: Searcher) -> None:
    base = Query.build(shape="streamlined")
    facets = searcher.facets(base)
    assert {f.name for f in TERM_FILTERS} == set(facets)
    for name, items in facets.items():
        assert items, name
        for facet in items:
            terms = {**base.terms, name: (facet.value,)}
            expected = searcher.search(Query(terms=terms)).total
            assert facet.count == expected, (name, facet.value)


def test_range_stats(searcher: Searcher) -> None:
    stats = searcher.range_stats(Query())
    assert (stats["length"].low, stats["length"].high, stats["length"].known) == (1500, 1960, 2)


@pytest.mark.parametrize("text", ["1x-2", "5-1", "", "-"])
def test_bad_ranges_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Range.parse(text)


def test_unknown_filter_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown filter"):
        Query(terms={"flavour": ("x",)})


def test_build_is_idempotent_and_follows_the_catalog(mini_catalog: Path, engine: Engine) -> None:
    assert ensure_built(engine, mini_catalog) is True
    assert ensure_built(engine, mini_catalog) is False
    entry = load_entry(engine, "fab-250")
    assert entry is not None and entry.names["ru"] == "ФАБ-250"
    text = (mini_catalog / "fab-250.yaml").read_text(encoding="utf-8").replace("ФАБ-250", "ФАБ-250М")
    (mini_catalog / "fab-250.yaml").write_text(text, encoding="utf-8")
    assert not is_current(engine, load_catalog(mini_catalog).digest)
    searcher = Searcher(engine)
    assert ensure_built(engine, mini_catalog) is True
    assert ids(searcher, Query(text="ФАБ-250М")) == ["fab-250"]
    assert load_entry(engine, "no-such-id") is None


PARTY_IDS = ["9m79-tochka-cluster", "m77-dpicm", "m26-mlrs", "cbu-58", "ofab-250-270", "pom-3"]


@pytest.fixture
def party_searcher(tmp_path: Path, engine: Engine) -> Searcher:
    """Real entries with producers, suppliers and documented use."""
    from tests.conftest import write_real_subset

    build_database(load_catalog(write_real_subset(tmp_path / "real", PARTY_IDS)), engine)
    return Searcher(engine)


def test_made_in_supplied_by_and_used_in_filter_real_entries(party_searcher: Searcher) -> None:
    assert ids(party_searcher, Query.build(**{"supplied-by": ["RU"]})) == ["9m79-tochka-cluster"]
    assert set(ids(party_searcher, Query.build(**{"made-in": ["US"]}))) == {"cbu-58", "m26-mlrs", "m77-dpicm"}
    assert set(ids(party_searcher, Query.build(**{"made-in": ["RU"]}))) == {"pom-3"}
    used_in_syria = set(ids(party_searcher, Query.build(**{"used-in": ["SY"]})))
    assert {"ofab-250-270", "9m79-tochka-cluster"} <= used_in_syria
    assert "m77-dpicm" not in used_in_syria
    facets = party_searcher.facets(Query())
    assert {f.value: f.count for f in facets["made-in"]}["US"] == 3
    assert {f.value: f.count for f in facets["supplied-by"]}["RU"] == 1


def test_cli_supplied_by_option(tmp_path: Path, run_cli) -> None:
    from tests.conftest import write_real_subset

    catalog = write_real_subset(tmp_path / "real", PARTY_IDS)
    result = run_cli("search", "--supplied-by", "RU", "--format", "json", catalog=catalog)
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in json.loads(result.stdout)] == ["9m79-tochka-cluster"]
    facets = run_cli("facets", "--used-in", "LB", "--format", "csv", catalog=catalog)
    assert facets.returncode == 0 and "made-in,US," in facets.stdout


NAME_IDS = [
    "fab-250-m54-m62",
    "fab-500-m54-m62",
    "ofab-250-270",
    "ofab-100-120",
    "kab-500-series",
    "9m79-tochka-cluster",
    "9m22u-grad",
    "iskander-m-cluster-submunition",
    "mk-84",
    "mk-82",
]


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("فاب", {"fab-250-m54-m62", "fab-500-m54-m62"}),
        ("فاب-500", {"fab-500-m54-m62"}),
        ("أوفاب", {"ofab-250-270", "ofab-100-120"}),
        ("توشكا", {"9m79-tochka-cluster"}),
        ("جراد", {"9m22u-grad"}),
        ("مارك 84", {"mk-84"}),
        ("Іскандер", {"iskander-m-cluster-submunition"}),
        ("Искандер-М", {"iskander-m-cluster-submunition"}),
    ],
)
def test_arabic_and_cyrillic_names_find_real_entries_first(
    tmp_path: Path, engine: Engine, text: str, first: set[str]
) -> None:
    from tests.conftest import write_real_subset

    build_database(load_catalog(write_real_subset(tmp_path / "real", NAME_IDS)), engine)
    found = ids(Searcher(engine), Query(text=text))
    assert set(found[: len(first)]) == first, found


CATALOG_A_NAMES = {
    "ptm-3": ["PTM-3", "ptm3", "ПТМ-3", "لغم بي تي إم-3"],
    "odab-1500": ["ODAB-1500", "ОДАБ-1500", "أوداب-1500", "odab 1500"],
    "tm-57": ["TM-57", "ТМ-57", "لغم تي إم-57", "tm57"],
    "s-8-rocket": ["S-8KOM", "С-8", "صاروخ إس-8", "s8kom"],
    "spg-9-73mm-rounds": ["PG-9", "ОГ-9", "قذيفة إس بي جي-9", "og9"],
    "kh-59": ["Kh-59", "Х-59", "Овод", "kh59"],
    "gbu-31-jdam": ["GBU-31", "JDAM", "جدام", "gbu31"],
    "umpb-d-30sn": ["UMPB D-30SN", "УМПБ Д-30СН", "УМПБ", "umpb"],
    "tm-46": ["TM-46", "ТМ-46", "لغم تي إم-46", "tm46"],
    "m15-at-mine": ["M15 mine", "لغم إم 15 أمريكي", "m-15"],
    "mk-7-at-mine": ["Mk 7 mine", "لغم مارك 7 بريطاني", "mk7"],
    "s-5-rocket": ["S-5M", "С-5", "صاروخ إس-5", "s5m"],
    "gerbera-decoy-drone": ["Gerbera", "Гербера", "дрон-обманка", "herbera"],
}
"""Issue 18 (catalog-a): each new entry by its Latin, Cyrillic and Arabic names and a loose spelling."""


def test_new_entry_names_find_them_first_in_the_whole_catalog(tmp_path: Path) -> None:
    """On the real, complete catalog (SQLite): every name of each new entry ranks that entry first."""
    from sqlalchemy import create_engine

    from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR

    engine = create_engine(f"sqlite:///{tmp_path / 'all.sqlite'}")
    build_database(load_catalog(CATALOG_DIR, IMAGES_DIR), engine)
    searcher = Searcher(engine)
    misses = {
        (entry_id, text, tuple(found[:3]))
        for entry_id, names in CATALOG_A_NAMES.items()
        for text in names
        if (found := ids(searcher, Query(text=text)))[:1] != [entry_id]
    }
    engine.dispose()
    assert not misses, sorted(misses)


def test_a_search_text_beyond_the_limit_is_refused_with_a_sentence(searcher: Searcher) -> None:
    """A 1 MB search string cost 10 s of server time (issue 14); now it is refused before any work."""
    from ordnance_db.search import MAX_QUERY_CHARS

    assert searcher.search(Query(text="ofab " * (MAX_QUERY_CHARS // 5))).total >= 0  # at the limit: fine
    for call in (lambda: Query(text="a" * 2**20), lambda: Query.build("a" * 2**20)):
        with pytest.raises(ValueError) as refused:
            call()
        assert str(refused.value) == "The search text is too long: 1048576 characters; the limit is 200."
    with pytest.raises(ValueError, match="too long"):
        searcher.resolve("ofab" * 1000)


@pytest.mark.parametrize("text", [" " * 1000 + "x", "1" * 41, "1500" + " " * 2000])
def test_long_or_pathological_ranges_are_refused_at_once(text: str) -> None:
    """The old pattern backtracked cubically: 1000 spaces and an 'x' took 26 minutes."""
    with pytest.raises(ValueError):
        Range.parse(text)


def test_cli_refuses_a_huge_search_text_and_infinite_crop(tmp_path: Path, run_cli) -> None:
    from tests.conftest import write_real_subset

    catalog = write_real_subset(tmp_path / "real", PARTY_IDS)
    for args in (("search", "x" * 5000), ("show", "x" * 5000)):
        result = run_cli(*args, catalog=catalog)
        assert result.returncode == 1, result.stderr
        assert "The search text is too long: 5000 characters; the limit is 200." in result.stderr
        assert "Traceback" not in result.stderr
    for crop in ("inf,0,10,10", "nan,0,10,10", "1e999,0,1,1"):
        result = run_cli("match", "photo.jpg", "--crop", crop, catalog=catalog)
        assert result.returncode == 1, result.stderr
        assert f"--crop takes x0,y0,x1,y1 in pixels, not '{crop}'" in result.stderr
        assert "Traceback" not in result.stderr
